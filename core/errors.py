"""Errors a user sees: one clear line, no traceback unless asked for."""

from __future__ import annotations


class FacsimileError(Exception):
    """An error with a message written for the user (what went wrong and what to do)."""

    exit_code: int = 1


class MediaError(FacsimileError):
    """A plate or deliverable cannot be read or written."""

    exit_code = 3


class ProjectError(FacsimileError):
    """A project file is missing, damaged or from a newer schema, or an edit asks for what the project has not got (a shot, frame, value or plate that fits)."""

    exit_code = 4


class ModelError(FacsimileError):
    """A model file is missing, has the wrong hash or cannot be loaded."""

    exit_code = 5


class NoFaceError(FacsimileError):
    """No usable face where one is needed."""

    exit_code = 6


class UserCancelled(FacsimileError):
    """The user (or a signal) cancelled long work."""

    exit_code = 130


class SignalInterrupt(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a farm, `timeout`, systemd, a closed terminal) raised as an interruption,
    so every command stops the way Ctrl-C stops it (finished work kept); exits 128 + the signal."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)

    @property
    def exit_code(self) -> int:
        """The shell's convention for death by a signal: 128 + its number (143 for SIGTERM)."""
        return 128 + self.signum
