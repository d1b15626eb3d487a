"""Frame-accurate media input: video files (PyAV), image sequences and stills.

`open_media(path)` returns a `Reader` whose `read(i)` always gives the same picture for
frame i, whatever order frames are asked for:

* Video: a presentation-timestamp (pts) table is built once by demuxing the packets (no
  decode), honouring edit lists (packets the demuxer marks as discarded are not frames) and a
  first pts that is not 0. Frame i is the i-th smallest pts. Random access seeks to a keyframe
  at or before the target and decodes forward; asking for the next frame never seeks. Frames
  that come out of the decoder before the keyframe we seeked to (open-GOP leading pictures)
  are never trusted. A small LRU cache (by bytes) keeps recent decoded pictures.
  The frame count is exact: leading pictures the decoder drops and a damaged tail (cut-off
  recording) are checked by decoding the first and last GOP when the file is opened.
* Image sequences: ``shot.####.exr``, ``shot.%04d.png`` or one member file (``shot.1001.exr``);
  numbering start is kept as ``first_frame_number``; a gap in the numbering is an error at open
  that names the missing frames (a compositor would render black/err there; we never guess).
* Stills: a single image is one-frame media.

Pixel contract of `read()`: HxWx3 (or HxWx4 with alpha), C-contiguous; uint8 for 8-bit
sources, uint16 for deeper integer sources (10/12-bit video scaled to the full 16-bit range),
float32 for EXR/float TIFF (values as stored, scene-linear). YUV video is converted with the
stream's own matrix and range tags; where the matrix is untagged we assume BT.709 for HD and
larger, BT.601 below (what players and Nuke do) and say so in `MediaInfo.notes`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import MediaError
from core.media.colour import as_float32, srgb_encode

log = logging.getLogger(__name__)

DEFAULT_SEQUENCE_FPS = Fraction(24)
CACHE_BYTES = 256 * 1024 * 1024
VIDEO_EXTS = {
    ".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mxf", ".mts", ".m2ts", ".ts", ".mpg",
    ".mpeg", ".wmv", ".flv", ".3gp", ".ogv", ".y4m", ".h264", ".264", ".hevc", ".265", ".gif",
}
IMAGE_EXTS = {
    ".exr", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp", ".dpx", ".tga", ".jp2",
    ".sgi", ".pgm", ".ppm", ".pbm", ".hdr",
}

# FFmpeg enum values -> the names ffprobe prints (None for "unspecified").
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
              9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}
_TRANSFER = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
             9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1",
             14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67"}
_MATRIX = {0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
           8: "ycgco", 9: "bt2020nc", 10: "bt2020c", 14: "ictcp"}
_RANGE = {1: "tv", 2: "pc"}
# Matrix tag -> swscale colourspace name understood by PyAV's reformatter.
_SWS_MATRIX = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}


@dataclass
class MediaInfo:
    """What a plate is: size as read() returns it, exact frame count and rate, colour tags."""

    path: str
    kind: str  # 'video' | 'sequence' | 'image'
    width: int
    height: int
    fps: Fraction
    frame_count: int
    first_frame_number: int
    duration_s: float
    codec: str
    pix_fmt: str
    bit_depth: int
    has_alpha: bool
    channels: int
    color_primaries: str | None = None
    color_transfer: str | None = None
    color_matrix: str | None = None
    color_range: str | None = None
    timecode: str | None = None
    rotation: int = 0  # clockwise degrees applied to the stored picture to show it upright
    # width / height of one pixel as shown (anamorphic plates: 2.0 for a 2x squeeze, from the
    # video's sample aspect ratio or the EXR pixelAspectRatio); 1.0 for square pixels
    pixel_aspect: float = 1.0
    # interlaced video: "tff" (top field first) or "bff"; None for progressive pictures
    field_order: str | None = None
    vfr: bool = False
    audio: list[dict] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # assumptions made while reading (say them)

    def to_json(self) -> dict:
        """A json-serialisable dict; fps as "num/den" plus fps_float."""
        out = asdict(self)
        out["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        out["fps_float"] = float(self.fps)
        out["metadata"] = {str(k): _json_value(v) for k, v in self.metadata.items()}
        return out


class Reader:
    """Random-access frame reader (context manager). Use `open_media()` to get one."""

    info: MediaInfo

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.info.frame_count

    def _check_index(self, index: int) -> int:
        n = self.info.frame_count
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an int, not {type(index).__name__}")
        if index < 0 or index >= n:
            raise IndexError(f"frame {index} is outside {self.info.path} (frames 0..{n - 1})")
        return int(index)

    def read(self, index: int) -> np.ndarray:
        """Frame `index` (0-based, presentation order) at native depth; see module docstring."""
        raise NotImplementedError

    def read_rgb8(self, index: int) -> np.ndarray:
        """Frame `index` as uint8 HxWx3 display-referred RGB (what face analysis uses)."""
        return to_rgb8(self.read(index))

    def frames(self, start: int = 0, stop: int | None = None, rgb8: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, picture) for start <= index < stop, decoding sequentially."""
        stop = self.info.frame_count if stop is None else min(stop, self.info.frame_count)
        for i in range(max(0, start), stop):
            yield i, (self.read_rgb8(i) if rgb8 else self.read(i))

    def frame_time(self, index: int) -> float:
        """Seconds from the first frame to frame `index`."""
        return self._check_index(index) / float(self.info.fps)

    def close(self) -> None:
        """Release files and decoders; the reader cannot be used afterwards."""


