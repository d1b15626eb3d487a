"""`facsimile studio [PROJECT|PLATE] [--screenshot out.png] [--frame N] [--shot S] [--view V]`: open the GUI.

Qt is imported only when the command runs, so the rest of the CLI works without PySide6.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.errors import FacsimileError, ProjectError


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
    p.set_defaults(func=_run, gui=True)  # gui: keeps the default SIGTERM/SIGHUP (core.cli.main)


def _frame_count(path: str, shot: str | None) -> int | None:
    """Plate frames of what `path` opens (the shot's plate for a project; None when it has no
    shots), raising the error the studio would show: a missing or unknown project or plate is
    said on the command line before any window (or a Qt abort) is involved."""
    from core.media.reader import IMAGE_EXTS, VIDEO_EXTS, names_image_sequence, probe

    p = Path(path)
    if (p.is_dir() and (p / "project.json").exists()) or p.name == "project.json" or p.suffix == ".facsimile":
        from core.project.model import Project

        return _project_frames(Project.load(p), shot)
    if p.is_dir():
        raise ProjectError(f"{p} is a folder without a project.json: give a project folder (NAME.facsimile) "
                           "or a plate file")
    if not p.exists() and not names_image_sequence(p):
        raise ProjectError(f"{p} does not exist: give a project folder (NAME.facsimile) or a plate file")
    if not (names_image_sequence(p) or p.suffix.lower() in VIDEO_EXTS or p.suffix.lower() in IMAGE_EXTS):
        raise FacsimileError(f"{p}: not a project folder and not a known video/image type ({p.suffix or 'no suffix'})")
    return int(probe(p).frame_count)


def _project_frames(project: object, key: str | None) -> int | None:
    """Frames of the plate of shot `key` (id or name; default the first shot) of a loaded project."""
    from core.project.workflow import resolve_shot

    shot = resolve_shot(project, key) if key is not None else (project.shots[0] if project.shots else None)
    return None if shot is None else int(project.plate_of(shot).frame_count)


def has_display() -> bool:
    """Whether Qt can open a window here: a platform named in QT_QPA_PLATFORM (offscreen, xcb,
    ...), or on Linux/BSD an X11 or Wayland display. Without one Qt aborts (exit 134, xcb noise)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _run(args: argparse.Namespace) -> int:
    """Check the project/plate, --frame, --shot and --size, then that there is a display, then open the studio."""
    if args.frame is not None and args.frame < 0:
        raise ProjectError(f"--frame {args.frame}: plate frames start at 0")
    if args.project:
        n = _frame_count(args.project, args.shot)
        if args.frame is not None and n is not None and args.frame >= n:
            raise ProjectError(f"--frame {args.frame} is outside the plate (frames 0-{n - 1})")
    elif args.shot is not None:
        raise FacsimileError("--shot needs a PROJECT to open")
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError as exc:
        raise FacsimileError(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 1600x980") from exc
    if not has_display():
        raise FacsimileError("no display to open the studio on (DISPLAY and WAYLAND_DISPLAY are not set): run it "
                             "in a desktop session or under xvfb-run (for --screenshot, QT_QPA_PLATFORM=offscreen)")
    try:
        from studio.app import run_studio
    except ImportError as exc:
        raise FacsimileError(f"the studio needs PySide6 and pyqtgraph ({exc}); install with pip install "
                             "'facsimile[studio]'") from exc
    return run_studio(args.project, screenshot=args.screenshot, frame=args.frame, shot=args.shot, size=(w, h),
                      view=args.view)
