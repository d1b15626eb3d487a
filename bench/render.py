"""CPU render throughput at 1080p (edit mode, AU12 +2, Poisson, no restoration) against the
plain decode -> ProRes 4444 transcode of the same frames, measured side by side in one run.

    .venv/bin/python bench/render.py             # 48 frames
    .venv/bin/python bench/render.py --quick     # 16 frames
    .venv/bin/python bench/render.py --profile   # + cProfile of the render loop (top functions)

The plate is d0.mp4 (shared media) upscaled to 1080 lines and pillarboxed (edges extended) to
1920x1080, encoded as high-quality H.264; without the shared media, the NASA astronaut portrait
(scikit-image) is used the same way. Analysis and AU extraction run first (not timed). Timed:
(a) decode, (b) decode -> ProRes 4444, (c) decode -> render -> ProRes 4444 (the Renderer loop,
what a render job does per frame), (d) the full product path `render_shot` (job, watermark,
sidecars) to ProRes 4444. The target is (c)/(b) >= 0.8.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

SHARED_D0 = REPO.parent / "shared" / "media" / "clips" / "d0.mp4"


def make_plate_1080(path: Path, frames: int) -> tuple[Path, str]:
    """A 1920x1080 H.264 plate (crf 10) from d0 upscaled, or from the astronaut still."""
    import av
    import cv2

    src_frames: list[np.ndarray] = []
    fps: Fraction = Fraction(25)
    if SHARED_D0.exists():
        from core.media.reader import open_media

        with open_media(SHARED_D0) as r:
            fps = Fraction(r.info.fps)
            for _, f in r.frames(0, min(frames, r.info.frame_count), rgb8=True):
                src_frames.append(f)
        label = f"d0.mp4 upscaled ({len(src_frames)} frames)"
    else:
        from skimage import data

        src_frames = [data.astronaut()] * frames
        label = "astronaut (skimage) upscaled"
    while len(src_frames) < frames:  # ping-pong a short clip
        src_frames += src_frames[::-1][: frames - len(src_frames)]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps, options={"crf": "10", "preset": "veryfast"})
        s.width, s.height, s.pix_fmt = 1920, 1080, "yuv420p"
        for i, f in enumerate(src_frames[:frames]):
            h, w = f.shape[:2]
            k = 1080 / h
            up = cv2.resize(f, (int(round(w * k)), 1080), interpolation=cv2.INTER_CUBIC)
            left = (1920 - up.shape[1]) // 2
            img = cv2.copyMakeBorder(up, 0, 0, left, 1920 - up.shape[1] - left, cv2.BORDER_REPLICATE)
            vf = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(
                format="yuv420p", src_colorspace="ITU709", dst_colorspace="ITU709")
            vf.pts = i
            vf.time_base = 1 / fps
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path, label


def build_project(plate: Path, workdir: Path, frames: int, edit: float) -> Path:
    """A project with one shot, analysed, curves extracted, an additive AU12 +edit layer."""
    from core.analysis.analyzer import Analyzer
    from core.curves import Interp, Key, Layer
    from core.project import Plate, Project, extract_curves

    proj_path = workdir / "bench.facsimile"
    project = Project.create(proj_path, name="bench")
    p = project.add_plate(Plate.from_media(plate))
    shot = project.new_shot(p.id, 0, frames - 1, name="bench")
    shot.analysis = Analyzer().analyze(str(plate), frames=(0, frames))
    shot.curves = extract_curves(shot)
    cs = shot.curves[int(shot.analysis.track_ids[0])]
    layer = Layer("Bench", mode="additive")
    layer.curve("AU12", create=True).set_keys([Key(0, edit, interp=Interp.LINEAR),
                                               Key(frames - 1, edit, interp=Interp.LINEAR)])
    cs.layers.append(layer)
    shot.render_settings = {"mode": "edit", "blend": "poisson", "restore": "off", "output": "comp"}
    project.save()
    return proj_path


def render_loop(proj_path: Path, out: Path, frames: int, profile: bool) -> tuple[float, float, dict, str]:
    """decode -> render -> ProRes 4444 through ShotRenderContext; (wall s, cpu s, stage ms, profile text)."""
    from core.media.writers import open_writer
    from core.render.job import ShotRenderContext

    ctx = ShotRenderContext(proj_path, None)
    prof = cProfile.Profile() if profile else None
    stages = {"decode": 0.0, "render": 0.0, "write": 0.0}
    try:
        with open_writer(out, width=ctx.width, height=ctx.height, fps=ctx.fps, codec="prores4444") as w:
            t0, c0 = time.perf_counter(), time.process_time()
            if prof:
                prof.enable()
            for i, plate in ctx.reader.frames(0, frames):
                t1 = time.perf_counter()
                base, edited = ctx.values_at(i)
                result = ctx.renderer.render(plate, ctx.landmarks_at(i), base, edited)
                t2 = time.perf_counter()
                w.write(result.image)
                t3 = time.perf_counter()
                stages["render"] += t2 - t1
                stages["write"] += t3 - t2
            if prof:
                prof.disable()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        ctx.close()
    stages["decode"] = wall - stages["render"] - stages["write"]
    text = ""
    if prof:
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.sort_stats("tottime").print_stats(18)
        st.sort_stats("cumulative").print_stats(r"core/render|core/facs|core/media", 22)
        text = buf.getvalue()
    return wall, cpu, {k: 1000 * v / frames for k, v in stages.items()}, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 frames, skip the render_shot job")
    parser.add_argument("--frames", type=int, default=None, help="frames (default 48, 16 with --quick)")
    parser.add_argument("--edit", type=float, default=2.0, help="AU12 additive edit (default +2)")
    parser.add_argument("--profile", action="store_true", help="cProfile the render loop")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    frames = args.frames or (16 if args.quick else 48)
    from bench.io import measure_transcode

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plate, label = make_plate_1080(tmp / "plate1080.mp4", frames)
        t = time.perf_counter()
        proj = build_project(plate, tmp, frames, args.edit)
        prep = time.perf_counter() - t
        io_rates = measure_transcode(plate, frames, workdir=tmp)
        wall, cpu, stages, prof_text = render_loop(proj, tmp / "render.mov", frames, args.profile)
        job_fps = None
        if not args.quick:
            from core.render.delivery import render_shot

            t = time.perf_counter()
            render_shot(str(proj), str(tmp / "job.mov"), frames=(0, frames - 1), chunk=frames)
            job_fps = frames / (time.perf_counter() - t)
        io_again = measure_transcode(plate, frames, workdir=tmp)  # brackets the render: load drift shows
    render_fps = frames / wall
    prores_fps = (io_rates["prores_fps"] + io_again["prores_fps"]) / 2
    res = {
        "plate": label, "size": "1920x1080", "frames": frames, "edit": f"AU12 {args.edit:+g} (additive layer)",
        "settings": "edit mode, Poisson (normal gradients), Reinhard off (edit), restoration off",
        "analysis_and_extraction_s": round(prep, 2),
        "decode_fps": round(io_rates["decode_fps"], 2), "prores_fps": round(prores_fps, 2),
        "prores_fps_before_after": [round(io_rates["prores_fps"], 2), round(io_again["prores_fps"], 2)],
        "render_fps": round(render_fps, 2), "render_cpu_ms_per_frame": round(1000 * cpu / frames, 1),
        "render_vs_prores": round(render_fps / prores_fps, 3),
        "stage_ms_per_frame": {k: round(v, 1) for k, v in stages.items()},
        "render_shot_job_fps": None if job_fps is None else round(job_fps, 2),
        "render_shot_vs_prores": None if job_fps is None else round(job_fps / prores_fps, 3),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 1),
    }
    print(f"plate: {label}, 1920x1080, {frames} frames; analysis + AU extraction {prep:.1f} s (not timed below)")
    print(f"(a) decode                        {res['decode_fps']:8.2f} fps")
    print(f"(b) decode -> ProRes 4444          {res['prores_fps']:8.2f} fps  (before/after: "
          f"{res['prores_fps_before_after'][0]:.2f} / {res['prores_fps_before_after'][1]:.2f})")
    print(f"(c) decode -> render -> ProRes     {res['render_fps']:8.2f} fps  per frame: "
          + ", ".join(f"{k} {v:.0f} ms" for k, v in res["stage_ms_per_frame"].items()))
    if job_fps is not None:
        print(f"(d) render_shot job (product path) {job_fps:8.2f} fps  (d)/(b) = {res['render_shot_vs_prores']:.2f}")
    verdict = "meets" if res["render_vs_prores"] >= 0.8 else "BELOW"
    print(f"(c)/(b) = {res['render_vs_prores']:.2f}  ({verdict} the 0.8 target)")
    print(f"({res['cpus']} CPUs, load average {res['load_average']}: other work on the machine slows every rate)")
    if prof_text:
        print(prof_text)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
