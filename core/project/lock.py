"""One writer at a time in a project folder: an advisory lock held while a save writes.

A save writes the new arrays, copies project.json into backups/, writes project.json and then
removes the array files that no kept document refers to. Two processes saving one project at
once (two CLI edits, the studio and a CLI edit) each checked that nobody had saved since they
loaded, then both wrote: both exited 0 and one edit was gone, from the backups too, and the
garbage collection of one could delete the arrays the other had just written, leaving a
project that would not open. A save, an autosave and the CLI's check-then-save now hold
`.facsimile-lock` in the project folder (fcntl.flock: the kernel releases it when the process
dies, so a crash never leaves a stale lock). A second writer waits for the first (saves take
well under a second) and then sees that the project changed under it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from core.errors import ProjectError
from core.util.reentrant import held_again

LOCK_NAME = ".facsimile-lock"
WAIT_S = 30.0  # how long a writer waits for another session's save before giving up


@contextlib.contextmanager
def project_lock(folder: str | os.PathLike[str], wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the project folder's write lock for the block (re-entrant in one thread); a
    ProjectError when another session holds it for longer than `wait_s`."""
    path = Path(folder) / LOCK_NAME
    with held_again(os.path.abspath(path)) as again:
        if again:  # a save inside a save in this thread: the lock is ours already
            yield
            return
        with _take(folder, path, wait_s):
            yield


@contextlib.contextmanager
def _take(folder: str | os.PathLike[str], path: Path, wait_s: float) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        # a read-only project folder: nobody can save into it, so there is nothing to order
        # (the save itself then says why it cannot write)
        yield
        return
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ProjectError(f"{folder} is being saved by another session (the studio or a command) "
                                       f"for over {wait_s:.0f} s; nothing was saved: try again") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the flock
