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
    preload_native_modules()  # also when the QApplication was made elsewhere (pytest-qt, an embedding host)
    return app


# Native (pybind11) modules whose first import runs module-init code that takes the GIL with a
# thread state of its own. Imported first on one of Qt's pooled threads (the render queue's
# worker, an analysis job), onnxruntime's init deleted the wrong thread state and the process
# died with a segmentation fault (tests/test_studio.py: an export, then a queue render). Each is
# imported once on the UI thread as the studio starts, about 1.3 s on two cores in all.
NATIVE_MODULES = ("onnxruntime", "mediapipe", "OpenEXR", "PyOpenColorIO")


def preload_native_modules() -> None:
    """Import NATIVE_MODULES on this (the UI) thread, once; a missing one is left to its feature to report."""
    import importlib
    import threading
    import time

    if all(name in sys.modules for name in NATIVE_MODULES) or threading.current_thread() is not threading.main_thread():
        return
    t0 = time.perf_counter()
    for name in NATIVE_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the feature that needs it says so, loudly, when used
            log.debug("%s not preloaded: %s", name, exc)
    log.debug("native modules preloaded in %.2f s", time.perf_counter() - t0)


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
