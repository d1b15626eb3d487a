"""Facsimile studio: the PySide6 + pyqtgraph desktop application.

A view over `core`: it shows plates, analyses and curves, and drives core's commands,
analyser, renderer and exporters from worker threads. No algorithm lives here.
Entry point: `studio.app.run_studio(...)` (the `facsimile studio` command).
"""
