"""Watermark embedding, which runs on every delivered frame: `core.delivery.watermark.embed`
against the numpy arithmetic it used before (kept here as the baseline), side by side on the
same 4K and 1080p frames, best of several alternating runs.

    .venv/bin/python bench/watermark.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def numpy_embed(rgb: np.ndarray, render_id: str) -> np.ndarray:
    """embed as it was before (the colour channels sliced out and added in numpy, 8-bit with
    OpenCV), same maths: the baseline."""
    from core.delivery import watermark as wm

    y = wm._luma(rgb)
    c = wm._coefficients(y)
    rows, cols = c.shape
    pattern = wm.render_id_bits(render_id)[wm._bit_index(rows, cols)].astype(np.float32)
    q = np.round((c - pattern * wm._STEP / 2) / wm._STEP) * wm._STEP + pattern * wm._STEP / 2
    side = 2 * wm._BLOCK
    delta = np.zeros(y.shape, np.float32)
    delta[: rows * side, : cols * side] = ((q - c)[:, :, None, None] * wm._W).transpose(0, 2, 1, 3).reshape(
        rows * side, cols * side)
    scale = 257.0 if rgb.dtype == np.uint16 else (1 / 255.0 if rgb.dtype.kind == "f" else 1.0)
    if rgb.shape[2] == 4:
        full = 1.0 if rgb.dtype.kind == "f" else float(np.iinfo(rgb.dtype).max)
        delta *= rgb[..., 3].astype(np.float32) / full
    out = rgb.copy()
    if rgb.dtype.kind == "f":
        out[..., :3] += (delta * scale)[..., None].astype(rgb.dtype)
        return out
    d = np.rint(delta * scale)
    if rgb.dtype == np.uint8:  # it already used OpenCV's saturating adds for 8-bit, on sliced channels
        import cv2

        up = np.clip(d, 0, 255).astype(np.uint8)
        down = np.clip(-d, 0, 255).astype(np.uint8)
        rgb3 = np.ascontiguousarray(rgb[..., :3])
        out[..., :3] = cv2.subtract(cv2.add(rgb3, cv2.merge([up] * 3)), cv2.merge([down] * 3))
        return out
    info = np.iinfo(rgb.dtype)
    out[..., :3] = np.clip(rgb[..., :3].astype(np.int32) + d.astype(np.int32)[..., None], info.min,
                           info.max).astype(rgb.dtype)
    return out


def numpy_watermarked(image: np.ndarray, render_id: str) -> np.ndarray:
    """core.render.job.watermarked as it was (numpy sRGB transfer both ways), for a linear frame."""
    def encode(v: np.ndarray) -> np.ndarray:
        v = np.clip(v, 0.0, 1.0)
        return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1.0 / 2.4) - 0.055).astype(np.float32)

    def decode(v: np.ndarray) -> np.ndarray:
        return np.where(v <= 0.04045, v / 12.92, np.power((np.clip(v, 0.0, None) + 0.055) / 1.055, 2.4)).astype(
            np.float32)

    rgb = image[..., :3].astype(np.float32)
    marked = decode(numpy_embed(encode(rgb), render_id))
    out = image.copy()
    out[..., :3] = np.where((rgb < 0.0) | (rgb > 1.0), rgb, marked).astype(image.dtype)
    return out


def best_of(fns: dict, img: np.ndarray, repeats: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Best wall time (s) of each labelled fn(img, id) over alternating runs, and their outputs."""
    best = {label: np.inf for label in fns}
    outs: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for label, fn in fns.items():
            t = time.perf_counter()
            outs[label] = fn(img, "bench")
            best[label] = min(best[label], time.perf_counter() - t)
    return best, outs


def main(argv: list[str] | None = None) -> int:
    from core.delivery.watermark import embed
    from core.render.job import watermarked

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'frame':<24}{'numpy ms':>10}{'embed ms':>10}{'speed-up':>10}  identical")
    for (h, w) in ((2160, 3840), (1080, 1920)):
        for ch in (4, 3):
            for dt in (np.uint16, np.float32, np.uint8):
                if dt == np.float32:
                    img = rng.random((h, w, ch), np.float32)
                else:
                    img = rng.integers(0, np.iinfo(dt).max, (h, w, ch), dtype=dt)
                best, outs = best_of({"numpy": numpy_embed, "embed": embed}, img, args.repeats)
                same = np.array_equal(outs["numpy"], outs["embed"])
                name = f"{w}x{h} {'RGBA' if ch == 4 else 'RGB'} {np.dtype(dt).name}"
                print(f"{name:<24}{1000 * best['numpy']:>10.1f}{1000 * best['embed']:>10.1f}"
                      f"{best['numpy'] / best['embed']:>9.1f}x  {same}")
    print("\nlinear float frames (EXR renders: sRGB-encoded, marked, decoded back; core.render.job.watermarked)")
    print(f"{'frame':<24}{'numpy ms':>10}{'now ms':>10}{'speed-up':>10}  max difference")
    for ch in (4, 3):
        img = (rng.random((2160, 3840, ch), np.float32) * 1.3 - 0.1).astype(np.float32)
        best, outs = best_of({"numpy": numpy_watermarked, "now": watermarked}, img, args.repeats)
        diff = float(np.abs(outs["numpy"] - outs["now"]).max())
        name = f"3840x2160 {'RGBA' if ch == 4 else 'RGB'} linear"
        print(f"{name:<24}{1000 * best['numpy']:>10.1f}{1000 * best['now']:>10.1f}"
              f"{best['numpy'] / best['now']:>9.1f}x  {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
