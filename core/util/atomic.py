"""Atomic file output: write to a temporary name beside the target, fsync, rename.

A reader (a compositor's Nuke, a farm watcher, our own loader) never sees a half-written
file under its final name, and a failure (full disk, killed process) leaves the previous
version of the file untouched.

A killed process cannot remove its temporary file, so each one is named for its writer
(`.NAME.p<pid>-<host>.XXXX.partial.EXT`) and held under an flock while it is written, and the
first write into a folder removes those of writers on this host that are no longer running,
hold no lock and have not been touched for a minute.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from core.errors import FacsimileError


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: fsync the folder that holds the entry (POSIX only)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_UMASK: int | None = None


def _umask() -> int:
    """The process umask (read once): from /proc where there is one, which changes nothing;
    else by setting and restoring it at the first call."""
    global _UMASK
    if _UMASK is None:
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                line = next(ln for ln in fh if ln.startswith("Umask:"))
            _UMASK = int(line.split()[1], 8)
        except (OSError, StopIteration, ValueError, IndexError):
            mask = os.umask(0o022)
            os.umask(mask)
            _UMASK = mask
    return _UMASK


def _final_mode(target: Path) -> int:
    """The permissions a finished file gets: those of the file it replaces, or what creating it
    with open() gives (0o666 less the umask). mkstemp's temporary file is 0o600, owner only,
    which on a facility's shared storage would hide every render and project from the
    compositors and farm users who must read it."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~_umask()


_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]
_WRITER = re.compile(r"\.p(\d+)-([0-9a-f]{6})\.[^.]+\.partial")  # the writer tag in a temporary's name
STALE_AFTER_S = 60.0  # a dead writer's temporary untouched this long is removed
_swept: set[str] = set()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process, alive
        return True
    return True


def _hold(path: Path) -> int | None:
    """An open descriptor of `path` holding an flock on it (None where locks are not to be had):
    a writer that is alive keeps its temporary locked, whatever pid namespace or host it runs in."""
    try:
        import fcntl

        fd = os.open(path, os.O_RDONLY)
    except (ImportError, OSError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _unlocked(path: str) -> bool:
    """True when nobody holds an flock on `path` (its writer is gone); False when one does or the
    question cannot be asked."""
    fd = _hold(Path(path))
    if fd is None:
        return False
    os.close(fd)
    return True


def sweep_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries that writers on this host left in `folder` when they were killed
    (their process is gone, the file untouched for STALE_AFTER_S and no flock on it: a live
    writer holds one, see atomic_path); returns what was removed. Temporaries of other hosts
    (shared storage), of live processes and untagged ones are kept."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = _WRITER.search(e.name) if e.name.startswith(".") else None
        if not m or m.group(2) != _HOST or int(m.group(1)) == os.getpid() or _running(int(m.group(1))):
            continue
        try:
            if now - e.stat(follow_symlinks=False).st_mtime < STALE_AFTER_S or not e.is_file(follow_symlinks=False):
                continue
            if not _unlocked(e.path):  # its writer is alive (another pid namespace, a host of the same name)
                continue
            os.unlink(e.path)
        except OSError:
            continue
        removed.append(Path(e.path))
    return removed


def temp_path_for(target: str | os.PathLike[str]) -> Path:
    """A fresh temporary name in the target's folder, keeping its extension (for encoders
    that pick a format from the suffix), tagged with this process and host. The first call for
    a folder in a process sweeps killed writers' temporaries out of it."""
    target = Path(target)
    key = os.path.abspath(target.parent)
    if key not in _swept:
        _swept.add(key)
        sweep_stale_temporaries(target.parent)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.p{os.getpid()}-{_HOST}.",
                                suffix=f".partial{target.suffix}", dir=target.parent)
    os.close(fd)
    return Path(name)


def describe_os_error(exc: OSError, path: str | os.PathLike[str]) -> str:
    """One readable sentence for an OS error while writing `path`."""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full while writing {path}: free some space and try again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {path}: permission denied (is the folder writable?)"
    if exc.errno == errno.ENOENT:
        return f"cannot write {path}: the folder does not exist"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded while writing {path}"
    return f"cannot write {path}: {exc.strerror or exc}"


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success fsync it and rename it onto `target`.

    On any exception the temporary file is removed and `target` is left as it was.
    OSErrors are turned into a FacsimileError with a readable message.
    """
    target = Path(target)
    if not target.parent.is_dir():
        raise FacsimileError(f"cannot write {target}: the folder {target.parent} does not exist")
    try:
        tmp = temp_path_for(target)
    except OSError as exc:
        raise FacsimileError(describe_os_error(exc, target)) from exc
    live = _hold(tmp)  # while it is written: the sweep of another process never takes it
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):  # storage without POSIX modes (SMB): its own rules apply
            os.chmod(tmp, _final_mode(target))
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise FacsimileError(describe_os_error(exc, target)) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        if live is not None:
            os.close(live)


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `target` atomically."""
    atomic_write_bytes(target, text.encode(encoding))


def refuse_existing(target: str | os.PathLike[str], overwrite: bool, inputs: tuple = ()) -> None:
    """Raise before a command replaces what it should not: an existing file without `overwrite`
    (the CLI's --overwrite), and never, even with it, one of the command's own inputs or a
    project's document (project.json inside a NAME.facsimile folder, or beside its backups/)."""
    from core.errors import MediaError

    out = Path(target)
    resolved = out.resolve()
    for src in inputs:
        if src is not None and Path(src).resolve() == resolved:
            raise MediaError(f"{out} is this command's own input: choose another output name")
    if out.name == "project.json" and (out.parent.suffix == ".facsimile" or (out.parent / "backups").is_dir()):
        raise MediaError(f"{out} is a project's own document: choose another output name")
    if out.exists() and not overwrite:
        raise MediaError(f"{out} already exists: pass --overwrite to replace it, or choose another name")
