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


def test_closed_pipe_is_no_error():
    """`facsimile ... | head` closes our stdout early: exit quietly, no 'internal error'."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "core", "models", "list", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # long before the interpreter has started and printed anything
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "internal error" not in err and "Traceback" not in err
