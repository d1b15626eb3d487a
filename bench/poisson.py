"""Benchmark: our DST-I Poisson blend vs cv2.seamlessClone, both against an exact sparse solve.

Both solvers are given the SAME discrete problem (same ROI rectangle, same mask, same
guidance field, same Dirichlet border from the target), so their errors against the exact
solution (scipy.sparse.linalg LU of the 5-point system) are comparable:
- seamlessClone erodes its mask by 3 px (3x3, 3 iterations): we hand it our mask dilated by
  the same, and use erode(dilate(mask)) for ours and for the exact solve;
- its ROI is the mask's bounding rect: we add two isolated pixels at our ROI's corners
  (they vanish in its erosion) so it solves on the same rectangle;
- seamlessClone takes the source gradient on an edge when its left/top pixel is in the mask
  (ours defaults to "both ends in the mask"): ours runs with edge_rule="forward" here;
- it modifies its mask argument (OpenCV >= 4.11): it gets a copy.
Single thread for both (cv2.setNumThreads(1); scipy.fft uses one worker by default).

Run: .venv/bin/python bench/poisson.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.render.poisson import fast_roi, guidance_divergence, mask_roi, poisson_blend  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "media"


def exact_dirichlet(boundary: np.ndarray, div: np.ndarray) -> np.ndarray:
    """Exact (float64 sparse LU) solution of Lap(u) = div inside the ROI, u = boundary on its border."""
    h, w, c = boundary.shape
    n, m = h - 2, w - 2

    def second_diff(k: int) -> sp.csr_matrix:
        return sp.diags([np.ones(k - 1), -2 * np.ones(k), np.ones(k - 1)], [-1, 0, 1], format="csr")

    a = (sp.kron(sp.identity(n), second_diff(m)) + sp.kron(second_diff(n), sp.identity(m))).tocsc()
    lu = sla.splu(a, permc_spec="COLAMD")
    u = boundary.astype(np.float64).copy()
    bd = boundary.astype(np.float64)
    for ch in range(c):
        b = div[1:-1, 1:-1, ch].astype(np.float64).copy()
        b[0] -= bd[0, 1:-1, ch]
        b[-1] -= bd[-1, 1:-1, ch]
        b[:, 0] -= bd[1:-1, 0, ch]
        b[:, -1] -= bd[1:-1, -1, ch]
        u[1:-1, 1:-1, ch] = lu.solve(b.ravel()).reshape(n, m)
    return u


def exact_blend(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, roi, mode: str = "normal",
                edge_rule: str = "inside") -> np.ndarray:
    """Exact float64 solution over `roi` (HxWxC crop) of the system poisson_blend solves."""
    x0, y0, x1, y1 = roi
    s = src[y0:y1, x0:x1].astype(np.float32)
    d = dst[y0:y1, x0:x1].astype(np.float32)
    m = mask[y0:y1, x0:x1].astype(np.float32)
    return exact_dirichlet(d, guidance_divergence(s, d, m, mode, edge_rule))


def seamless_clone_same_problem(src, dst, mask01, roi, mode: str = "normal"):
    """cv2.seamlessClone set up to solve the same problem as ours; returns (result, effective mask)."""
    k = np.ones((3, 3), np.uint8)
    m8 = (mask01 >= 0.5).astype(np.uint8) * 255
    sc_mask = cv2.dilate(m8, k, iterations=3)
    effective = cv2.erode(sc_mask, k, iterations=3)
    x0, y0, x1, y1 = roi
    sc_mask[y0, x0] = sc_mask[y1 - 1, x1 - 1] = 255  # isolated: only widen the bounding rect
    centre = (x0 + (x1 - x0) // 2, y0 + (y1 - y0) // 2)
    flag = cv2.NORMAL_CLONE if mode == "normal" else cv2.MIXED_CLONE
    out = cv2.seamlessClone(src, dst, sc_mask.copy(), centre, flag)
    return out, effective.astype(np.float32) / 255.0


def make_case(name: str, quick: bool):
    """(src, dst, mask) full frames: the astronaut's 400x400 head region pasted elsewhere."""
    from skimage.data import astronaut, coffee

    face = astronaut()[20:420, 56:456]  # head and shoulders, 400x400
    if name == "400x400 face in 800x600":
        dst = cv2.resize(coffee(), (800, 600), interpolation=cv2.INTER_AREA)
    else:
        p = SHARED / "stills" / "obama-1080p.jpg"
        if p.exists():
            dst = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
            dst = cv2.resize(dst, (1920, 1080), interpolation=cv2.INTER_AREA)
        else:
            dst = cv2.resize(coffee(), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    h, w = dst.shape[:2]
    y0, x0 = (h - 400) // 2, (w - 400) // 2 + (300 if w > 1000 else 0)
    src = dst.copy()
    src[y0:y0 + 400, x0:x0 + 400] = face
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (x0 + 200, y0 + 200), (170, 190), 0, 0, 360, 1.0, -1)
    return src, dst, mask


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


