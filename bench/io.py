"""I/O throughput: plain decode vs decode -> ProRes 4444 vs decode -> EXR (PIZ).

It also times the conversion every analysed or rendered frame of a deep plate goes through,
`core.media.reader.to_rgb8` (16-bit and float 4K frames), against the plain numpy formula it
replaced, side by side; and the EXR writer's preparation of a premultiplied 4K RGBA frame
(unpremultiply -> colour transform -> premultiply into half) against the numpy formula.

    .venv/bin/python bench/io.py            # generated 1080p H.264 clip + the shared clips
    .venv/bin/python bench/io.py --quick    # fewer frames, one shared clip

The decode -> deliverable rate is the bound that render benchmarks compare against: a render
can never export faster than a plain transcode. Other benches call `measure_transcode()`.
All three rates are measured side by side in the same run on the same frames.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

SHARED_CLIPS = REPO.parent / "shared" / "media" / "clips"


def make_test_clip(path: Path, frames: int = 48, width: int = 1920, height: int = 1080,
                   fps: Fraction = Fraction(24000, 1001)) -> Path:
    """A 1080p H.264 clip with moving detail (gradients + noise), made with PyAV."""
    import av

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 12, (height, width, 1), dtype=np.uint8)  # mild grain, like a real plate
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "veryfast"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.concatenate([np.broadcast_to((x + i * 5) % 256, (height, width, 1)),
                                  np.broadcast_to(y, (height, width, 1)),
                                  np.broadcast_to((x + y) / 2, (height, width, 1))], axis=-1)
            img = np.clip(img + np.roll(noise, i * 7, axis=1), 0, 255).astype(np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(
                format="yuv420p", src_colorspace="ITU709", dst_colorspace="ITU709")
            f.pts = i
            f.time_base = 1 / fps
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def measure_transcode(path: str | Path, frames: int = 48, *, exr_compression: str = "piz",
                      workdir: str | Path | None = None) -> dict:
    """Frames per second of (a) decode, (b) decode -> ProRes 4444, (c) decode -> EXR, on the
    first `frames` frames of `path` (through core.media.reader and core.media.writers).

    Returns {path, width, height, frames, decode_fps, prores_fps, exr_fps, prores_ratio,
    exr_ratio} where the ratios are (b)/(a) and (c)/(a).
    """
    from core.media.reader import open_media
    from core.media.writers import open_writer

    path = Path(path)
    with open_media(path) as r:
        n = min(frames, r.info.frame_count)
        info = r.info
    width, height, fps = info.width, info.height, info.fps

    def decode_only() -> tuple[float, float]:
        with open_media(path) as r:
            t, c = time.perf_counter(), time.process_time()
            for _ in r.frames(0, n):
                pass
            return time.perf_counter() - t, time.process_time() - c

    def transcode(output: Path, **kw) -> tuple[float, float]:
        with open_media(path) as r:
            t, c = time.perf_counter(), time.process_time()
            with open_writer(output, width=width, height=height, fps=fps, **kw) as w:
                for _, frame in r.frames(0, n):
                    w.write(frame)
            return time.perf_counter() - t, time.process_time() - c

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        (t_dec, c_dec) = decode_only()
        (t_pr, c_pr) = transcode(tmp / "bench.mov", codec="prores4444")
        (t_exr, c_exr) = transcode(tmp / "bench.####.exr", compression=exr_compression)
    dec, pr, exr = n / t_dec, n / t_pr, n / t_exr
    return {
        "path": str(path), "width": width, "height": height, "frames": n,
        "decode_fps": dec, "prores_fps": pr, "exr_fps": exr,
        "prores_ratio": pr / dec, "exr_ratio": exr / dec,
        # CPU time (all threads) per frame: robust on a shared, loaded machine
        "decode_cpu_ms": 1000 * c_dec / n, "prores_cpu_ms": 1000 * c_pr / n, "exr_cpu_ms": 1000 * c_exr / n,
    }


def _numpy_rgb8(img: np.ndarray) -> np.ndarray:
    """The numpy formula to_rgb8 used before (kept here as the bench's baseline)."""
    from core.media.colour import srgb_encode

    rgb = img[..., :3]
    if rgb.dtype == np.uint16:
        return np.ascontiguousarray(((rgb.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8))
    enc = srgb_encode(np.nan_to_num(rgb.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0))
    return np.ascontiguousarray((enc * 255.0 + 0.5).astype(np.uint8))


def measure_to_rgb8(repeats: int = 3) -> list[tuple[str, float, float, float]]:
    """(frame, numpy ms, to_rgb8 ms, share of codes that differ) for 4K RGBA frames, best of repeats."""
    from core.media.reader import to_rgb8

    rng = np.random.default_rng(0)
    frames = {"4K RGBA 16-bit": rng.integers(0, 65536, (2160, 3840, 4), dtype=np.uint16),
              "4K RGBA float32": (rng.random((2160, 3840, 4), np.float32) * 1.2).astype(np.float32),
              "4K RGBA half": (rng.random((2160, 3840, 4), np.float32) * 1.2).astype(np.float16)}
    rows = []
    for name, img in frames.items():
        best = {"numpy": np.inf, "to_rgb8": np.inf}
        for _ in range(repeats):
            for label, fn in (("numpy", _numpy_rgb8), ("to_rgb8", to_rgb8)):
                t = time.perf_counter()
                out = fn(img)
                best[label] = min(best[label], time.perf_counter() - t)
                if label == "numpy":
                    ref = out
        rows.append((name, 1000 * best["numpy"], 1000 * best["to_rgb8"], float(np.mean(out != ref))))
    return rows


def _numpy_premultiplied(frame: np.ndarray, src: str, dst: str) -> np.ndarray:
    """The EXR writer's numpy formula for premultiplied RGBA before (the bench's baseline)."""
    from core.media import colour

    f = colour.to_float01(frame)
    straight = np.concatenate([colour.unpremultiply(f[..., :3], f[..., 3]), f[..., 3:]], axis=-1)
    lin = colour.convert_colorspace(straight, src, dst)
    out = np.empty(frame.shape, np.float16)
    alpha = np.clip(lin[..., 3:], 0.0, 1.0)
    out[..., :3] = lin[..., :3] * alpha
    out[..., 3:] = alpha
    return out


def measure_exr_premultiplied(repeats: int = 3) -> list[tuple[str, float, float, float]]:
    """(case, numpy ms, writer ms, largest difference in half steps) for a premultiplied 4K RGBA
    frame (a face patch: alpha 0 around it, soft edges) prepared for an ACEScg or same-space EXR."""
    from core.media.exr import EXRSequenceWriter

    rng = np.random.default_rng(1)
    a = np.clip(rng.random((2160, 3840, 1), np.float32) * 1.4 - 0.2, 0.0, 1.0)
    premult = np.concatenate([rng.random((2160, 3840, 3), np.float32) * a, a], axis=-1)
    lin = "Linear Rec.709 (sRGB)"
    cases = {"linear float -> ACEScg": (premult, lin, "ACEScg"),
             "linear float -> same space": (premult, lin, lin),
             "sRGB 16-bit -> ACEScg": ((premult * 65535 + 0.5).astype(np.uint16), "sRGB - Texture", "ACEScg")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (frame, src, dst) in cases.items():
            w = EXRSequenceWriter(Path(tmp) / "x.####.exr", 3840, 2160, Fraction(24), colorspace=dst,
                                  input_colorspace=src, premultiplied=True)
            best = {"numpy": np.inf, "writer": np.inf}
            for _ in range(repeats):
                for label in ("numpy", "writer"):
                    t = time.perf_counter()
                    out = _numpy_premultiplied(frame, src, dst) if label == "numpy" else w._linear_rgba(frame)
                    best[label] = min(best[label], time.perf_counter() - t)
                    if label == "numpy":
                        ref = out
            ulp = np.abs(out.astype(np.float32) - ref.astype(np.float32)) / np.spacing(np.abs(ref).astype(np.float16)
                                                                                       ).astype(np.float32)
            rows.append((name, 1000 * best["numpy"], 1000 * best["writer"], float(np.nanmax(ulp))))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="24 frames, one shared clip")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default 48, 24 with --quick)")
    args = parser.parse_args(argv)
    frames = args.frames or (24 if args.quick else 48)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_test_clip(Path(tmp) / "gen1080p.mp4", frames=frames)
        rows.append(("generated 1080p H.264", measure_transcode(clip, frames)))
    if SHARED_CLIPS.is_dir():
        names = ["d0.mp4"] if args.quick else ["d0.mp4", "s13.mp4", "short_hamilton_clip.mp4"]
        for name in names:
            if (SHARED_CLIPS / name).exists():
                rows.append((name, measure_transcode(SHARED_CLIPS / name, frames)))
    else:
        print(f"(shared clips not found at {SHARED_CLIPS}: skipped)")
    print(f"{'clip':<26}{'size':>11}{'frames':>7}{'(a)decode':>10}{'(b)ProRes':>10}{'(c)EXR':>8}{'b/a':>7}{'c/a':>7}"
          f"   cpu ms/frame a / b / c")
    print(f"{'':<26}{'':>11}{'':>7}{'fps':>10}{'4444 fps':>10}{'PIZ fps':>8}")
    for name, r in rows:
        print(f"{name:<26}{r['width']:>5}x{r['height']:<5}{r['frames']:>7}{r['decode_fps']:>10.1f}"
              f"{r['prores_fps']:>10.1f}{r['exr_fps']:>8.1f}{r['prores_ratio']:>7.2f}{r['exr_ratio']:>7.2f}"
              f"   {r['decode_cpu_ms']:.0f} / {r['prores_cpu_ms']:.0f} / {r['exr_cpu_ms']:.0f}")
    print(f"\n{'to 8-bit RGB (analysis, render)':<26}{'numpy ms':>10}{'to_rgb8 ms':>11}{'speed-up':>9}"
          f"{'codes differing':>17}")
    for name, old, new, diff in measure_to_rgb8():
        print(f"{name:<26}{old:>10.1f}{new:>11.1f}{old / new:>8.1f}x{diff:>17.1e}")
    print(f"\n{'EXR premultiplied 4K RGBA':<26}{'numpy ms':>10}{'writer ms':>11}{'speed-up':>9}"
          f"{'max half steps':>17}")
    for name, old, new, diff in measure_exr_premultiplied():
        print(f"{name:<26}{old:>10.1f}{new:>11.1f}{old / new:>8.1f}x{diff:>17.1f}")
    print(f"(wall-clock rates on {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}"
          f" CPUs, load average {os.getloadavg()[0]:.1f}: other work on the machine slows them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
