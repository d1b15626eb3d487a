"""Frame access for the viewer: core's media Reader behind a small LRU cache.

The studio never decodes by itself: frames come from `core.media.reader.open_media`.
The cache keeps the last few decoded frames so stepping back and forth, A/B toggles and
overlay changes never decode twice.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import MediaError

log = logging.getLogger(__name__)


def open_reader(path: str | Path) -> Any:
    """core.media.reader.open_media(path); a clear MediaError when the reader is not available."""
    try:
        from core.media.reader import open_media
    except ImportError as exc:
        raise MediaError(f"cannot open {path}: the media reader (core.media.reader) is not available ({exc})") from exc
    return open_media(str(path))


# What one plate's cache may hold. 48 frames are 140 MB at 1080p but 1.2 GB at 4K and 4.8 GB at
# 8K, per plate the session has opened; the byte bound keeps a film plate's cache to 16 4K frames.
CACHE_BYTES = 384 * 1024 * 1024


class FrameCache:
    """Thread-safe LRU of decoded RGB8 frames of one reader, bounded by count and by bytes
    (at least two frames are kept, so an A/B toggle never decodes twice)."""

    def __init__(self, reader: Any, capacity: int = 48, max_bytes: int = CACHE_BYTES) -> None:
        self.reader = reader
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def info(self) -> Any:
        return self.reader.info

    @property
    def frame_count(self) -> int:
        return int(self.reader.info.frame_count)

    def get(self, index: int) -> np.ndarray:
        """Frame `index` as uint8 HxWx3 (decoded once, then cached)."""
        with self._lock:
            frame = self._frames.get(index)
            if frame is not None:
                self._frames.move_to_end(index)
                return frame
            frame = np.ascontiguousarray(self.reader.read_rgb8(index))
            self._frames[index] = frame
            self._bytes += frame.nbytes
            while len(self._frames) > 2 and (len(self._frames) > self.capacity or self._bytes > self.max_bytes):
                self._bytes -= self._frames.popitem(last=False)[1].nbytes
            return frame

    @property
    def nbytes(self) -> int:
        """Bytes of the frames held."""
        with self._lock:
            return self._bytes

    def cached(self, index: int) -> np.ndarray | None:
        """The frame if already decoded, else None (never decodes)."""
        with self._lock:
            return self._frames.get(index)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._bytes = 0
