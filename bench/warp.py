"""Benchmark: piecewise-affine face warp as one dense map + cv2.remap vs one warpAffine per triangle.

The astronaut portrait (skimage, public domain) is scaled so the face mesh spans about 512 px,
its MediaPipe landmarks are deformed smoothly (as an expression edit would), and both warps
map the image onto the deformed mesh. Single thread (cv2.setNumThreads(1)).

Run: .venv/bin/python bench/warp.py [--quick] [--size 512]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.facs import mesh  # noqa: E402
from core.render.warp import fill_mesh, warp_image, warp_per_triangle  # noqa: E402


def astronaut_landmarks(img: np.ndarray) -> np.ndarray:
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1) as fm:
        res = fm.process(img)
    if not res.multi_face_landmarks:
        raise SystemExit("no face found in the astronaut image")
    h, w = img.shape[:2]
    return np.array([[p.x * w, p.y * h, p.z * w] for p in res.multi_face_landmarks[0].landmark], np.float32)


def timeit(fn, repeat: int) -> float:
    """Median seconds of `repeat` runs after one warm-up."""
    return time_all([fn], repeat)[0]


def time_all(fns, repeat: int) -> list[float]:
    """Median seconds of each function, runs interleaved round-robin so that load from other
    processes on a shared machine hits every contender alike."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return [statistics.median(ts) for ts in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--size", type=int, default=512, help="face mesh extent in pixels")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    from skimage.data import astronaut

    base = astronaut()
    lm = astronaut_landmarks(base)
    extent = float(np.ptp(lm[:, :2], axis=0).max())
    s = a.size / extent
    img = cv2.resize(base, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
    src = lm * s
    centre = src[:, :2].mean(axis=0)
    rel = (src[:, :2] - centre) / a.size
    dst = src.copy()
    dst[:, 0] += 0.03 * a.size * np.sin(3.0 * rel[:, 1])
    dst[:, 1] += 0.03 * a.size * np.sin(4.0 * rel[:, 0]) * (rel[:, 1] > 0)
    tris = mesh.triangles()
    psrc, ftris = fill_mesh(src)
    pdst, _ = fill_mesh(dst)
    repeat = 3 if a.quick else 10
    t_dense, t_dense_crop, t_tri = time_all([
        lambda: warp_image(img, psrc, pdst, ftris),
        lambda: warp_image(img, psrc, pdst, ftris, crop=True),
        lambda: warp_per_triangle(img, psrc, pdst, ftris),
    ], repeat)
    dense, valid = warp_image(img, psrc, pdst, ftris)
    ref = warp_per_triangle(img, psrc, pdst, ftris)
    inner = cv2.erode(valid, np.ones((5, 5), np.uint8)) > 0
    diff = np.abs(dense.astype(np.float32) - ref.astype(np.float32))[inner]
    print(f"face mesh {a.size} px ({len(ftris)} triangles, {len(tris)} surface + eye/mouth fill), "
          f"image {img.shape[1]}x{img.shape[0]}, single thread")
    print(f"  dense map + one cv2.remap (full frame out) {t_dense * 1e3:8.1f} ms")
    print(f"  dense map + one cv2.remap (ROI crop out)   {t_dense_crop * 1e3:8.1f} ms")
    print(f"  per-triangle cv2.warpAffine                {t_tri * 1e3:8.1f} ms")
    print(f"  ratio per-triangle / dense = {t_tri / t_dense_crop:.2f}x (ROI) {t_tri / t_dense:.2f}x (full frame)")
    print(f"  agreement inside the mesh: mean |diff| {diff.mean():.3f}, 99th pct {np.percentile(diff, 99):.2f} (0..255)")


if __name__ == "__main__":
    main()
