"""AU solve speed: per face per frame on one core, against the 1 ms target.

Measures the whole per-frame solve (rigid alignment + bounded least squares + curve mapping,
core.facs.solve_frame) on real MediaPipe landmarks of the astronaut portrait with AU
deformations applied, and scipy.optimize.lsq_linear on the same problem side by side.
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
    import mediapipe as mp
    import skimage.data
    from scipy.optimize import lsq_linear

    from core.facs import synthesize
    from core.facs.calibrate import calibration_canonical
    from core.facs.extract import solve_frame
    from core.facs.model import align, model

    img = skimage.data.astronaut()
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1) as fm:
        res = fm.process(img)
    h, w = img.shape[:2]
    lm = np.array([[p.x * w, p.y * h, p.z * w] for p in res.multi_face_landmarks[0].landmark])
    rng = np.random.default_rng(0)
    m = model()
    frames = [synthesize(lm, {n: float(v) for n, v in zip(m.basis_names, rng.uniform(0, 3, len(m.basis_names))
                                                           * (rng.random(len(m.basis_names)) < 0.3), strict=True)})
              + rng.normal(0, 0.4, (478, 3)) for _ in range(50)]
    cal = calibration_canonical()
    n = 500 if args.quick else 3000
    solve_frame(frames[0], cal)
    t0 = time.perf_counter()
    for i in range(n):
        solve_frame(frames[i % len(frames)], cal)
    ours = (time.perf_counter() - t0) / n * 1e3
    # scipy lsq_linear on the same residual (alignment included), fewer runs
    k = max(50, n // 20)
    design_t = m.design.T
    sw = np.sqrt(m.elem_w)
    t0 = time.perf_counter()
    for i in range(k):
        x, _ = align(frames[i % len(frames)], cal["neutral"])
        lsq_linear(design_t, (x - cal["neutral"]).ravel() * sw, bounds=(0, 5), method="bvls")
    ref = (time.perf_counter() - t0) / k * 1e3
    print(f"AU solve per face per frame (one core): {ours:.3f} ms   target 1 ms   ratio to target {ours / 1.0:.2f}")
    print(f"scipy lsq_linear (bvls) same problem:   {ref:.3f} ms   speed-up of ours {ref / ours:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
