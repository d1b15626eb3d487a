"""AU solve speed: per face per frame on one core, against the 1 ms target.

Measures the whole per-frame solve (rigid alignment + bounded least squares + curve mapping,
core.facs.solve_frame) on real MediaPipe landmarks of the astronaut portrait with AU
deformations applied, and scipy.optimize.lsq_linear on the same problem side by side. Each
is timed in 5 interleaved blocks and the fastest block is reported (timeit's rule: slower
blocks measure the machine's other load, not the code), with the median block beside it.
The still path (canonical neutral, identity-weighted) and the shot path (the person's own
neutral) are timed separately.
Run: .venv/bin/python bench/au.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    import skimage.data
    from scipy.optimize import lsq_linear

    from core.analysis.analyzer import Analyzer
    from core.facs import synthesize
    from core.facs.calibrate import calibration_canonical
    from core.facs.extract import solve_frame
    from core.facs.model import align, model

    img = skimage.data.astronaut()
    # the product's own landmarks (MediaPipe built quietly, as every command builds it)
    lm = np.asarray(Analyzer(max_faces=1).analyze_image(img, embed=False)[0].landmarks, np.float64)
    rng = np.random.default_rng(0)
    m = model()
    frames = [synthesize(lm, {n: float(v) for n, v in zip(m.basis_names, rng.uniform(0, 3, len(m.basis_names))
                                                           * (rng.random(len(m.basis_names)) < 0.3), strict=True)})
              + rng.normal(0, 0.4, (478, 3)) for _ in range(50)]
    cal = calibration_canonical()
    # a shot is measured from the performer's own neutral (the undeformed portrait); a still from
    # the canonical one, so its identity shape adds to the AUs and more of them reach the bound
    shot = {"method": "frame", "neutral": align(lm, m.neutral)[0]}
    n = 100 if args.quick else 600
    k = max(10, n // 20)
    design_t = m.design.T
    sw = np.sqrt(m.elem_w)

    def ours(c: dict) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            solve_frame(frames[i % len(frames)], c)
        return (time.perf_counter() - t0) / n * 1e3

    def ref() -> float:
        t0 = time.perf_counter()
        for i in range(k):
            x, _ = align(frames[i % len(frames)], cal["neutral"])
            lsq_linear(design_t, (x - cal["neutral"]).ravel() * sw, bounds=(0, 5), method="bvls")
        return (time.perf_counter() - t0) / k * 1e3

    solve_frame(frames[0], cal)
    solve_frame(frames[0], shot)
    blocks: dict[str, list[float]] = {"still": [], "shot": [], "lsq": []}
    for _ in range(5):
        blocks["still"].append(ours(cal))
        blocks["shot"].append(ours(shot))
        blocks["lsq"].append(ref())
    best = {key: min(v) for key, v in blocks.items()}
    med = {key: float(np.median(v)) for key, v in blocks.items()}
    for key, label in (("shot", "shot (own neutral)"), ("still", "still (canonical, identity-weighted)")):
        print(f"AU solve per face per frame, {label:38s} {best[key]:.3f} ms (median block {med[key]:.3f})   "
              f"target 1 ms   ratio to target {best[key] / 1.0:.2f}")
    print(f"scipy lsq_linear (bvls) on the still problem: {best['lsq']:.3f} ms (median {med['lsq']:.3f})   "
          f"speed-up of ours {best['lsq'] / best['still']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
