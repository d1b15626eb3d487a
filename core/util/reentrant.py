"""Re-entry of the advisory file locks a thread already holds.

An flock taken through a second descriptor of the same file blocks even in the process that
holds it, so a lock taken again by its own holder (a render command inside which the job
runner locks the same output, a save inside a save) must be entered, not waited for. Depths
are kept per thread: another thread of the same process (the studio's render queue, a
worker) takes the lock for real and waits its turn.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_local = threading.local()


@contextlib.contextmanager
def held_again(key: str) -> Iterator[bool]:
    """For the block, count this thread in on the lock `key`; yields True when this thread held it
    already (the caller then takes nothing), False when the caller must take it now."""
    depth: dict[str, int] = _local.__dict__.setdefault("depth", {})
    again = key in depth
    depth[key] = depth.get(key, 0) + 1
    try:
        yield again
    finally:
        depth[key] -= 1
        if not depth[key]:
            del depth[key]
