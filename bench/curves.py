"""Curve evaluation speed: 40 curves x 10,000 frames with 500 keys each, target < 10 ms.

Measures, in the same run: a cold evaluation of every curve (no cache), the whole CurveSet
(base + one additive key layer, gain, clamp) cold, a re-evaluation after one key edit
(only the edited curve's span is recomputed), a fully cached re-evaluation, and one step of a
drag of one key on every curve (MoveKeys pushed and merged into the drag's undo step, then the
set evaluated) beside the same evaluation with every curve marked dirty over its whole range,
as replacing a key list did before set_keys diffed the lists.
Run: .venv/bin/python bench/curves.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.curves import Curve, CurveSet, Interp, Key, Layer  # noqa: E402

TARGET_MS = 10.0


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0


def _drag_step(cs: CurveSet, curves: dict[str, Curve], names: list[str], repeat: int) -> tuple[float, float]:
    """Best ms of one drag step (push a merged MoveKeys of one key per curve, evaluate the set),
    and of the same step with every curve's cache marked dirty over its whole range."""
    from core.project.commands import MoveKeys
    from core.project.undo import UndoStack

    stack = UndoStack()
    sel = {n: [int(curves[n].frames[200])] for n in names}
    cs.evaluate_matrix()
    best = {False: float("inf"), True: float("inf")}
    for i in range(2 * repeat):
        whole = bool(i % 2)
        t0 = time.perf_counter()
        cmd = stack.push(MoveKeys(cs, "edit", sel, 0, 0.01, merge_id="drag"))
        if whole:
            for c in curves.values():
                c._touch(None)
        cs.evaluate_matrix()
        best[whole] = min(best[whole], time.perf_counter() - t0)
        sel = {n: list(f) for n, f in cmd.compute.new_selection.items()}
    return best[False] * 1000.0, best[True] * 1000.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    args = ap.parse_args(argv)
    repeat = 5 if args.quick else 20
    n_curves, n_frames, n_keys = 40, 10_000, 500
    rng = np.random.default_rng(0)
    names = [f"AU{i:02d}" for i in range(1, n_curves + 1)]
    kf = np.linspace(0, n_frames - 1, n_keys).round().astype(int)
    interps = [Interp.BEZIER, Interp.LINEAR, Interp.CONSTANT]
    curves = {n: Curve(Key(int(f), float(v), interps[j % 3] if j % 7 == 0 else Interp.BEZIER)
                       for j, (f, v) in enumerate(zip(kf, rng.uniform(0, 5, n_keys), strict=True)))
              for n in names}

    def cold_curves() -> None:
        for c in curves.values():
            c._coef = None  # include the per-key coefficient set-up
            c._eval_span(0, n_frames - 1)

    t_cold = _best(cold_curves, repeat)
    xs = np.arange(n_frames, dtype=np.float64)
    kv = {n: c.values for n, c in curves.items()}

    def np_interp_floor() -> None:  # reference: plain linear interpolation, same sizes
        for n in names:
            np.interp(xs, kf, kv[n])

    t_floor = _best(np_interp_floor, repeat)

    base = {n: rng.uniform(0, 3, n_frames) for n in names}
    cs = CurveSet(names, (0, n_frames - 1), base=base, layers=[Layer("edit", curves=curves)])

    def cold_set() -> None:
        cs._cache.clear()
        for c in curves.values():
            c._cache_frames = None
            c._coef = None
        cs.evaluate_matrix()

    t_set = _best(cold_set, repeat)
    cs.evaluate_matrix()
    edited = curves[names[7]]
    k = edited.keys[250]
    times = []
    for i in range(repeat):
        edited.replace_key(k.frame, k.replace(value=1.0 + 0.01 * i))
        t0 = time.perf_counter()
        cs.evaluate_matrix()
        times.append(time.perf_counter() - t0)
    t_edit = min(times) * 1000
    t_cached = _best(cs.evaluate_matrix, repeat)
    t_step, t_full = _drag_step(cs, curves, names, repeat)
    print(f"curves: {n_curves} x {n_frames} frames, {n_keys} keys each (best of {repeat})")
    print(f"  evaluate 40 keyed curves, cold        {t_cold:8.2f} ms   ratio to {TARGET_MS:g} ms target: {t_cold / TARGET_MS:.2f}")
    print(f"  reference: np.interp, 40 curves (linear only)  {t_floor:6.2f} ms   keyed Bezier/linear/constant "
          f"evaluation costs {t_cold / max(t_floor, 1e-9):.2f}x that")
    print(f"  evaluate CurveSet (base+layer), cold  {t_set:8.2f} ms   ratio: {t_set / TARGET_MS:.2f}")
    print(f"  after one key edit (incremental)      {t_edit:8.2f} ms   ratio: {t_edit / TARGET_MS:.2f}"
          f"   speed-up vs cold: {t_set / max(t_edit, 1e-9):.1f}x")
    print(f"  cached, nothing changed               {t_cached:8.2f} ms   ratio: {t_cached / TARGET_MS:.2f}")
    print(f"  drag step, 1 key on each of 40 curves {t_step:8.2f} ms   (undo push + merge, evaluate the set)")
    print(f"    same, whole curves marked dirty     {t_full:8.2f} ms   ratio now/whole: {t_step / max(t_full, 1e-9):.2f}")
    return 0 if t_cold < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
