"""Face analysis speed: frames per second of `Analyzer.analyze`, decode included, single face.

    .venv/bin/python bench/analysis.py [--quick] [--threads N]

Measures, in one run and side by side:
- 512x512 clips (shared d0.mp4, d3.mp4) with the default tracker;
- the same d3 with the detector forced on every frame (detect_every=1), the naive pipeline;
- the same d3 without the optical-flow landmark refinement (refine=False): what it costs;
- the same d3 without the appearance check of closing eyes (eye_state=False): what it costs,
  and that check timed alone on the same frames (the side-by-side difference is noisy here);
- a 1080p clip made here by upscaling d3 to 1080 lines (pillarboxed to 1920x1080, H.264 via PyAV);
then prints fps and the ratios. Targets (2 CPU cores): >= 60 fps at 512x512, >= 30 fps at 1080p.
Needs ../shared/media (see MEDIA.md); exits 0 with a note when it is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("FACSIMILE_SHARED_MEDIA", REPO.parent / "shared" / "media"))


def make_1080p(src: Path, dst: Path, max_frames: int) -> int:
    """Upscale src to 1080 lines, pillarbox to 1920x1080, encode H.264 yuv420p; returns frames."""
    import av
    import cv2
    import numpy as np

    from core.media.reader import open_media

    n = 0
    with open_media(src) as r, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=r.info.fps)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        canvas = np.zeros((1080, 1920, 3), np.uint8)
        for _, rgb in r.frames(0, min(max_frames, r.info.frame_count), rgb8=True):
            h, w = rgb.shape[:2]
            nw = round(w * 1080 / h)
            big = cv2.resize(rgb, (nw, 1080), interpolation=cv2.INTER_CUBIC)
            x0 = (1920 - nw) // 2
            canvas[:, x0:x0 + nw] = big
            for pkt in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(pkt)
            n += 1
        for pkt in stream.encode():
            out.mux(pkt)
    return n


def run(analyzer, path: Path, frames: int | None) -> tuple[float, dict]:
    t0 = time.perf_counter()
    rng = None if frames is None else (0, frames)
    a = analyzer.analyze(path, frames=rng)
    dt = time.perf_counter() - t0
    return a.n_frames / dt, {"frames": a.n_frames, "tracks": a.n_tracks, "detector_runs": a.meta["detections_run"],
                             "embeddings": a.meta["embeddings"], "present": int(a.present.sum())}


def eye_check_ms(analyzer, path: Path, frames: int | None) -> tuple[float, float]:
    """The open-eye check alone (core.analysis.eyestate.EyeStateSampler, grayscale included) over
    a clip's frames, on the landmarks of an analysis of it: (ms a frame, fraction of eyes checked)."""
    import numpy as np

    from core.analysis.eyestate import EyeStateSampler, FrameGray
    from core.media.reader import open_media

    rng = None if frames is None else (0, frames)
    a = analyzer.analyze(path, frames=rng)
    sampler, spent, checked = EyeStateSampler(), 0.0, 0
    with open_media(path) as r:
        for t, (_i, rgb) in enumerate(r.frames(0, a.n_frames, rgb8=True)):
            if not a.present[t, 0]:
                continue
            t0 = time.perf_counter()
            ev = sampler(FrameGray(rgb), a.landmarks[t, 0])
            spent += time.perf_counter() - t0
            checked += int(np.isfinite(ev).sum())
    return 1e3 * spent / a.n_frames, checked / (2 * a.n_frames)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames (about 15 s)")
    ap.add_argument("--threads", type=int, default=0, help="cv2/OMP threads (0 = library default)")
    args = ap.parse_args()
    if args.threads:
        import cv2

        cv2.setNumThreads(args.threads)
    d0, d3 = SHARED / "clips" / "d0.mp4", SHARED / "clips" / "d3.mp4"
    if not d3.exists():
        print(f"note: shared media not found at {SHARED}; nothing to measure")
        return 0
    import skimage.data

    from core.analysis.analyzer import Analyzer

    an = Analyzer()
    an.analyze_image(skimage.data.astronaut())  # load the graphs before timing
    n = 120 if args.quick else None
    print(f"cpu cores visible: {os.cpu_count()}  (shared machine: other jobs may be running)")
    results = {}
    if not args.quick:
        results["d0 512x512"] = run(an, d0, None)
    results["d3 512x512"] = run(an, d3, n)
    results["d3 512x512 detect every frame"] = run(Analyzer(detect_every=1), d3, n)
    results["d3 512x512 no flow refinement"] = run(Analyzer(refine=False), d3, n)
    results["d3 512x512 no eye check"] = run(Analyzer(eye_state=False), d3, n)
    eye_ms, eye_frac = eye_check_ms(Analyzer(refine=False, eye_state=False), d3, n)
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "d3_1080p.mp4"
        t0 = time.perf_counter()
        nb = make_1080p(d3, big, 90 if args.quick else 240)
        print(f"made {big.name}: {nb} frames 1920x1080 in {time.perf_counter() - t0:.1f} s (not timed below)")
        results["d3 upscaled 1920x1080"] = run(an, big, None)
        from core.media.reader import open_media

        t0 = time.perf_counter()
        with open_media(big) as r:
            for _ in r.frames(0, None, rgb8=True):
                pass
        results["(decode only) 1920x1080"] = (nb / (time.perf_counter() - t0), {})
    from core.media.reader import open_media

    t0 = time.perf_counter()
    with open_media(d0):
        pass
    print(f"(open_media fixed cost on d0.mp4, included above: {time.perf_counter() - t0:.2f} s)")
    for k, (fps, info) in results.items():
        print(f"{k:36s} {fps:7.1f} fps  {info}")
    base = results["d3 512x512"][0]
    print(f"tracking vs detect-every-frame speed-up: {base / results['d3 512x512 detect every frame'][0]:.2f}x")
    print(f"flow refinement costs {1e3 / base - 1e3 / results['d3 512x512 no flow refinement'][0]:.1f} ms a frame "
          f"({results['d3 512x512 no flow refinement'][0] / base:.2f}x slower with it)")
    print(f"eye check costs {1e3 / base - 1e3 / results['d3 512x512 no eye check'][0]:.1f} ms a frame "
          f"({results['d3 512x512 no eye check'][0] / base:.2f}x slower with it); timed alone "
          f"{eye_ms:.1f} ms a frame, {100 * eye_frac:.0f} % of eyes checked")
    print(f"512x512 target 60 fps: {'met' if base >= 60 else 'NOT met'} ({base:.1f});  "
          f"1080p target 30 fps: {'met' if results['d3 upscaled 1920x1080'][0] >= 30 else 'NOT met'} "
          f"({results['d3 upscaled 1920x1080'][0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
