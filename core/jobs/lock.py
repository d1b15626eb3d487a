"""One writer per output: an advisory lock beside the file or sequence a job writes.

Two renders to one output at once (the same command in two shells, a studio queue and a CLI
render) each wrote their frames under their own render id and both exited 0, leaving a movie or
a sequence of two renders. A job holds `.NAME.facsimile-lock` in the output folder while it runs
(fcntl.flock: released by the kernel when the process dies, so a crash never leaves a stale
lock); a second job to the same output is refused with who holds it. Farm chunks of one job run
(`job run --chunk N`) without it: the scheduler runs each chunk once.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from core.errors import FacsimileError
from core.util.reentrant import held_again


class OutputBusy(FacsimileError):
    """Another job is writing the same output now."""


def lock_path(output: str | Path) -> Path:
    out = Path(output)
    return out.parent / f".{out.name}.facsimile-lock"


@contextlib.contextmanager
def output_lock(output: str | Path, job_id: str = "") -> Iterator[None]:
    """Hold the output's lock for the block; OutputBusy at once when another process holds it."""
    path = lock_path(output)
    with held_again(str(path.absolute())) as again:
        if again:  # render -> run_job in one thread: the lock is ours already
            yield
            return
        with _take(output, path, job_id):
            yield


@contextlib.contextmanager
def _take(output: str | Path, path: Path, job_id: str) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock, as before
        yield
        return
    if not path.parent.is_dir():
        raise FacsimileError(f"cannot write {output}: the folder {path.parent} does not exist (create it first)")
    try:
        fd = _acquire(path, fcntl)
    except OutputBusy:
        raise
    except OSError as exc:  # a read-only or full output folder
        from core.util.atomic import describe_os_error

        raise FacsimileError(describe_os_error(exc, output)) from exc
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "job_id": job_id,
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still held: a waiter re-checks the inode and takes a fresh file
        os.close(fd)


def _acquire(path: Path, fcntl) -> int:  # noqa: ANN001 - the fcntl module
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(path)
            os.close(fd)
            raise OutputBusy(f"another render is writing {path.parent / path.name[1:-len('.facsimile-lock')]} now"
                             f"{holder}; wait for it to finish or choose another output") from None
        except OSError:
            os.close(fd)
            raise
        try:  # the holder before us may have removed the file we opened: lock the one at the path
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _describe(path: Path) -> str:
    try:
        d = json.loads(path.read_text())
        return f" (job {d.get('job_id') or '?'}, process {d.get('pid')} on {d.get('host')}, since {d.get('since')})"
    except (OSError, ValueError, AttributeError):
        return ""
