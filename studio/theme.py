"""Dark theme (palette + shipped .qss) and pyqtgraph defaults matching it."""

from __future__ import annotations

import logging

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from core.paths import resources_dir

log = logging.getLogger(__name__)

ACCENT = "#e8912d"
BG = "#262626"
PLOT_BG = "#1b1b1b"

# Colour per AU group for curves: brows, eyes, mouth, head (readable on dark grey).
GROUP_COLOURS = {
    "brows": ["#f6c85f", "#f4a259", "#e07a5f", "#ffd6a5", "#f9844a", "#ffb4a2"],
    "eyes": ["#5fb0f6", "#7bdff2", "#4ea8de", "#9ad1d4", "#48bfe3", "#b2f7ef", "#6c8ead", "#90e0ef"],
    "mouth": ["#9be564", "#d7f75b", "#56c596", "#c2f970", "#7ae582", "#2dc653", "#b5e48c", "#e9ff70",
              "#80ed99", "#a3b18a", "#c7f9cc", "#52b788", "#b7e4c7", "#d8f3dc"],
    "head": ["#d291ff", "#b388eb", "#f7aef8", "#8093f1", "#72ddf7"],
    "other": ["#cccccc", "#aaaaaa", "#eeeeee"],
}


def apply_theme(app: QApplication) -> None:
    """Fusion style, dark palette and resources/studio/style.qss (missing file: logged, palette still set)."""
    import pyqtgraph as pg

    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in [
        (QPalette.Window, "#262626"), (QPalette.WindowText, "#d6d6d6"), (QPalette.Base, "#1c1c1c"),
        (QPalette.AlternateBase, "#232323"), (QPalette.ToolTipBase, "#333333"), (QPalette.ToolTipText, "#e0e0e0"),
        (QPalette.Text, "#d6d6d6"), (QPalette.Button, "#353535"), (QPalette.ButtonText, "#d6d6d6"),
        (QPalette.BrightText, "#ff5555"), (QPalette.Highlight, ACCENT), (QPalette.HighlightedText, "#111111"),
        (QPalette.Link, ACCENT),
    ]:
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.Disabled, QPalette.Text, QColor("#666666"))
    pal.setColor(QPalette.Disabled, QPalette.ButtonText, QColor("#666666"))
    app.setPalette(pal)
    qss = resources_dir() / "studio" / "style.qss"
    try:
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
    except OSError as exc:
        log.warning("studio style sheet %s not loaded (%s); using the plain dark palette", qss, exc)
    pg.setConfigOptions(background=PLOT_BG, foreground="#a0a0a0", antialias=False, imageAxisOrder="row-major")
