"""Frame access for the viewer: core's media Reader behind a small LRU cache.

The studio never decodes by itself: frames come from `core.media.reader.open_media`.
The cache keeps the last few decoded frames so stepping back and forth, A/B toggles and
overlay changes never decode twice.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
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


@dataclass(frozen=True)
class PlateFacts:
    """What the studio shows of a plate before its reader is open: the project's plate record
    (size, rate, frame count), read when the plate was added."""

    width: int
    height: int
    fps: Fraction
    frame_count: int


class FrameCache:
    """Thread-safe LRU of decoded RGB8 frames of one reader, bounded by count and by bytes
    (at least two frames are kept, so an A/B toggle never decodes twice).

    `FrameCache.deferred(path, facts)` opens its reader only when the first frame is asked for,
    which the viewer does on its worker thread: opening a long-GOP camera original reads the
    whole file (seconds for an hour of H.264), and selecting its shot must not hold the window
    for that. Until then `info` is the project's record of the plate."""

    def __init__(self, reader: Any, capacity: int = 48, max_bytes: int = CACHE_BYTES) -> None:
        self._reader = reader
        self._path: Path | None = None
        self._facts: PlateFacts | None = None
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._pixel_aspect: float | None = None
        # the plate's colour space as the user set it (a camera log plate); None: what the file
        # says. Frames not in what to_rgb8 assumes are shown and handed to the face tools as sRGB
        # display pictures (display_rgb8; an HDR video tone mapped)
        self.colorspace: str | None = None
        self._display_cs: tuple[str | None, str | None] | None = None

    @property
    def known_display_colorspace(self) -> str | None:
        """display_colorspace once a frame has been read (never opens the plate: for the UI thread)."""
        return self._display_cs[1] if self._display_cs is not None and self._display_cs[0] == self.colorspace \
            else None

    @property
    def display_colorspace(self) -> str | None:
        """The colour space frames are shown from (core.media.colour.display_colorspace): the
        user's `colorspace`, else the file's own tags; None where to_rgb8 reads them right."""
        if self._display_cs is None or self._display_cs[0] != self.colorspace:
            from core.media.colour import display_colorspace

            self._display_cs = (self.colorspace, display_colorspace(self.reader.info, self.colorspace))
        return self._display_cs[1]

    @classmethod
    def deferred(cls, path: str | Path, facts: PlateFacts, capacity: int = 48,
                 max_bytes: int = CACHE_BYTES) -> FrameCache:
        """A cache whose reader is opened (open_reader(path)) on the first frame asked for."""
        cache = cls(None, capacity, max_bytes)
        cache._path, cache._facts = Path(path), facts
        return cache

    @property
    def reader(self) -> Any:
        """The plate's reader, opened now if it was deferred (MediaError if it cannot be)."""
        if self._reader is None:
            with self._open_lock:
                if self._reader is None:
                    self._reader = open_reader(self._path)
        return self._reader

    @property
    def is_open(self) -> bool:
        return self._reader is not None

    @property
    def info(self) -> Any:
        return self._reader.info if self._reader is not None or self._facts is None else self._facts

    @property
    def frame_count(self) -> int:
        return int(self.info.frame_count)

    @property
    def pixel_aspect(self) -> float:
        """How wide a plate pixel is shown (anamorphic plates): the project's record when set
        (it may say what an untagged file does not), else the file's tag."""
        if self._pixel_aspect is not None:
            return self._pixel_aspect
        return float(getattr(self.info, "pixel_aspect", 1.0) or 1.0)

    @pixel_aspect.setter
    def pixel_aspect(self, value: float | None) -> None:
        self._pixel_aspect = None if value is None else float(value)

    def get(self, index: int) -> np.ndarray:
        """Frame `index` as uint8 HxWx3 (decoded once, then cached)."""
        reader = self.reader  # a deferred reader opens here, outside the cache's lock
        with self._lock:
            frame = self._frames.get(index)
            if frame is not None:
                self._frames.move_to_end(index)
                return frame
            cs = self.display_colorspace
            if cs:
                from core.media.colour import display_rgb8

                frame = np.ascontiguousarray(display_rgb8(reader.read(index), cs))
            else:
                frame = np.ascontiguousarray(reader.read_rgb8(index))
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
