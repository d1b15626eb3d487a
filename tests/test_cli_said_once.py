"""A warning reaches the terminal once: a command that prints a note or a problem itself keeps
the WARNING log line of the same fact off stderr (the record stays in the log, the sidecar and
the studio's notes). Run as a real process, so stderr is the CLI's own logging set-up."""

from __future__ import annotations

import subprocess
import sys


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=600)


def test_library_list_says_a_damaged_template_once(tmp_path):
    lib = tmp_path / "lib"
    (lib / "broken").mkdir(parents=True)
    (lib / "broken" / "template.json").write_text("{bad")
    proc = _cli("library", "list", "--library", str(lib))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("is damaged") == 1, proc.stderr
    assert "facsimile library remove broken" in proc.stderr  # the line kept is the one that says what to do