def run_case(name: str, repeat: int, quick: bool) -> None:
    src, dst, mask = make_case(name, quick)
    roi, pads = fast_roi(mask_roi(mask), dst.shape)
    assert not any(pads)
    sc_out, eff = seamless_clone_same_problem(src, dst, mask, roi)
    centre = (roi[0] + (roi[2] - roi[0]) // 2, roi[1] + (roi[3] - roi[1]) // 2)
    sc_mask = seamless_clone_same_problem_mask(mask, roi)
    raw = mask_roi(mask)  # the unpadded ROI (mask bbox + 2): what n+1 = 2^a 3^b 5^c buys
    t_ours, t_sc, t_raw = time_all([
        lambda: poisson_blend(src, dst, eff, roi=roi, pad_fast=False, edge_rule="forward"),
        lambda: cv2.seamlessClone(src, dst, sc_mask.copy(), centre, cv2.NORMAL_CLONE),
        lambda: poisson_blend(src, dst, eff, roi=raw, pad_fast=False, edge_rule="forward"),
    ], repeat)
    ours_u8 = poisson_blend(src, dst, eff, roi=roi, pad_fast=False, edge_rule="forward")
    ours_f = poisson_blend(src.astype(np.float32), dst.astype(np.float32), eff, roi=roi, pad_fast=False,
                           edge_rule="forward")
    t0 = time.perf_counter()
    exact = exact_blend(src, dst, eff, roi, edge_rule="forward")
    t_exact = time.perf_counter() - t0
    x0, y0, x1, y1 = roi

    def err(img, clip: bool):
        ref = np.clip(exact, 0, 255) if clip else exact
        d = img[y0:y1, x0:x1].astype(np.float64) - ref
        return float(np.sqrt(np.mean(d ** 2))), float(np.abs(d).max())

    print(f"\n== {name}: frame {dst.shape[1]}x{dst.shape[0]}, ROI {x1 - x0}x{y1 - y0} "
          f"(mask bbox+2 was {raw[2] - raw[0]}x{raw[3] - raw[1]})")
    print(f"  ours (DST-I, padded)     {t_ours * 1e3:8.1f} ms")
    print(f"  ours (DST-I, unpadded)   {t_raw * 1e3:8.1f} ms   padding speed-up x{t_raw / t_ours:.2f}")
    print(f"  cv2.seamlessClone        {t_sc * 1e3:8.1f} ms")
    print(f"  speed ratio seamlessClone / ours = {t_sc / t_ours:.2f}x  (target >= 3x)")
    print(f"  exact sparse LU solve    {t_exact:8.2f} s")
    for label, img, clip in (("ours float32", ours_f, False), ("ours uint8", ours_u8, True),
                             ("seamlessClone uint8", sc_out, True)):
        rms, mx = err(img, clip)
        print(f"  error vs exact{' (clipped to 0..255)' if clip else ''}: {label:20s} RMS {rms:8.4f}  "
              f"max {mx:8.3f}  (0..255 units)")


def seamless_clone_same_problem_mask(mask01: np.ndarray, roi) -> np.ndarray:
    k = np.ones((3, 3), np.uint8)
    m = cv2.dilate((mask01 >= 0.5).astype(np.uint8) * 255, k, iterations=3)
    x0, y0, x1, y1 = roi
    m[y0, x0] = m[y1 - 1, x1 - 1] = 255
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, first case only")
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    cv2.setNumThreads(1)
    repeat = 3 if a.quick else a.repeat
    cases = ["400x400 face in 800x600"] + ([] if a.quick else ["400 px face in a 1080p frame"])
    for name in cases:
        run_case(name, repeat, a.quick)
    # why pad: a DST-I of size n runs on an FFT of 2(n+1); a large prime factor in n+1 is slow
    from core.render.poisson import solve_dirichlet

    rng = np.random.default_rng(0)
    arrays = {n: (rng.random((n + 2, n + 2, 3)).astype(np.float32), rng.random((n + 2, n + 2, 3)).astype(np.float32))
              for n in (388, 399)}  # 389 is prime; 400 = 2^4 * 5^2
    res = dict(zip(arrays, time_all([lambda a=a: solve_dirichlet(*a) for a in arrays.values()], repeat), strict=True))
    print(f"\n== DST-I size: interior 388x388 (n+1 = 389, prime) {res[388] * 1e3:.1f} ms vs 399x399 "
          f"(n+1 = 400) {res[399] * 1e3:.1f} ms: padding to the larger fast size is x{res[388] / res[399]:.2f} faster")


if __name__ == "__main__":
    main()
