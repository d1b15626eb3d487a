"""`facsimile studio [PROJECT|PLATE] [--screenshot out.png] [--frame N] [--shot S] [--view V]`: open the GUI.

Qt is imported only when the command runs, so the rest of the CLI works without PySide6.
"""

from __future__ import annotations

import argparse

from core.errors import FacsimileError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "studio", help="open the desktop studio (optionally on a project or a plate)",
        description="Open the Facsimile studio. PROJECT is a NAME.facsimile folder or a plain plate "
                    "(video / image sequence), which opens as an unsaved project with one shot. "
                    "With --screenshot the window is drawn, saved as PNG and the studio exits "
                    "(works headless with QT_QPA_PLATFORM=offscreen).")
    p.add_argument("project", nargs="?", help="project folder, project.json, or a plate file")
    p.add_argument("--screenshot", metavar="PNG", help="write a screenshot of the window and exit")
    p.add_argument("--frame", type=int, default=None, help="plate frame to show")
    p.add_argument("--shot", default=None, help="shot (name or id) to open")
    p.add_argument("--size", default="1600x980", help="window size WxH (default 1600x980)")
    p.add_argument("--view", choices=("plate", "render", "wipe"), default=None,
                   help="viewer side to show: the plate (A), the live render (B) or a wipe between them")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        from studio.app import run_studio
    except ImportError as exc:
        raise FacsimileError(f"the studio needs PySide6 and pyqtgraph ({exc}); install with pip install "
                             "'facsimile[studio]'") from exc
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError as exc:
        raise FacsimileError(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 1600x980") from exc
    return run_studio(args.project, screenshot=args.screenshot, frame=args.frame, shot=args.shot, size=(w, h),
                      view=args.view)
