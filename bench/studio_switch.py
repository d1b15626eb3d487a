"""Graph editor: UI-thread time of a Lanes <-> Overlay toggle and of a switch to a shot with
another curve set, on the real MainWindow offscreen (1008 frames, shots of 44 and 41 curves
with keys, one of them over other frames).

Measured side by side in one run: this checkout, and with --against DIR another checkout of the
project (e.g. `git worktree add /tmp/old 2fc8c4d`, the commit before the plots were reused),
each in its own process on the same generated project. 'sync' is the slot's own UI-thread CPU
(time.thread_time); '+paint' adds the events that follow it (layout, first paint).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/studio_switch.py [--against DIR] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N = 1008
NAMES_A = ["AU01", "AU01L", "AU01R", "AU02", "AU02L", "AU02R", "AU04", "AU04L", "AU04R", "AU05", "AU05L",
           "AU05R", "AU06", "AU06L", "AU06R", "AU07", "AU07L", "AU07R", "AU09", "AU10", "AU12", "AU12L",
           "AU12R", "AU14", "AU14L", "AU14R", "AU15", "AU15L", "AU15R", "AU17", "AU20", "AU20L", "AU20R",
           "AU23", "AU25", "AU26", "AU45", "AU45L", "AU45R", "pose_Rx", "pose_Ry", "pose_Rz", "gaze_x",
           "gaze_y"]
# another shot's curves: no L/R brows and lids, no gaze, a few other names (41 curves)
NAMES_B = [n for n in NAMES_A if not (n[:4] in ("AU01", "AU02", "AU04", "AU05") and n[-1] in "LR")
           and not n.startswith("gaze")] + ["AU16", "AU28", "AU43", "AU18", "AU22", "AU24", "AU27"]


def make_project(folder: Path) -> Path:
    """A 1008-frame H.264 plate and four shots (A, A2: 44 curves; B: 41; C: 41 over 100-899)."""
    import numpy as np

    from core.curves import CurveSet
    from core.curves.curveset import Layer
    from core.curves.keys import Curve, Key
    from core.project.model import Plate, Project
    from tests.mediagen import make_astronaut_plate

    path = folder / "switch.facsimile"
    plate_path = make_astronaut_plate(folder / "plate.mp4", N, fps=30, size=96, gop=24)
    proj = Project.create(path)
    plate = proj.add_plate(Plate.from_media(plate_path))
    rng = np.random.default_rng(0)
    for shot_name, names, (f0, f1) in (("A", NAMES_A, (0, N - 1)), ("B", NAMES_B, (0, N - 1)),
                                       ("A2", NAMES_A, (0, N - 1)), ("C", NAMES_B, (100, 899))):
        shot = proj.new_shot(plate.id, f0, f1, name=shot_name)
        t = np.arange(f1 - f0 + 1)
        base = {nm: (1.5 + 1.2 * np.sin(t / (6.0 + i)) + 0.1 * rng.standard_normal(t.size)) if nm.startswith("AU")
                else 0.1 * np.sin(t / 9.0 + i) for i, nm in enumerate(names)}
        keys = {nm: Curve([Key(f, 0.2 * np.sin(f)) for f in range(f0 + 10 + i, f1, 97)])
                for i, nm in enumerate(names) if i % 3 == 0}
        shot.curves[0] = CurveSet(names, (f0, f1), base=base, layers=[Layer("Edit", curves=keys)])
    proj.save()
    return path


def measure(project: Path) -> dict[str, list[float]]:
    """{action: [sync ms, +paint ms]} medians in this process's checkout."""
    from PySide6.QtTest import QTest

    from studio.app import ensure_app
    from studio.main_window import MainWindow

    app = ensure_app()
    win = MainWindow(offer_recovery=False)
    win.resize(1600, 1000)
    win.open_path(project, interactive=False)
    win.show()
    QTest.qWaitForWindowExposed(win)
    ed = win.curves
    ids = {sh.name: sh.id for sh in win.session.project.shots}

    def settle() -> None:
        for _ in range(4):
            app.processEvents()

    out: dict[str, list[tuple[float, float]]] = {}

    def timed(label: str, fn) -> None:
        settle()
        c0 = time.thread_time()
        fn()
        c1 = time.thread_time()
        settle()
        out.setdefault(label, []).append(((c1 - c0) * 1e3, (time.thread_time() - c0) * 1e3))

    win._pick_shot(ids["A"])
    settle()
    QTest.qWait(1500)  # idle a moment after opening, as a user would be
    for _ in range(3):
        timed("lanes -> overlay", lambda: ed.set_mode("overlay"))
        timed("overlay -> lanes", lambda: ed.set_mode("lanes"))
    for _ in range(3):
        timed("shot, other curves", lambda: win._pick_shot(ids["B"]))
        timed("shot, other curves", lambda: win._pick_shot(ids["A"]))
        timed("shot, other curves and frames", lambda: win._pick_shot(ids["C"]))
        timed("shot, other curves and frames", lambda: win._pick_shot(ids["A"]))
        timed("shot, same curves", lambda: win._pick_shot(ids["A2"]))
        timed("shot, same curves", lambda: win._pick_shot(ids["A"]))
    win.session.mark_dirty(False)
    win.close()
    return {k: [round(statistics.median(x[0] for x in v), 1), round(statistics.median(x[1] for x in v), 1)]
            for k, v in out.items()}


def run_in(checkout: Path, project: Path) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "QT_QPA_PLATFORM": "offscreen"}
    p = subprocess.run([sys.executable, __file__, "--one", str(project)], capture_output=True, text=True,
                       env=env, cwd=checkout)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if not line:
        raise SystemExit(f"{checkout}: {p.stdout}\n{p.stderr}")
    return json.loads(line[0][7:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--against", type=Path, help="another checkout to time beside this one")
    ap.add_argument("--work", type=Path, help="folder for the generated project (default: a temporary one)")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        # the checkout being timed first; bench/ itself would shadow the studio package (bench/studio.py)
        here = Path(__file__).resolve().parent
        sys.path[:] = [os.getcwd()] + [p for p in sys.path if p and Path(p).resolve() != here]
        print("RESULT " + json.dumps(measure(args.one)), flush=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        os.environ["FACSIMILE_HOME"] = str(work / "home")
        sys.path.insert(0, str(REPO))
        project = make_project(work)
        runs = {"this": run_in(REPO, project)}
        if args.against:
            runs["against"] = run_in(args.against.resolve(), project)
    print(f"UI-thread CPU ms (median), {N} frames; sync = the slot, +paint = with the events after it")
    head = "".join(f"{k + ' sync':>14s}{'+paint':>9s}" for k in runs)
    print(f"{'action':32s}{head}" + ("   ratio (against / this, sync)" if "against" in runs else ""))
    for action, (sync, paint) in runs["this"].items():
        row = f"{action:32s}{sync:14.1f}{paint:9.1f}"
        if "against" in runs:
            a = runs["against"].get(action, [float("nan")] * 2)
            row += f"{a[0]:14.1f}{a[1]:9.1f}   {a[0] / max(sync, 1e-3):6.1f}x"
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
