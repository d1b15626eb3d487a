"""AU curve filter speed and constant-rate equality: `apply_filter` on a (1000, 60) shot.

    .venv/bin/python bench/filters.py [--before PATH/core/facs/filters.py] [--repeat N]

Times One-Euro and Savitzky-Golay on 1000 frames x 60 curves (a face with a 40-frame gap) at
30 fps: this checkout's filters with no timestamps, with even timestamps (what every CFR
analysis passes), and with VFR timestamps (a 60 fps stretch and a dropped-frame gap). With
--before, another checkout's filters.py (e.g. /work/main/core/facs/filters.py) runs in the
same process on the same data, side by side, and the largest difference of the CFR outputs
is printed (it must be 0 or within 1e-12).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def load(path: Path, name: str) -> ModuleType:
    """A filters.py loaded from a path under its own module name."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def best(fn, repeat: int) -> tuple[float, np.ndarray]:
    """Best wall time of `repeat` calls and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="another checkout's core/facs/filters.py to compare with")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from core.facs import filters as now

    rng = np.random.default_rng(0)
    fps, t_count = 30.0, 1000
    x = np.cumsum(rng.normal(0, 0.05, (t_count, 60)), axis=0) + rng.normal(0, 0.1, (t_count, 60))
    x[400:440] = np.nan
    even = np.arange(t_count) / fps
    steps = np.full(t_count - 1, 1 / fps)
    steps[600:700] = 1 / 60  # a 60 fps stretch
    steps[800] = 0.1  # a dropped-frame gap
    vfr = np.r_[0.0, np.cumsum(steps)]
    before = load(args.before, "filters_before") if args.before else None
    takes_times = "timestamps" in inspect.signature(now.apply_filter).parameters
    for name in ("one_euro", "savgol"):
        row = [f"{name:9s}"]
        ref = None
        if before is not None:
            dt, ref = best(lambda name=name: before.apply_filter(x, fps, name), args.repeat)
            row.append(f"before {dt * 1000:7.1f} ms")
        dt, out = best(lambda name=name: now.apply_filter(x, fps, name), args.repeat)
        row.append(f"now {dt * 1000:7.1f} ms")
        outs = [out]
        if takes_times:
            dt, out_even = best(lambda name=name: now.apply_filter(x, fps, name, timestamps=even), args.repeat)
            row.append(f"now+even times {dt * 1000:7.1f} ms")
            outs.append(out_even)
            dt, _ = best(lambda name=name: now.apply_filter(x, fps, name, timestamps=vfr), args.repeat)
            row.append(f"now+VFR times {dt * 1000:7.1f} ms")
        if ref is not None:
            diff = max(float(np.nanmax(np.abs(o - ref))) for o in outs)
            same = all(np.array_equal(np.isnan(o), np.isnan(ref)) for o in outs)
            row.append(f"CFR max |now - before| {diff:.3g} (NaN same: {same})")
        print(" | ".join(row))


if __name__ == "__main__":
    main()
