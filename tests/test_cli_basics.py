"""The command line itself: help, version, error contract."""

from __future__ import annotations

import subprocess
import sys

from core.cli import main


def test_help_lists_commands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "facsimile" in out


def test_version_flag():
    proc = subprocess.run([sys.executable, "-m", "core", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.startswith("facsimile ")
