"""Start the studio: QApplication, theme, main window; the headless screenshot hook.

`run_studio(path, screenshot=..., frame=..., shot=...)` is what `facsimile studio` calls.
With `screenshot` it opens the window, shows that frame (full path), grabs the window into
a PNG (atomically) and returns without entering the event loop.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def ensure_app():
    """The QApplication (created once, themed)."""
    from PySide6.QtWidgets import QApplication

    from studio.theme import apply_theme

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Facsimile")
        app.setOrganizationName("Facsimile")
        apply_theme(app)
    return app


def settle(app, rounds: int = 6) -> None:
    """Let layouts, pending timers of zero delay and paints run."""
    for _ in range(rounds):
        app.processEvents()


def grab_png(window, out: str | Path) -> Path:
    """Grab the window into a PNG, written atomically; MediaError if Qt cannot encode it."""
    from core.errors import MediaError
    from core.util.atomic import atomic_path

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pix = window.grab()
    if pix.isNull() or pix.width() == 0:
        raise MediaError("the studio window could not be grabbed (no pixels); is a Qt platform plugin available?")
    with atomic_path(out) as tmp:
        if not pix.save(str(tmp), "PNG"):
            raise MediaError(f"could not write the screenshot {out}")
    return out


def run_studio(path: str | None = None, screenshot: str | None = None, frame: int | None = None,
               shot: str | None = None, size: tuple[int, int] = (1600, 980), offer_recovery: bool = True,
               view: str | None = None) -> int:
    """Open the studio (optionally on a project or plate). Returns the process exit code."""
    app = ensure_app()
    from studio.main_window import MainWindow

    win = MainWindow(offer_recovery=offer_recovery and screenshot is None)
    win.resize(*size)
    if path:
        win.open_path(path, shot=shot, interactive=screenshot is None)
    win.show()
    settle(app)
    if view is not None:
        win.viewer.mode.setCurrentIndex(("plate", "render", "wipe").index(view))
    if frame is not None:
        win.session.set_frame(frame)
    if screenshot:
        win.viewer.show_frame(win.session.frame, fast=False)
        win.viewer.wait_idle()
        win.bin.wait_thumbnails()
        settle(app, 10)
        out = grab_png(win, screenshot)
        log.info("screenshot written: %s", out)
        win.session.mark_dirty(False)
        win.close()
        return 0
    return int(app.exec())
