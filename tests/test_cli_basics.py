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


def _studio(args: list[str], **env_extra: str) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "core", "studio", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_studio_checks_its_argument_then_says_there_is_no_display(tmp_path):
    """`facsimile studio nope.facsimile` with no display aborted Qt (exit 134, xcb noise): the
    argument is checked first, then a missing display is one line with what to do."""
    from tests.jobhelpers import make_plate

    proc = _studio([str(tmp_path / "nope.facsimile")])
    assert proc.returncode == 4 and "no project at" in proc.stderr and "xcb" not in proc.stderr
    plate = make_plate(tmp_path / "p.mp4", frames=10)
    proc = _studio([str(plate), "--frame", "500"])
    assert proc.returncode == 4 and "--frame 500 is outside the plate (frames 0-9)" in proc.stderr
    proc = _studio([str(plate)])
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "no display" in proc.stderr and "xvfb-run" in proc.stderr


def test_debug_and_quiet_are_accepted_after_the_sub_command(tmp_path, capsys):
    """Errors say "run with --debug", but `facsimile project info X --debug` was rejected as an
    unrecognized argument; --debug and -q now work anywhere on the line."""
    missing = str(tmp_path / "nope.facsimile")
    assert main(["project", "info", missing, "--debug"]) == 4
    err = capsys.readouterr().err
    assert "Traceback" in err and "unrecognized arguments" not in err and "no project at" in err
    assert main(["project", "info", missing, "-q"]) == 4
    assert "Traceback" not in capsys.readouterr().err


def test_the_studio_still_ends_on_sigterm(tmp_path):
    """The CLI turns SIGTERM into Ctrl-C for its commands, but inside Qt's event loop that
    handler only raised between events, printed a traceback and the studio ran on (a logout or
    `systemctl stop` left it running). The studio keeps the default action."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.jobhelpers import make_plate

    plate = make_plate(tmp_path / "p.mp4", frames=10)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FACSIMILE_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-c", "from core.cli import main; raise SystemExit(main())", "studio",
                             str(plate)], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(8)  # up and in its event loop
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "SignalInterrupt" not in proc.stderr.read()