# --------------------------------------------------------------------------- conversions


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """Native-depth picture -> uint8 HxWx3 display RGB (alpha dropped, float treated as linear sRGB).

    Every analysed and rendered frame of a 10/12-bit or float plate passes through here, so it
    runs on OpenCV's threaded kernels: a 4K frame costs about 10 ms from 16-bit (numpy integer
    maths took 120) and 150 ms from float (numpy's power took 550-1900). 16-bit is exact (the
    nearest code of value / 257); float is the nearest code of the sRGB-encoded value, which
    float32 rounding moves by one code for about 1 value in 100 000."""
    if img.ndim == 3 and img.shape[2] in (3, 4) and img.shape[0] > 0 and img.shape[1] > 0:
        import cv2  # imported here: probing a file needs no OpenCV

        if img.dtype == np.uint16:
            return cv2.convertScaleAbs(_rgb_contiguous(img), alpha=1.0 / 257.0)
        if np.issubdtype(img.dtype, np.floating):
            return _linear_to_srgb8(img)
    rgb = img[..., :3]
    if rgb.dtype == np.uint8:
        out = rgb
    elif rgb.dtype == np.uint16:
        out = ((rgb.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif np.issubdtype(rgb.dtype, np.floating):
        enc = srgb_encode(np.nan_to_num(rgb.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0))
        out = (enc * 255.0 + 0.5).astype(np.uint8)
    else:
        raise MediaError(f"cannot convert pixels of type {rgb.dtype} to 8-bit RGB")
    return np.ascontiguousarray(out)


def _rgb_contiguous(img: np.ndarray) -> np.ndarray:
    """The first three channels as a C-contiguous array (a copy only where one is needed)."""
    import cv2

    if img.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGBA2RGB)
    return np.ascontiguousarray(img)


def _linear_to_srgb8(img: np.ndarray) -> np.ndarray:
    """Scene-linear float RGB(A) -> 8-bit sRGB: NaN and below 0 -> 0, above 1 (and +inf) -> 255.

    The transfer of core.media.colour.srgb_encode with the 8-bit scale fused into its last pass:
    srgb_encode followed by a scale to 8 bits costs 60 % more on a 4K frame (measured)."""
    import cv2

    h, w = img.shape[:2]
    if img.dtype == np.float16:  # OpenCV's kernels want float32; a new array, so no copy below
        x = _rgb_contiguous(as_float32(img))
    elif img.dtype != np.float32:  # double
        x = np.array(img[..., :3], np.float32, order="C")
    else:
        x = _rgb_contiguous(img)
        if np.shares_memory(x, img):
            x = x.copy()  # the caller's frame is not touched
    x = x.reshape(h, w * 3)
    cv2.patchNaNs(x, 0.0)
    cv2.min(x, 1.0, dst=x)
    cv2.max(x, 0.0, dst=x)
    # the power segment everywhere, then the linear toe (x <= 0.0031308, codes 0-10) over it
    out = cv2.convertScaleAbs(cv2.pow(x, 1.0 / 2.4), alpha=1.055 * 255.0, beta=-0.055 * 255.0)
    cv2.copyTo(cv2.convertScaleAbs(x, alpha=12.92 * 255.0), cv2.compare(x, 0.0031308, cv2.CMP_LE), out)
    return out.reshape(h, w, 3)


def _to_3or4(img: np.ndarray) -> np.ndarray:
    """Grayscale -> 3 channels, gray+alpha -> RGBA, keep 3/4 channels."""
    if img.ndim == 2:
        img = img[:, :, None]
    c = img.shape[2]
    if c == 1:
        img = np.repeat(img, 3, axis=2)
    elif c == 2:
        img = np.concatenate([np.repeat(img[:, :, :1], 3, axis=2), img[:, :, 1:2]], axis=2)
    elif c > 4:
        img = img[:, :, :4]
    return np.ascontiguousarray(img)


def _rotate(img: np.ndarray, clockwise: int) -> np.ndarray:
    if clockwise % 360 == 0:
        return img
    return np.ascontiguousarray(np.rot90(img, k=-(clockwise // 90)))


def _mirrored_orientation(frame: Any) -> tuple[bool, bool, bool] | None:
    """(transpose, flip x, flip y) that shows a frame as its display matrix says, when that matrix
    mirrors the picture (determinant < 0); None for a plain rotation (or no matrix), which
    `frame.rotation` describes. FFmpeg's matrix maps a stored pixel (x, y) to x' = a x + c y,
    y' = b x + d y: with b = c = 0 each axis flips where a or d is negative; with a = d = 0 the
    axes swap (a transpose), x flipping where c is negative and y where b is."""
    try:
        for sd in frame.side_data:
            if "DISPLAYMATRIX" not in str(sd.type):
                continue
            m = np.frombuffer(bytes(sd), dtype="<i4")
            if m.size < 5:
                return None
            a, b, c, d = (float(m[i]) / 65536.0 for i in (0, 1, 3, 4))
            if a * d - b * c >= 0:
                return None
            if abs(b) < 0.5 and abs(c) < 0.5:
                return False, a < 0, d < 0
            if abs(a) < 0.5 and abs(d) < 0.5:
                return True, c < 0, b < 0
            return None
    except Exception:  # noqa: BLE001 - side data this PyAV cannot give: the rotation alone, as before
        return None
    return None


def _orient(img: np.ndarray, transpose: bool, flip_x: bool, flip_y: bool) -> np.ndarray:
    if transpose:
        img = np.swapaxes(img, 0, 1)
    if flip_x:
        img = img[:, ::-1]
    if flip_y:
        img = img[::-1]
    return np.ascontiguousarray(img)


# --------------------------------------------------------------------------- LRU cache


class _FrameCache:
    """LRU of decoded pictures bounded by bytes; callers get copies so the cache stays intact."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, index: int) -> np.ndarray | None:
        img = self._items.get(index)
        if img is None:
            return None
        self._items.move_to_end(index)
        return img.copy()

    def put(self, index: int, img: np.ndarray) -> None:
        if index in self._items:
            return
        self._items[index] = img
        self._bytes += img.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 2:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0


# --------------------------------------------------------------------------- video


def _av():
    import av  # imported lazily: stills-only users never pay for it

    return av


def _fmt_timecode(tc: Any) -> str | None:
    if not tc:
        return None
    s = str(tc).strip()
    return s or None


def _container_index(c: Any, st: Any, path: Path) -> tuple[list[int], list[int], dict[int, int], int] | None:
    """(pts, keyframe pts, keyframe dts, discarded count) from the container's own sample
    tables, read without touching a packet; None where that index cannot stand in for demuxing.

    Demuxing reads the whole file: a multi-gigabyte 4K ProRes plate was read end to end each time
    it was opened (studio, probe, analysis, every render). For an intra-only codec in MOV/MP4
    every sample is a keyframe and presentation order is decode order, so the index FFmpeg built
    from the sample tables (edit lists applied, leading samples marked discarded) gives the same
    table. Anything else (long-GOP codecs, other containers, an index that disagrees with the
    stream's frame count, or samples past the end of a cut-off file) is demuxed as before."""
    try:
        if not getattr(st.codec_context.codec, "intra_only", False):
            return None
        if "mov" not in str(getattr(c.format, "name", "")).split(","):
            return None
        entries = st.index_entries
        n = len(entries)
        if n == 0 or (st.frames and n != int(st.frames)):
            return None
        size = os.path.getsize(path)
        pts: list[int] = []
        key_pts: list[int] = []
        key_dts: dict[int, int] = {}
        discarded = 0
        for e in entries:
            if e.size <= 0 or e.pos < 0 or e.pos + e.size > size or not e.is_keyframe:
                return None
            t = int(e.timestamp)
            key_pts.append(t)
            key_dts[t] = t
            if e.is_discard:
                discarded += 1
            else:
                pts.append(t)
        if not pts or any(b <= a for a, b in zip(pts, pts[1:], strict=False)):
            return None
        return pts, key_pts, key_dts, discarded
    except (AttributeError, TypeError, ValueError, OSError):
        return None


@dataclass(frozen=True)
class _Demuxed:
    """What demuxing a video stream found (the pts table and its damage), for _INDEX_MEMO."""

    pts: tuple[int, ...]
    key_pts: tuple[int, ...]
    key_dts: tuple[tuple[int, int], ...]
    missing_pts: int
    discarded: int
    corrupt: int
    error: str | None
    intra_indexed: bool
    last_duration: int = 0  # the last frame's duration in ticks (from the track's end); 0 when unknown


_INDEX_MEMO: OrderedDict[tuple, _Demuxed] = OrderedDict()
_INDEX_MEMO_SIZE = 32
_INDEX_LOCK = threading.Lock()


def _file_key(path: Path, stream_index: int) -> tuple | None:
    """Who a file is and which state it is in: (real path, device, inode, size, mtime in ns,
    stream); None when it cannot be stat'ed. A file rewritten, grown or replaced gets a new key."""
    try:
        st = os.stat(path)
        return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, stream_index)
    except OSError:
        return None


def _memo_get(key: tuple | None) -> _Demuxed | None:
    if key is None:
        return None
    with _INDEX_LOCK:
        hit = _INDEX_MEMO.get(key)
        if hit is not None:
            _INDEX_MEMO.move_to_end(key)
        return hit


def _memo_put(key: tuple | None, value: _Demuxed) -> None:
    if key is None:
        return
    with _INDEX_LOCK:
        _INDEX_MEMO[key] = value
        _INDEX_MEMO.move_to_end(key)
        while len(_INDEX_MEMO) > _INDEX_MEMO_SIZE:
            _INDEX_MEMO.popitem(last=False)


class VideoReader(Reader):
    """A video file read frame-accurately through PyAV (see module docstring)."""

    def __init__(self, path: Path, fps: Fraction | None = None) -> None:
        av = _av()
        self._path = path
        self._lock = threading.RLock()
        self._cache = _FrameCache()
        try:
            self._container = av.open(str(path), mode="r", metadata_errors="replace")
        except av.error.FileNotFoundError as exc:
            raise MediaError(f"{path}: file not found; check the path.") from exc
        except av.error.InvalidDataError as exc:
            raise MediaError(
                f"{path}: not a readable video (damaged, incomplete, e.g. a recording that was cut off, "
                f"or not a media file at all); re-export or re-copy the file."
            ) from exc
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"{path}: cannot open as video ({exc}); check the file and its permissions.") from exc
        try:
            self._setup(fps)
        except BaseException:
            self._container.close()
            raise

    # -- opening -----------------------------------------------------------------------

    def _setup(self, fps_override: Fraction | None) -> None:
        av = _av()
        c = self._container
        if not c.streams.video:
            kinds = sorted({s.type for s in c.streams}) or ["nothing"]
            raise MediaError(
                f"{self._path}: has no video stream (it holds {', '.join(kinds)}); give a video file, "
                f"an image sequence or a still."
            )
        # the default video stream: the first that is not an attached picture (cover art)
        streams = [s for s in c.streams.video if not (s.disposition & 0x400)] or list(c.streams.video)
        st = streams[0]
        self._stream = st
        cc = st.codec_context
        if cc is None or not getattr(cc, "name", None) or cc.name == "none":
            raise MediaError(
                f"{self._path}: its video codec is not supported by this build of FFmpeg/PyAV; "
                f"transcode it (e.g. to ProRes or H.264) first."
            )
        st.thread_type = "AUTO"
        st.thread_count = 0
        self._tb = st.time_base or Fraction(1, 90000)

        # 1. pts table by demuxing (no decode)
        pts: list[int] = []
        key_pts: list[int] = []
        key_dts: dict[int, int] = {}
        missing_pts = 0
        discarded = 0
        corrupt = 0
        self._safe = False
        self._demux_error: str | None = None
        self._dropped_tail = 0
        self._alpha_bits = 0
        self._rgb_gain: float | None = None
        self._mirror: tuple[bool, bool, bool] | None = None
        # for tests and benchmarks: seeks made, pictures decoded, where the frame table came from
        # ("demux": every packet read; "container": the sample tables; "memo": an earlier open)
        self.stats: dict[str, Any] = {"seeks": 0, "decoded": 0, "index": ""}
        self._first_frame = self._first_img_frame = None
        self._pts = np.zeros(0, dtype=np.int64)
        # A long-GOP file is demuxed packet by packet, which reads all of it: each open of a long
        # camera original (bin thumbnail, viewer, probe, analysis, render set-up) read it again.
        # What demuxing found is kept per file state for this process (_file_key: a rewritten or
        # grown file is demuxed again); the first and last pictures are still decoded below.
        file_key = _file_key(self._path, st.index)
        memo = _memo_get(file_key)
        indexed = _container_index(c, st, self._path) if memo is None else None
        self._intra_indexed = memo.intra_indexed if memo is not None else indexed is not None
        last_duration = 0  # the last frame's duration in ticks (the track's end): a VFR movie's own end
        try:
            if memo is not None:
                pts, key_pts, key_dts = list(memo.pts), list(memo.key_pts), dict(memo.key_dts)
                missing_pts, discarded, corrupt = memo.missing_pts, memo.discarded, memo.corrupt
                self._demux_error = memo.error
                last_duration = memo.last_duration
            elif indexed is not None:
                pts, key_pts, key_dts, discarded = indexed
            for pkt in (c.demux(st) if indexed is None and memo is None else ()):
                if pkt.size == 0 and pkt.dts is None:
                    continue
                if pkt.is_keyframe and pkt.pts is not None:
                    # discarded keyframes (before an edit list start) are still seek points
                    key_pts.append(pkt.pts)
                    key_dts[pkt.pts] = pkt.dts if pkt.dts is not None else pkt.pts
                if pkt.is_corrupt:
                    corrupt += 1
                if pkt.is_discard:
                    discarded += 1
                    continue
                if pkt.pts is None:
                    missing_pts += 1
                    continue
                pts.append(pkt.pts)
        except (av.error.FFmpegError, OSError) as exc:
            self._demux_error = str(exc)
        if self._demux_error:  # found now or by the open the memo comes from: said at every open
            log.warning("%s: stopped reading packets after %d frames: %s", self._path, len(pts), self._demux_error)
        self.stats["index"] = "memo" if memo is not None else "container" if indexed is not None else "demux"
        if memo is None and pts:
            # the track's end (its last frame's own duration); not a packet's: with B-frames the
            # packet presented last carries its decode-order sample's duration
            last_duration = _track_end(st) - max(pts)
        if memo is None:
            _memo_put(file_key, _Demuxed(tuple(pts), tuple(key_pts), tuple(key_dts.items()), missing_pts, discarded,
                                         corrupt, self._demux_error, self._intra_indexed, last_duration))
        self._packets_read = len(pts) + missing_pts + discarded
        self._counting = bool(missing_pts) or len(set(pts)) != len(pts)
        if self._counting:
            # no usable timestamps (raw elementary streams, broken muxers): count by decoding
            log.warning("%s: packets carry no usable timestamps; counting frames by decoding the file", self._path)
            pts = self._count_by_decoding()
            key_pts = [pts[0]] if pts else []
            key_dts = {pts[0]: pts[0]} if pts else {}
        listed = int(st.frames or 0)
        self._cut_off = bool(self._demux_error) or listed > self._packets_read  # the file ends before its index
        if not self._counting and (corrupt or self._cut_off):
            # damaged file: frame-threaded decoding loses a varying number of pictures around bad
            # packets, so decode with slice threads only and the same pictures come out every time
            log.warning("%s: damaged or cut-off file; decoding it without frame threads", self._path)
            self._safe = True
            self._reopen()
        # the container may have been reopened: never touch the old stream objects again
        c, st = self._container, self._stream
        cc = st.codec_context
        pts.sort()
        if not pts:
            raise MediaError(f"{self._path}: the video stream has no frames; the file is empty or damaged.")
        self._pts = np.asarray(pts, dtype=np.int64)
        self._key_pts = sorted(set(key_pts)) or [int(self._pts[0])]
        self._key_dts = key_dts
        self._rebuild_maps()

        # 2. first GOP: decode the first picture (also: true pixel format, rotation, colour tags)
        self._nonmono = False
        if not self._counting:
            self._verify_head()
            if not self._nonmono:
                self._verify_tail()
            if self._nonmono:
                # decoded timestamps are not presentation times (e.g. AVI): number frames by output order
                log.warning("%s: timestamps are in decode order; counting frames by decoding the file", self._path)
                self._counting = True
                self._pts = np.asarray(self._count_by_decoding(), dtype=np.int64)
                self._key_pts, self._key_dts = [0], {0: 0}
                self._rebuild_maps()
                c, st = self._container, self._stream
                cc = st.codec_context
        first = self._first_frame
        if first is None:
            raise MediaError(f"{self._path}: no frame of the video could be decoded ({cc.name}); the file is damaged.")

        # 3. info
        fmt = first.format
        pix_fmt = fmt.name
        bits = max((comp.bits for comp in fmt.components), default=8)
        has_alpha = any(getattr(comp, "is_alpha", False) for comp in fmt.components)
        self._out_fmt = ("rgba" if has_alpha else "rgb24") if bits <= 8 else ("rgba64le" if has_alpha else "rgb48le")
        alpha_bits = [comp.bits for comp in fmt.components if getattr(comp, "is_alpha", False)]
        self._alpha_bits = alpha_bits[0] if alpha_bits and 8 < alpha_bits[0] < 16 else 0
        rot_ccw = int(round(first.rotation or 0))
        if not rot_ccw and "rotate" in st.metadata:
            try:
                rot_ccw = -int(float(st.metadata["rotate"]))
            except ValueError:
                rot_ccw = 0
        self._rotation = (-rot_ccw) % 360  # clockwise degrees to apply
        if self._rotation % 90:
            log.warning("%s: rotation %d is not a multiple of 90; ignored", self._path, self._rotation)
            self._rotation = 0
        # a display matrix that mirrors (a front camera's clip, an edit's flop) is not a rotation:
        # PyAV gives its angle only (a horizontal flip read as 180 degrees: the picture upside down)
        self._mirror = _mirrored_orientation(first)
        w, h = first.width, first.height
        par = _sample_aspect(st)
        if self._mirror is not None:
            self._rotation = 0
            if self._mirror[0]:
                w, h = h, w
                par = 1.0 / par
        elif self._rotation in (90, 270):
            w, h = h, w
            par = 1.0 / par  # a pixel 2x wide on the stored picture is 2x tall on the upright one
        notes: list[str] = anamorphic_notes(w, h, par)
        if self._mirror is not None:
            notes.append("mirrored by its display matrix" + (" and turned a quarter" if self._mirror[0] else "")
                         + ": read as players show it")
        field_order = _field_order(st, first)
        if field_order:
            notes.append(f"interlaced ({'top' if field_order == 'tff' else 'bottom'} field first): each frame holds two "
                         "fields half a frame apart, so moving faces are combed; faces are measured on one field "
                         "(line-doubled), and renders keep the interlaced frames. Deinterlace the plate first for "
                         "full vertical detail")
        matrix = int(first.colorspace or 2)
        crange = int(first.color_range or 0)
        self._src_cs = None
        self._src_range = None
        if not fmt.is_rgb:
            if matrix in _SWS_MATRIX:
                self._src_cs = _SWS_MATRIX[matrix]
            else:
                self._src_cs = "ITU709" if (first.width >= 1280 or first.height >= 720) else "ITU601"
                notes.append(
                    f"colour matrix not tagged: decoded as {'BT.709' if self._src_cs == 'ITU709' else 'BT.601'} "
                    f"(by picture size)"
                )
            if crange == 2 or pix_fmt.startswith("yuvj"):
                self._src_range = "JPEG"
            else:
                self._src_range = "MPEG"
                if crange == 0:
                    notes.append("colour range not tagged: decoded as limited (tv) range")
        # swscale widens deep Y'CbCr to 16-bit RGB short of full scale (limited-range white 940 -> 65283,
        # full-range 1023 -> 65472): every 10/12-bit plate came back 0.1-0.4 % darker, and so did each
        # convert and render of it. The shortfall is one gain, measured once per format on a white frame.
        self._rgb_gain = _sws_white_gain(pix_fmt, self._src_cs, self._src_range, self._out_fmt) \
            if bits > 8 and self._src_cs is not None else None
        if self._demux_error:
            notes.append(f"file ends early ({self._demux_error}); only the {len(self._pts)} complete frames are used")
        if not self._demux_error and listed > self._packets_read:
            notes.append(f"file ends early: its index lists {listed} frames but only {self._packets_read} are present "
                         f"(cut-off copy or recording?); the frames present are used")
        if self._dropped_tail:
            notes.append(f"{self._dropped_tail} damaged frame(s) at the end could not be decoded and are not counted")

        n = len(self._pts)
        if self._counting:
            rate = fps_override or st.average_rate or st.guessed_rate or Fraction(25)
            durs_vfr = False
            duration = n / float(rate)
        else:
            span = int(self._pts[-1] - self._pts[0])
            deltas = np.diff(self._pts)
            durs_vfr = bool(len(deltas) > 1 and (deltas.max() - deltas.min()) > max(1, 0.01 * np.median(deltas)))
            stored = _stored_nominal(c.metadata)  # a movie we wrote of a VFR plate: the plate's rate
            rate = fps_override or stored or _rate_of(st, deltas, self._tb, durs_vfr)
            last_dur = float(np.median(deltas)) if len(deltas) else (1.0 / float(rate)) / float(self._tb)
            longest = max(int(deltas.max()) if len(deltas) else 0, int(1 / (rate * self._tb)))
            if (durs_vfr or stored) and 0 < last_duration <= 4 * longest:
                last_dur = float(last_duration)  # the container's own last frame: a VFR movie's real end
            duration = float((span + last_dur) * self._tb)
            if durs_vfr:
                notes.append(f"variable frame rate: nominal {float(rate):.3f} fps, average "
                             f"{n / max(duration, 1e-9):.3f} fps; frame times come from the timestamps")
        tc = _fmt_timecode(st.metadata.get("timecode"))
        if not tc:
            for s in c.streams:
                if s.metadata.get("timecode"):
                    tc = _fmt_timecode(s.metadata["timecode"])
                    break
        if not tc:
            tc = _fmt_timecode(c.metadata.get("timecode"))
        audio = []
        for a in c.streams.audio:
            acc = a.codec_context
            audio.append({
                "index": a.index,
                "codec": acc.name if acc is not None else None,
                "sample_rate": int(acc.sample_rate) if acc is not None and acc.sample_rate else None,
                "channels": int(acc.channels) if acc is not None else None,
                "layout": getattr(getattr(acc, "layout", None), "name", None),
                "language": a.metadata.get("language"),
            })
        self.info = MediaInfo(
            path=str(self._path), kind="video", width=w, height=h, fps=Fraction(rate), frame_count=n,
            first_frame_number=0, duration_s=duration, codec=cc.name, pix_fmt=pix_fmt, bit_depth=int(bits),
            has_alpha=has_alpha, channels=4 if has_alpha else 3,
            color_primaries=_PRIMARIES.get(int(first.color_primaries or 2)),
            color_transfer=_TRANSFER.get(int(first.color_trc or 2)),
            color_matrix=_MATRIX.get(matrix) if not fmt.is_rgb else "gbr",
            color_range=_RANGE.get(crange),
            timecode=tc, rotation=self._rotation, pixel_aspect=par, field_order=field_order, vfr=durs_vfr,
            audio=audio,
            metadata=dict(c.metadata), notes=notes,
        )
        if self._first_img_frame is not None:
            self._cache.put(0, self._convert(self._first_img_frame))
        self._first_frame = self._first_img_frame = None

    def _rebuild_maps(self) -> None:
        """pts -> index, and the seek points: (frame index, keyframe pts), one per index."""
        self._index_of = {int(p): i for i, p in enumerate(self._pts)}
        seek: dict[int, int] = {}
        for kp in self._key_pts:
            idx = int(np.searchsorted(self._pts, kp, side="left"))
            if idx < len(self._pts):
                seek[idx] = max(seek.get(idx, kp), kp)
        if 0 not in seek:
            seek[0] = min([int(self._pts[0])] + [k for k in self._key_pts if k < self._pts[0]])
        self._key_index = np.asarray(sorted(seek), dtype=np.int64)
        self._key_at = seek

    def _count_by_decoding(self) -> list[int]:
        """Streams without timestamps: the frame number is the decode output order."""
        log.info("%s: counting frames by decoding the whole file", self._path)
        self._reopen()
        n = 0
        self._first_frame = self._first_img_frame = None
        for frame in self._decoded_frames():
            if self._first_frame is None:
                self._first_frame = self._first_img_frame = frame
            n += 1
        self._reset_decoder(seek=True)
        return list(range(n))

    def _decoded_frames(self) -> Iterator[Any]:
        """Decode from the container's current position; damaged packets are skipped, not fatal."""
        av = _av()
        st = self._stream
        try:
            for pkt in self._container.demux(st):
                try:
                    yield from st.codec_context.decode(pkt)
                except av.error.EOFError:
                    return
                except (av.error.FFmpegError, ValueError) as exc:
                    log.debug("%s: undecodable packet pts=%s: %s", self._path, pkt.pts, exc)
        except (av.error.FFmpegError, OSError) as exc:
            log.warning("%s: reading stopped: %s", self._path, exc)
            try:
                yield from st.codec_context.decode(None)
            except (av.error.FFmpegError, ValueError):
                return

    def _verify_head(self) -> None:
        """Decode from the start: drop leading pictures the decoder never outputs; keep frame 0."""
        self._reset_decoder(seek=True)
        self._first_frame = self._first_img_frame = None
        first_pts = None
        seen: list[int] = []
        for frame in self._gen:
            if frame.pts is None or frame.pts not in self._index_of:
                continue
            if first_pts is None:
                first_pts = frame.pts
                self._first_frame = self._first_img_frame = frame
            seen.append(frame.pts)
            # an intra-only stream indexed from its sample tables cannot reorder: its first
            # picture is enough (24 of them cost a second per open on a 4K ProRes plate)
            if len(seen) >= (1 if self._intra_indexed else 24):
                break
        if any(b <= a for a, b in zip(seen, seen[1:], strict=False)):
            self._nonmono = True
            return
        if first_pts is None:
            return
        idx = self._index_of[first_pts]
        if idx > 0:
            log.warning("%s: the first %d frame(s) cannot be decoded (open GOP at start); skipped", self._path, idx)
            self._pts = self._pts[idx:]
            self._rebuild_maps()
        self._next = self._index_of[seen[-1]] + 1 if seen[-1] in self._index_of else None

    def _verify_tail(self) -> None:
        """Decode the last GOP: frames listed but not decodable (cut-off file) are dropped from the count."""
        self._dropped_tail = 0
        n = len(self._pts)
        if n <= 1:
            return
        k = int(self._key_index[np.searchsorted(self._key_index, n - 1, side="right") - 1])
        if k == 0 and self._demux_error is None and n > 600:
            return  # one huge GOP (intra-refresh): too costly to check at open; errors surface on read
        seen: set[int] = set()
        order: list[int] = []
        self._seek_to_key(k)
        for frame in self._gen:
            if frame.pts is not None and frame.pts in self._index_of:
                seen.add(self._index_of[frame.pts])
                order.append(frame.pts)
        if any(b <= a for a, b in zip(order, order[1:], strict=False)):
            self._nonmono = True
            return
        expected = set(range(k, n))
        missing = sorted(expected - seen)
        # every frame of an intra-only stream is a keyframe, so a picture cut off at the end is
        # the last keyframe itself: it counts as a damaged tail too (not for long-GOP streams,
        # where a keyframe that does not decode is not evidence of a cut)
        intra = bool(getattr(self._stream.codec_context.codec, "intra_only", False))
        if missing and (missing[0] > k or (intra and missing[0] == k > 0)):
            # only drop a damaged *tail*; holes in the middle are reported when read
            keep = missing[0]
            # a tail is damaged where the file is cut off (B-frames may still put out a later picture)
            # or its last frame is lost; one damaged frame mid-GOP in a whole file (the rest decode,
            # the last one too) dropped all that followed it as a "damaged tail"
            cut = self._cut_off or missing[-1] == n - 1
            if cut and all(m >= keep for m in missing):
                self._dropped_tail = n - keep
                log.warning("%s: %d damaged frame(s) at the end are not counted", self._path, self._dropped_tail)
                self._pts = self._pts[:keep]
                self._rebuild_maps()
        self._reset_decoder(seek=False)
        self._next = None

    # -- decoding ------------------------------------------------------------------------

    def _reopen(self) -> None:
        """Start reading the file again from the top (streams that cannot seek, e.g. raw H.264)."""
        av = _av()
        index = self._stream.index
        self._container.close()
        self._container = av.open(str(self._path), mode="r", metadata_errors="replace")
        self._stream = self._container.streams[index]
        self._stream.thread_type = "SLICE" if self._safe else "AUTO"
        self._stream.thread_count = 0

    def _reset_decoder(self, seek: bool) -> None:
        if seek:
            self.stats["seeks"] += 1
            if self._counting:
                self._reopen()
            else:
                try:
                    # by decode time: a transport stream's first keyframe decodes before it is shown
                    # (dts 0, pts 3000); a seek to its pts landed past it, and the first GOP was lost
                    self._container.seek(self._seek_ts(int(self._pts[0])), stream=self._stream, backward=True,
                                         any_frame=False)
                except _av().error.FFmpegError:
                    self._reopen()
        self._stream.codec_context.flush_buffers()
        self._gen = self._decoded_frames()
        self._next: int | None = 0 if seek else None
        self._floor_pts: int | None = None
        self._first_seen: int | None = None

    def _seek_ts(self, key_pts: int) -> int:
        """Where a seek to the keyframe shown at `key_pts` goes: its decode time when that is earlier
        (a transport stream's keyframe decodes before it is shown: a seek to its pts lands past it)."""
        return min(self._key_dts.get(key_pts, key_pts), key_pts)

    def _seek_to_key(self, key_index: int) -> None:
        """Position the decoder at the keyframe of seek point `key_index` (or an earlier one)."""
        av = _av()
        p = self._key_at.get(key_index, int(self._pts[0]))
        self.stats["seeks"] += 1
        try:
            self._container.seek(self._seek_ts(p), stream=self._stream, backward=True, any_frame=False)
        except av.error.FFmpegError:
            self._container.seek(0)
        self._stream.codec_context.flush_buffers()
        self._gen = self._decoded_frames()
        self._next = None
        self._floor_pts = p  # pictures before the keyframe (open-GOP leading ones) are not trusted
        self._first_seen: int | None = None

    def _convert(self, frame: Any) -> np.ndarray:
        if self._src_cs is not None:
            frame = frame.reformat(format=self._out_fmt, src_colorspace=self._src_cs,
                                   src_color_range=self._src_range, dst_color_range="JPEG")
        img = frame.to_ndarray(format=self._out_fmt)
        if img.ndim == 2:
            img = img[:, :, None]
        if self._rgb_gain is not None:  # scaled back to full scale (see _sws_white_gain), saturated
            import cv2

            # addWeighted: rounding and saturation in one pass (1 ms at 1080p; a numpy or cv2.multiply
            # pass took 16-25 ms, more than the decode)
            scaled = cv2.addWeighted(np.ascontiguousarray(img), self._rgb_gain, img, 0.0, 0.0)
            if img.shape[2] == 4:
                scaled[:, :, 3] = img[:, :, 3]  # alpha is not colour
            img = scaled
        if self._alpha_bits and img.shape[2] == 4:
            # swscale widens 10/12-bit alpha slightly short of full scale (1023 -> 65520): requantise
            # so opaque stays exactly 65535
            m = float((1 << self._alpha_bits) - 1)
            a = img[:, :, 3].astype(np.float32)
            img[:, :, 3] = (np.round(np.round(a * (m / 65535.0)) * (65535.0 / m))).astype(np.uint16)
        if self._mirror is not None:
            return _orient(img, *self._mirror)
        return _rotate(np.ascontiguousarray(img), self._rotation)

    def _advance_to(self, target: int) -> np.ndarray | None:
        """Decode forward from the current position until `target`; None if it never appears."""
        for frame in self._gen:
            self.stats["decoded"] += 1
            if self._counting:
                idx = self._next if self._next is not None else 0
                self._next = idx + 1
            else:
                if frame.pts is None or frame.pts not in self._index_of:
                    continue
                if self._floor_pts is not None and frame.pts < self._floor_pts:
                    continue
                idx = self._index_of[frame.pts]
                if self._first_seen is None:
                    self._first_seen = idx
                self._next = idx + 1
            if idx == target:
                return self._convert(frame)
            if idx > target:
                return None
            if target - idx <= 2:
                self._cache.put(idx, self._convert(frame))
        self._next = None
        return None

    def read(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        with self._lock:
            img = self._cache.get(index)
            if img is not None:
                return img
            img = self._decode(index)
            self._cache.put(index, img)
            return img.copy()

    def _decode(self, index: int) -> np.ndarray:
        if self._counting:
            if self._next is None or self._next > index:
                self._reset_decoder(seek=True)
            img = self._advance_to(index)
            if img is None:
                raise MediaError(f"{self._path}: frame {index} could not be decoded; the file is damaged.")
            return img
        ki = int(np.searchsorted(self._key_index, index, side="right") - 1)
        key = int(self._key_index[max(ki, 0)])
        pos = self._next
        if pos is not None and pos <= index and (pos > key or index - pos < 8):
            img = self._advance_to(index)
            if img is not None:
                return img
        # seek to the keyframe before the target; step back further if the decoder disagrees
        tries = 0
        while ki >= 0:
            self._seek_to_key(int(self._key_index[ki]))
            img = self._advance_to(index)
            if img is not None:
                return img
            if self._first_seen is not None and self._first_seen <= index:
                break  # decoded past the target from a good keyframe: the frame itself is damaged
            ki -= 1
            tries += 1
            if tries > 3 and ki > 0:
                ki = 0  # the index lies about keyframes: go to the start once
        if not self._safe:
            log.warning("%s: frame %d not decoded; retrying without frame threads", self._path, index)
            self._safe = True
            self._reopen()
            self._gen = iter(())
            self._next = None
            return self._decode(index)
        raise MediaError(
            f"{self._path}: frame {index} could not be decoded (damaged data); re-export the file "
            f"or trim the shot to exclude it."
        )

    def frames(self, start: int = 0, stop: int | None = None, rgb8: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Sequential decode of [start, stop): one seek at most, then straight decode."""
        stop = self.info.frame_count if stop is None else min(stop, self.info.frame_count)
        i = max(0, start)
        while i < stop:
            with self._lock:
                img = self._cache.get(i)
                if img is None:
                    img = self._decode(i)
            yield i, (to_rgb8(img) if rgb8 else img)
            i += 1

    def frame_time(self, index: int) -> float:
        index = self._check_index(index)
        if self._counting:
            return index / float(self.info.fps)
        return float((int(self._pts[index]) - int(self._pts[0])) * self._tb)

    @property
    def pts(self) -> np.ndarray:
        """The presentation timestamps of every frame, in stream time base units."""
        return self._pts.copy()

    @property
    def time_base(self) -> Fraction:
        """The stream time base: seconds of one `pts` tick."""
        return Fraction(self._tb)

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
            self._gen = iter(())
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - closing twice or after an error is harmless
                pass


_STANDARD_RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                   Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60), Fraction(72), Fraction(90),
                   Fraction(100), Fraction(120000, 1001), Fraction(120), Fraction(240)]


def _snap_rate(r: Fraction, tolerance: float) -> Fraction:
    best = min(_STANDARD_RATES, key=lambda nominal: abs(float(r) / float(nominal) - 1.0))
    return best if abs(float(r) / float(best) - 1.0) <= tolerance else r


def _vfr_nominal_rate(deltas: np.ndarray, tb: Fraction) -> Fraction | None:
    """A VFR video's nominal rate: its typical frame step (the median over time, so a slow-motion
    stretch with more frames than the rest of the clip is not it), then the median of the steps
    within 15 % of it (its jitter). When that step is exactly a
    standard rate's it is the rate unless the mean of those steps says otherwise
    beyond its noise (29.97 in a 1/600 base: steps of 20 ticks and some 21); else that mean's
    rate snapped to the nearest standard rate within 2 % (29.97 vs 30: the nearer); None without steps.

    FFmpeg's r_frame_rate, used before, follows the jitter and the fastest stretch: a phone's
    30 fps clip with +-1 tick jitter read 88/3, 89/3 or 29.97, one with a slow-motion stretch 120."""
    steps = np.asarray(deltas, dtype=np.float64)
    steps = steps[steps > 0]
    if not len(steps):
        return None
    ordered = np.sort(steps)
    by_time = float(ordered[np.searchsorted(np.cumsum(ordered), ordered.sum() / 2)])  # the median over time
    typical = steps[np.abs(steps - by_time) <= 0.15 * by_time]  # its stretch, jitter and all
    median, mean = float(np.median(typical)), float(typical.mean())
    noise = 2 * float(typical.std()) / np.sqrt(len(typical)) if len(typical) > 1 else 0.0
    by_median = 1 / (Fraction(median).limit_denominator(1 << 20) * tb)
    if by_median in _STANDARD_RATES and abs(mean - median) <= noise + 1e-9 * median:
        return by_median  # the typical step is a standard rate's, and the mean does not say otherwise
    return _snap_rate(1 / (Fraction(mean).limit_denominator(1 << 20) * tb), 0.02)


def _track_end(st: Any) -> int:
    """The end of a stream in its ticks (start + duration); 0 when the container does not say."""
    try:
        return int(st.start_time or 0) + int(st.duration or 0) if st.duration else 0
    except (TypeError, ValueError):
        return 0


def _stored_nominal(metadata: Any) -> Fraction | None:
    """The nominal rate our movie writer stored (prores.NOMINAL_FPS_KEY) for a movie of a VFR
    plate; None when absent or not a usable rate. Read back from the frame steps instead, a render
    of a 30 fps plate said 60000/1001, and a `convert --fps` of it moved its timecode."""
    from core.media.prores import NOMINAL_FPS_KEY

    try:
        rate = Fraction(str(metadata.get(NOMINAL_FPS_KEY) or ""))
    except (ValueError, ZeroDivisionError):
        return None
    return rate if 0 < rate <= 1000 else None


def _rate_of(st: Any, deltas: np.ndarray, tb: Fraction, vfr: bool) -> Fraction:
    """Nominal rate: from the typical pts step (exact for CFR), snapped to a standard rate
    when within rounding of one (29.97 stored as 2997/100 -> 30000/1001); a VFR video's from
    its typical step (_vfr_nominal_rate)."""
    if vfr:
        rate = _vfr_nominal_rate(deltas, tb)
        if rate is not None:
            return rate
    if len(deltas):
        step = Fraction(int(np.median(deltas))) * tb
        if step > 0:
            r = 1 / step
            if not vfr and len(deltas) > 1:
                # mean step over the whole clip is exact even with rounded time bases (1/1000)
                r = Fraction(len(deltas)) / (Fraction(int(deltas.sum())) * tb)
            return _snap_rate(r, 0.005 if vfr else 0.0005)
    for r in (st.average_rate, st.guessed_rate, st.base_rate):
        if r and r > 0:
            return _snap_rate(Fraction(r), 0.0005)
    return Fraction(25)


# --------------------------------------------------------------------------- images


def _exr_windows(header: dict) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]] | None:
    """An EXR header's (data window, display window) as (x0, y0, x1, y1); None when it lacks them."""
    try:
        (dx0, dy0), (dx1, dy1) = (tuple(int(v) for v in a) for a in header["dataWindow"])
        (wx0, wy0), (wx1, wy1) = (tuple(int(v) for v in a) for a in header["displayWindow"])
    except (KeyError, TypeError, ValueError):
        return None
    return (dx0, dy0, dx1, dy1), (wx0, wy0, wx1, wy1)


def _overscan(header: dict) -> str:
    """A note when an EXR's data window reaches past its display window (overscan): the picture
    is read inside the display window, and what lies outside it is not in any output."""
    windows = _exr_windows(header)
    if windows is None:
        return ""
    (dx0, dy0, dx1, dy1), (wx0, wy0, wx1, wy1) = windows
    if dx0 >= wx0 and dy0 >= wy0 and dx1 <= wx1 and dy1 <= wy1:
        return ""
    return (f"overscan: the data window ({dx0},{dy0})-({dx1},{dy1}) reaches past the display window "
            f"({wx0},{wy0})-({wx1},{wy1}); the frame is read inside the display window, and the overscan is not "
            "in any render or export")


_EXR_PRIMARIES = {"Linear Rec.709 (sRGB)": "bt709", "ACEScg": "aces_ap1", "ACES2065-1": "aces_ap0",
                  "Linear Rec.2020": "bt2020", "Linear P3-D65": "p3_d65"}


def _exr_primaries(header: dict) -> str | None:
    """The primaries an EXR's colorInteropID or chromaticities name (None when it says none):
    probe said null for every EXR we write, which carries both."""
    if not header.get("colorInteropID") and header.get("chromaticities") is None:
        return None
    from core.media.colour import _tagged_exr_colorspace

    named = _tagged_exr_colorspace({"colorInteropID": header.get("colorInteropID"),
                                    "chromaticities": _json_value(header.get("chromaticities"))})
    return _EXR_PRIMARIES.get(named or "", "other")


def _json_value(v: object) -> object:
    """A header value as JSON: enums by name, boxes and vectors as lists, rates as "num/den"
    (probe printed Python reprs such as "(array([0, 0], dtype=int32), ...)")."""
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (tuple, list)):
        return [_json_value(x) for x in v]
    if hasattr(type(v), "__members__") and hasattr(v, "name"):  # OpenEXR's (pybind11) enums
        return str(v.name)
    return str(v)


def _header_metadata(header: dict, timecode: str | None) -> dict:
    """A still's or sequence's header as JSON values, its channel names listed (a comp's mask.Y
    beside RGBA) and the time code as HH:MM:SS:FF."""
    out = {k: _json_value(v) for k, v in header.items() if k != "channels" and not k.startswith("__")}
    if "channels" in header:
        out["channel_names"] = sorted(str(getattr(c, "name", c)) for c in header["channels"])
    if "timeCode" in header and timecode:
        out["timeCode"] = timecode
    return out


def _read_exr(path: Path) -> tuple[np.ndarray, dict]:
    import OpenEXR

    try:
        f = OpenEXR.File(str(path))
    except Exception as exc:  # noqa: BLE001 - OpenEXR raises plain RuntimeError for damaged files
        raise MediaError(f"{path}: cannot read this EXR ({exc}); the file is damaged or not an EXR.") from exc
    header = f.header()
    chans = f.channels()
    img = None
    for key in ("RGBA", "RGB"):
        if key in chans:
            img = chans[key].pixels
            break
    if img is None and "Y" in chans:
        y = chans["Y"].pixels
        img = np.stack([y, y, y] + ([chans["A"].pixels] if "A" in chans else []), axis=-1)
    if img is None:
        groups: dict[str, dict[str, np.ndarray]] = {}
        for name, ch in chans.items():
            layer, _, comp = name.rpartition(".")
            if comp in ("R", "G", "B", "A", "RGB", "RGBA"):
                groups.setdefault(layer, {})[comp] = ch.pixels
        for _, g in sorted(groups.items()):
            if "RGBA" in g or "RGB" in g:
                img = g.get("RGBA", g.get("RGB"))
                break
            if all(k in g for k in "RGB"):
                img = np.stack([g["R"], g["G"], g["B"]] + ([g["A"]] if "A" in g else []), axis=-1)
                break
    if img is None:
        # OpenEXR 3 hands a named layer's R/G/B(/A) over as one channel of that name (beauty.R..A ->
        # "beauty", HxWx4): the beauty-like one first, else the first such layer
        layers = {n: ch.pixels for n, ch in chans.items()
                  if getattr(ch.pixels, "ndim", 0) == 3 and ch.pixels.shape[2] in (3, 4)}
        pick = sorted(layers, key=lambda n: (n.lower() not in ("beauty", "rgba", "rgb", "color", "colour"), n))
        if pick:
            img = layers[pick[0]]
    if img is None:
        raise MediaError(
            f"{path}: this EXR has no RGB, RGBA or Y layer (channels: {', '.join(sorted(chans))}); "
            f"write the beauty pass as RGB(A)."
        )
    img = np.asarray(img)
    header = dict(header)
    header["__bits"] = 16 if img.dtype == np.float16 else 32
    header["__channels"] = 1 if (img.ndim == 2 or img.shape[2] == 1) else img.shape[2]
    img = as_float32(img)
    img = _to_3or4(img)
    # place the data window inside the display window (overscan / crop renders)
    windows = _exr_windows(header)
    if windows is not None:
        (dx0, dy0, dx1, dy1), (wx0, wy0, wx1, wy1) = windows
        if (dx0, dy0, dx1, dy1) != (wx0, wy0, wx1, wy1):
            canvas = np.zeros((wy1 - wy0 + 1, wx1 - wx0 + 1, img.shape[2]), np.float32)
            sx0, sy0 = max(dx0, wx0), max(dy0, wy0)
            sx1, sy1 = min(dx1, wx1), min(dy1, wy1)
            if sx1 >= sx0 and sy1 >= sy0:
                canvas[sy0 - wy0:sy1 - wy0 + 1, sx0 - wx0:sx1 - wx0 + 1] = img[
                    sy0 - dy0:sy1 - dy0 + 1, sx0 - dx0:sx1 - dx0 + 1]
            img = canvas
    return np.ascontiguousarray(img), header


@cache
def _sws_white_gain(pix_fmt: str, src_cs: str, src_range: str, out_fmt: str) -> float | None:
    """The factor that brings swscale's 16-bit RGB of a deep Y'CbCr format back to full
    scale, measured on a synthetic reference-white frame of that format (None: no correction
    needed, or the format cannot be built here). Cached per format."""
    gain = None
    try:
        av = _av()
        f = av.VideoFrame(16, 16, pix_fmt)
        desc = f.format
        depth = max(c.bits for c in desc.components)
        full = (1 << depth) - 1
        white = full if src_range == "JPEG" else 235 << (depth - 8)
        mid = 1 << (depth - 1)
        for i, plane in enumerate(f.planes):
            buf = np.frombuffer(plane, np.uint16 if depth > 8 else np.uint8)
            buf[:] = white if i == 0 else (full if i == 3 else mid)  # Y, Cb, Cr, alpha
        out = f.reformat(format=out_fmt, src_colorspace=src_cs, src_color_range=src_range,
                         dst_color_range="JPEG").to_ndarray(format=out_fmt)
        got = float(np.median(out[:, :, :3]))
        if 60000 < got < 65535 - 0.5:
            gain = 65535.0 / got
    except Exception as exc:  # noqa: BLE001 - an exotic layout: decode as swscale gives it, and say so
        log.debug("no swscale gain measured for %s: %s", pix_fmt, exc)
    return gain


def _read_image_file(path: Path) -> np.ndarray:
    """Any still as native depth RGB(A) (cv2 for common formats, tifffile/PyAV as fallbacks)."""
    ext = path.suffix.lower()
    if ext == ".exr":
        return _read_exr(path)[0]
    import cv2

    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # unicode-safe on every OS
    except FileNotFoundError as exc:
        raise MediaError(f"{path}: image not found; a frame of the sequence is missing.") from exc
    except OSError as exc:
        raise MediaError(f"{path}: cannot read ({exc}); check the file and its permissions.") from exc
    if data.size == 0:
        raise MediaError(f"{path}: the image file is empty (0 bytes); re-render or re-copy it.")
    img = None
    if ext in (".jpg", ".jpeg"):
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)  # applies EXIF orientation (phone photos upright)
    elif ext != ".dpx":
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None and ext in (".tif", ".tiff"):
        try:
            import tifffile

            img = tifffile.imread(str(path))
            if img.ndim == 3 and img.shape[0] in (3, 4) and img.shape[2] not in (3, 4):
                img = np.moveaxis(img, 0, -1)
            img = _to_3or4(img)
            if img.dtype == np.float16 or img.dtype == np.float64:
                img = img.astype(np.float32)
            return _normalise_depth(img)
        except Exception:  # noqa: BLE001 - fall through to the clear error below
            img = None
    if img is None:
        img = _read_with_av(path)
        if img is not None:
            return img
        raise MediaError(f"{path}: cannot decode this image (damaged or unsupported format); convert it to PNG or EXR.")
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[:, :, ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, [2, 1, 0, 3]]
    return _normalise_depth(_to_3or4(img))


def _normalise_depth(img: np.ndarray) -> np.ndarray:
    if img.dtype in (np.uint8, np.uint16, np.float32):
        return np.ascontiguousarray(img)
    if img.dtype == np.int16:
        return np.ascontiguousarray(img.astype(np.int32).clip(0).astype(np.uint16))
    if img.dtype in (np.uint32, np.int32):
        return np.ascontiguousarray((img.astype(np.float64) / np.iinfo(img.dtype).max * 65535).astype(np.uint16))
    if img.dtype == np.bool_:
        return np.ascontiguousarray(img.astype(np.uint8) * 255)
    return np.ascontiguousarray(img.astype(np.float32))


def _read_with_av(path: Path) -> np.ndarray | None:
    """DPX and other formats only FFmpeg knows, read as one picture."""
    try:
        av = _av()
        with av.open(str(path)) as c:
            frame = next(c.decode(video=0))
            bits = max(comp.bits for comp in frame.format.components)
            alpha = any(getattr(comp, "is_alpha", False) for comp in frame.format.components)
            fmt = ("rgba" if alpha else "rgb24") if bits <= 8 else ("rgba64le" if alpha else "rgb48le")
            return np.ascontiguousarray(frame.to_ndarray(format=fmt))
    except Exception:  # noqa: BLE001 - caller raises the user-facing error
        return None


_HASH_RE = re.compile(r"^(?P<pre>.*?)(?P<hash>#+|@+)(?P<post>[^#@]*)$")
_PRINTF_RE = re.compile(r"^(?P<pre>.*?)%(?P<pad>0?\d*)d(?P<post>[^%]*)$")
_MEMBER_RE = re.compile(r"^(?P<pre>.*?[._\-])?(?P<num>\d+)(?P<post>\.[A-Za-z0-9]+)$")


@dataclass
class _SeqPattern:
    directory: Path
    prefix: str
    suffix: str
    padding: int  # 0: any width (unpadded numbering)

    def path(self, number: int) -> Path:
        num = f"{number:0{self.padding}d}" if self.padding else str(number)
        return self.directory / f"{self.prefix}{num}{self.suffix}"

    def display(self) -> str:
        return str(self.directory / f"{self.prefix}{'#' * max(self.padding, 1)}{self.suffix}")

    def files(self) -> dict[int, Path]:
        """Frame number -> the file on disk, named as it is (an unpadded 'f9.png' beside 'f10.png')."""
        rx = re.compile("^" + re.escape(self.prefix) + r"(\d+)" + re.escape(self.suffix) + "$")
        found: dict[int, Path] = {}
        try:
            entries = os.listdir(self.directory)
        except FileNotFoundError as exc:
            raise MediaError(f"{self.display()}: folder {self.directory} not found; check the path.") from exc
        for name in entries:
            m = rx.match(name)
            if not m:
                continue
            digits = m.group(1)
            if self.padding and len(digits) != self.padding and not (len(digits) > self.padding
                                                                      and not digits.startswith("0")):
                continue
            found[int(digits)] = self.directory / name
        return found

    def scan(self) -> list[int]:
        return sorted(self.files())


def _parse_sequence(path: Path, as_sequence: bool | None) -> _SeqPattern | None:
    name = path.name
    m = _HASH_RE.match(name)
    if m and ("#" in name or "@" in name):
        return _SeqPattern(path.parent, m.group("pre"), m.group("post"), len(m.group("hash")))
    m = _PRINTF_RE.match(name)
    if m:
        pad = m.group("pad")
        return _SeqPattern(path.parent, m.group("pre"), m.group("post"), int(pad) if pad else 0)
    if as_sequence is False:
        return None
    m = _MEMBER_RE.match(name)
    if m and path.suffix.lower() in IMAGE_EXTS and (m.group("pre") or as_sequence):
        digits = m.group("num")
        pad = len(digits) if digits.startswith("0") or len(digits) >= 3 else 0
        pat = _SeqPattern(path.parent, m.group("pre") or "", m.group("post"), pad)
        if as_sequence or len(pat.scan()) > 1:
            return pat
    return None


class ImageSequenceReader(Reader):
    """Numbered stills (EXR/PNG/TIFF/JPEG/DPX...) or a single still, as frames."""

    def __init__(self, pattern: _SeqPattern | None, still: Path | None, fps: Fraction | None) -> None:
        self._pattern = pattern
        self._cache = _FrameCache(64 * 1024 * 1024)
        self._lock = threading.RLock()
        self._pool: ThreadPoolExecutor | None = None
        if pattern is not None:
            found = pattern.files()
            numbers = sorted(found)
            if not numbers:
                raise MediaError(f"{pattern.display()}: no frames of this sequence found; check the name and folder.")
            missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
            if missing:
                shown = ", ".join(str(x) for x in missing[:10]) + (" ..." if len(missing) > 10 else "")
                raise MediaError(
                    f"{pattern.display()}: {len(missing)} frame(s) missing from the numbering "
                    f"{numbers[0]}-{numbers[-1]} (missing: {shown}); render or copy them, or open a contiguous range."
                )
            self._first_number = numbers[0]
            self._files = [found[n] for n in numbers]  # the names as they are on disk
            kind, display = "sequence", pattern.display()
        else:
            assert still is not None
            self._first_number = 0
            self._files = [still]
            kind, display = "image", str(still)
        first_path = self._files[0]
        ext = first_path.suffix.lower()
        header: dict = {}
        if ext == ".exr":
            first, header = _read_exr(first_path)
        else:
            first = _read_image_file(first_path)
        self._shape = first.shape
        self._dtype = first.dtype
        src_channels, src_bits, src_alpha, pix_fmt = _probe_still(first_path, first, header)
        rate = fps
        notes: list[str] = []
        if rate is None and "framesPerSecond" in header:
            try:
                fr = header["framesPerSecond"]
                rate = Fraction(int(fr.n), int(fr.d)) if hasattr(fr, "n") else Fraction(str(fr))
            except (TypeError, ValueError, ZeroDivisionError):
                rate = None
        if rate is None:
            rate = DEFAULT_SEQUENCE_FPS
            if kind == "sequence":
                notes.append(f"no frame rate in the files: assumed {rate} fps (pass fps= to override)")
        over = _overscan(header)
        if over:
            notes.append(over)
        tc = None
        if "timeCode" in header:
            t = header["timeCode"]
            try:
                sep = ";" if getattr(t, "dropFrame", False) else ":"
                frame = t.frame  # above 30 fps SMPTE 12M counts frame pairs, the field phase says which one
                if round(float(rate)) > 30:
                    frame = 2 * t.frame + int(bool(getattr(t, "fieldPhase", False)))
                tc = f"{t.hours:02d}:{t.minutes:02d}:{t.seconds:02d}{sep}{frame:02d}"
            except AttributeError:
                tc = str(t)
        rotation = _exif_rotation(first_path) if ext in (".jpg", ".jpeg") else 0
        par = _exr_pixel_aspect(header)
        if ext == ".dpx":
            dpx = dpx_header(first_path)
            par = dpx.get("pixel_aspect", 1.0)
            if dpx.get("transfer") in DPX_LOG_TRANSFERS:
                notes.append(f"the DPX says its pixels are {DPX_LOG_TRANSFERS[dpx['transfer']]} (a film scan or camera "
                             "log), which is not display-referred: say the plate's colour space (`facsimile project "
                             "plate --colorspace NAME`, e.g. ADX10 for Academy printing density) or faces are measured "
                             "on a flat picture and renders linearised as sRGB")
        notes += anamorphic_notes(int(first.shape[1]), int(first.shape[0]), par)
        n = len(self._files)
        self.info = MediaInfo(
            path=display, kind=kind, width=int(first.shape[1]), height=int(first.shape[0]), fps=Fraction(rate),
            frame_count=n, first_frame_number=self._first_number, duration_s=n / float(rate),
            codec=ext.lstrip(".").replace("jpeg", "jpg").replace("tiff", "tif"), pix_fmt=pix_fmt,
            bit_depth=src_bits, has_alpha=src_alpha, channels=src_channels,
            color_primaries=_exr_primaries(header), color_transfer="linear" if ext == ".exr" or first.dtype == np.float32
            else None, color_matrix=None, color_range=None, timecode=tc, rotation=rotation, pixel_aspect=par, vfr=False,
            audio=[], metadata=_header_metadata(header, tc), notes=notes,
        )
        self._cache.put(0, first)

    def read(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        with self._lock:
            img = self._cache.get(index)
        if img is not None:
            return img
        img = self._load(index)
        with self._lock:
            self._cache.put(index, img)
        return img.copy()

    def _load(self, index: int) -> np.ndarray:
        path = self._files[index]
        img = _read_image_file(path)
        if img.shape[:2] != self._shape[:2]:
            raise MediaError(
                f"{path}: frame {self._first_number + index} is {img.shape[1]}x{img.shape[0]} but the sequence is "
                f"{self._shape[1]}x{self._shape[0]}; re-render it at the sequence size."
            )
        if img.shape[2] != self._shape[2]:
            img = _match_channels(img, self._shape[2])
        if img.dtype != self._dtype:
            img = _match_dtype(img, self._dtype)
        return img

    def frames(self, start: int = 0, stop: int | None = None, rgb8: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Sequential read with a few frames decoded ahead on worker threads."""
        stop = self.info.frame_count if stop is None else min(stop, self.info.frame_count)
        start = max(0, start)
        if stop - start <= 1:
            yield from super().frames(start, stop, rgb8)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2), thread_name_prefix="seqread")
        ahead = 4
        futures = {i: self._pool.submit(self.read, i) for i in range(start, min(stop, start + ahead))}
        for i in range(start, stop):
            nxt = i + ahead
            if nxt < stop:
                futures[nxt] = self._pool.submit(self.read, nxt)
            img = futures.pop(i).result()
            yield i, (to_rgb8(img) if rgb8 else img)

    def frame_number(self, index: int) -> int:
        """The file's frame number for index (first_frame_number + index)."""
        return self._first_number + self._check_index(index)

    def file_of(self, index: int) -> Path:
        """The file that holds frame `index`."""
        return self._files[self._check_index(index)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._cache.clear()


def _match_channels(img: np.ndarray, channels: int) -> np.ndarray:
    if channels == 4 and img.shape[2] == 3:
        one = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(img.dtype, 1.0)
        return np.ascontiguousarray(np.concatenate([img, np.full(img.shape[:2] + (1,), one, img.dtype)], axis=2))
    return np.ascontiguousarray(img[:, :, :channels])


def _match_dtype(img: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint16 and img.dtype == np.uint8:
        return img.astype(np.uint16) * 257
    if dtype == np.uint8 and img.dtype == np.uint16:
        return to_rgb8(img) if img.shape[2] == 3 else np.concatenate(
            [to_rgb8(img), (img[:, :, 3:] // 257).astype(np.uint8)], axis=2)
    if dtype == np.float32:
        scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(img.dtype, 1.0)
        return img.astype(np.float32) / scale
    raise MediaError(f"frame has pixel type {img.dtype} but the sequence is {dtype}; re-render it consistently.")


def _probe_still(path: Path, decoded: np.ndarray, exr_header: dict) -> tuple[int, int, bool, str]:
    """Source channels, bit depth, alpha and a pix_fmt-like name of a still."""
    ext = path.suffix.lower()
    channels = decoded.shape[2]
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16, np.dtype(np.float32): 32}[decoded.dtype]
    if ext == ".exr":
        bits = int(exr_header.get("__bits", 32))
        channels = int(exr_header.get("__channels", channels))
    else:
        try:
            from PIL import Image

            with Image.open(path) as im:
                mode = im.mode
            channels = {"1": 1, "L": 1, "P": 3, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 1, "I;16B": 1, "I": 1,
                        "F": 1, "CMYK": 4, "YCbCr": 3}.get(mode, channels)
            if mode in ("1",):
                bits = 1
        except Exception:  # noqa: BLE001 - PIL cannot read some formats cv2 can; fine
            pass
    alpha = decoded.shape[2] == 4
    base = {3: "rgb", 4: "rgba"}[decoded.shape[2]] if channels >= 3 else ("gray" if not alpha else "graya")
    if decoded.dtype == np.float32:
        pix = f"{base}f{bits}"
    elif bits > 8:
        pix = f"{base}{bits}"
    else:
        pix = f"{base}8" if base.startswith("gray") else ("rgba" if alpha else "rgb24")
    return channels, bits, alpha, pix


# AVFieldOrder of FFmpeg: 2 TT, 3 BB, 4 TB, 5 BT (the first letter: the field coded first; shown first too)
_FIELD_ORDERS = {2: "tff", 3: "bff", 4: "tff", 5: "bff"}


def _field_order(stream: Any, first_frame: Any) -> str | None:
    """'tff' / 'bff' when the video is interlaced (the stream says so, or its first picture is), else None."""
    order = _FIELD_ORDERS.get(int(getattr(stream.codec_context, "field_order", 0) or 0))
    if order is None and bool(getattr(first_frame, "interlaced_frame", False)):
        order = "tff"  # flagged interlaced without an order: top field first is the common case (HD)
    return order


def _tagged_aspect(par: float) -> float:
    """A pixel aspect read from a file's tag: 1.0 for square (core.media.aspect.is_square) and for
    a value no picture has (not finite, outside 0.1-10)."""
    from core.media.aspect import is_square

    return 1.0 if not np.isfinite(par) or is_square(par) or not 0.1 <= par <= 10 else float(par)


def _sample_aspect(stream: Any) -> float:
    """The video stream's sample (pixel) aspect ratio; 1.0 when untagged or invalid."""
    for src in (stream, stream.codec_context):
        try:
            sar = getattr(src, "sample_aspect_ratio", None)
        except (ValueError, ZeroDivisionError):
            sar = None
        if sar is not None and float(sar) > 0:
            return _tagged_aspect(float(sar))
    return 1.0


def _exr_pixel_aspect(header: dict) -> float:
    """An EXR header's pixelAspectRatio; 1.0 when absent or invalid."""
    try:
        return _tagged_aspect(float(header.get("pixelAspectRatio", 1.0)))
    except (TypeError, ValueError):
        return 1.0


# DPX image element transfer characteristics (SMPTE 268M) that are not display-referred video
DPX_LOG_TRANSFERS = {1: "printing density", 3: "logarithmic"}


def dpx_header(path: str | os.PathLike) -> dict:
    """What a DPX file's header says that FFmpeg's decoder does not pass on: the pixel aspect
    (orientation header, offset 1628: horizontal and vertical, 32-bit) and the first image
    element's transfer characteristic (offset 801; 1 printing density, 2 linear, 3 logarithmic,
    4 unspecified video, 6 BT.709 ...). Either byte order (magic SDPX or XPDS); {} when unreadable."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1664)
    except OSError:
        return {}
    if len(head) < 1636 or head[:4] not in (b"SDPX", b"XPDS"):
        return {}
    order = ">" if head[:4] == b"SDPX" else "<"
    out: dict = {"transfer": int(head[801])}
    import struct

    h, v = struct.unpack(order + "II", head[1628:1636])
    if 0 < h < 0xFFFFFFFF and 0 < v < 0xFFFFFFFF:
        out["pixel_aspect"] = _tagged_aspect(h / v)
    return out


def anamorphic_notes(width: int, height: int, pixel_aspect: float) -> list[str]:
    """What reading a plate of non-square pixels means, for MediaInfo.notes (empty when square)."""
    if pixel_aspect == 1.0:
        return []
    return [f"anamorphic: pixel aspect {pixel_aspect:.4g}; faces are measured on the picture desqueezed to "
            f"{max(1, round(width * pixel_aspect))}x{height}, and renders keep the plate's own {width}x{height} pixels"]


def _exif_rotation(path: Path) -> int:
    """Clockwise degrees implied by a JPEG's EXIF orientation (already applied by the decoder)."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            orient = im.getexif().get(0x0112, 1)
        return {3: 180, 6: 90, 8: 270}.get(int(orient), 0)
    except Exception:  # noqa: BLE001
        return 0


# --------------------------------------------------------------------------- entry point


def open_media(path: str | os.PathLike, fps: Fraction | float | int | str | None = None,
               as_sequence: bool | None = None) -> Reader:
    """Open a video, an image sequence ('shot.####.exr', 'shot.%04d.png' or one member file) or a still.

    `fps` overrides the rate of sequences/stills (default: EXR framesPerSecond, else 24) and of videos
    whose timestamps are unusable. `as_sequence=False` opens a numbered file as a single still.
    Raises MediaError with what is wrong and what to do.
    """
    p = Path(os.fspath(path)).expanduser()
    rate = None
    if fps is not None:
        try:
            rate = Fraction(str(fps)) if isinstance(fps, str) else Fraction(fps).limit_denominator(1001)
        except (ValueError, ZeroDivisionError) as exc:
            raise MediaError(f"fps {fps!r} is not a frame rate; give e.g. 24, 25, 30000/1001.") from exc
        if rate <= 0:
            raise MediaError(f"fps {fps!r} must be positive.")
    if names_image_sequence(p):
        pattern = _parse_sequence(p, True)
        if pattern is None:
            raise MediaError(f"{p}: not a sequence pattern I understand; use name.####.ext or name.%04d.ext.")
        return ImageSequenceReader(pattern, None, rate)
    if p.is_dir():
        raise MediaError(
            f"{p}: is a folder; give a video file, one file of an image sequence or a pattern like shot.####.exr."
        )
    if not p.exists():
        raise MediaError(f"{p}: file not found; check the path.")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise MediaError(f"{p}: cannot read ({exc}); check permissions.") from exc
    if size == 0:
        raise MediaError(f"{p}: the file is empty (0 bytes); re-copy or re-export it.")
    if not os.access(p, os.R_OK):
        raise MediaError(f"{p}: no permission to read this file; check its permissions.")
    ext = p.suffix.lower()
    if ext in IMAGE_EXTS:
        pattern = _parse_sequence(p, as_sequence)
        if pattern is not None:
            return ImageSequenceReader(pattern, None, rate)
        return ImageSequenceReader(None, p, rate)
    return VideoReader(p, rate)


def names_image_sequence(path: str | os.PathLike) -> bool:
    """True when `path` names an image sequence by a frame-number placeholder (shot.####.exr,
    shot.@@@@.exr, shot.%04d.exr) that the reader expands, not a file. Only image files make
    sequences, and something that exists is itself whatever its name holds, so 'take#2.mov',
    'grade 50%.mov' or an existing 'notes#1.png' are files; every caller asks here instead of
    looking for '#' or '%' in the name (a render's sidecar was once named after 'take')."""
    p = Path(path)
    name = p.name
    placeholder = bool((_HASH_RE.match(name) and ("#" in name or "@" in name)) or _PRINTF_RE.match(name))
    return placeholder and p.suffix.lower() in IMAGE_EXTS and not p.exists()


def sequence_files(pattern: str | os.PathLike) -> list[Path]:
    """The files on disk that are frames of a sequence pattern (shot.####.exr), in frame order,
    as the reader would find them ([] for none, or for a name that is no pattern)."""
    seq = _parse_sequence(Path(pattern), True)
    if seq is None or not seq.directory.is_dir():
        return []
    return [f for _, f in sorted(seq.files().items())]


def sequence_pattern(path: str | os.PathLike) -> str | None:
    """The pattern (shot.####.exr) of the image sequence that file `path` is one frame of, or
    None when it is not part of a numbered sequence of several files."""
    p = Path(path)
    if p.suffix.lower() not in IMAGE_EXTS or not p.is_file():
        return None
    pattern = _parse_sequence(p, None)
    return pattern.display() if pattern is not None else None


def probe(path: str | os.PathLike, fps: Fraction | float | int | str | None = None) -> MediaInfo:
    """MediaInfo of a file/sequence without keeping it open."""
    with open_media(path, fps=fps) as r:
        return r.info
