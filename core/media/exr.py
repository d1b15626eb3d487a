"""OpenEXR sequence writer: half (or 32-bit float), premultiplied, scene-linear (OpenEXR 3.x ``File`` API).

Each frame: display-referred input (default ``sRGB - Texture``) -> OpenColorIO -> scene-linear
`colorspace` (default ``Linear Rec.709 (sRGB)``, ``ACEScg`` selectable) -> colour multiplied
by alpha (EXR is premultiplied by convention; Nuke's Read node assumes it) -> half float.
Straight-alpha input is the default (plates, PNGs); `premultiplied=True` for comp output.

Header: ``timeCode`` (per frame, counted on from the start timecode), ``framesPerSecond``
(an exact rational), the colour space name as the string attribute ``colorspace`` (the common
convention of Nuke and OCIO tools) and, for the config's linear spaces, its primaries as
``colorInteropID`` (the Color Interop Forum's id, e.g. ``lin_ap1_scene`` for ACEScg) and
``chromaticities`` (for readers that know only that), ``pixelAspectRatio`` for an anamorphic
plate, plus any string `attributes` such as ``facsimile/synthetic``. Extra channels (``mask.Y``, ...)
are written next to RGBA with the same pixel type.

Each frame file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from core.errors import FacsimileError, MediaError
from core.media import colour
from core.media.writers import Writer, format_timecode, frame_path, parse_timecode
from core.util.atomic import atomic_path, describe_os_error

log = logging.getLogger(__name__)

#: pixel type name -> numpy dtype of the stored channels
PIXEL_TYPES = {"half": np.float16, "float": np.float32}


def _compression(name: str):
    import OpenEXR

    table = {
        "piz": OpenEXR.PIZ_COMPRESSION,
        "zip": OpenEXR.ZIP_COMPRESSION,
        "dwaa": OpenEXR.DWAA_COMPRESSION,
        "none": OpenEXR.NO_COMPRESSION,
    }
    try:
        return table[name.lower()]
    except KeyError:
        raise MediaError(f"unknown EXR compression '{name}': choose one of piz, zip, dwaa") from None


def _exr_timecode(tc: str, fps: Fraction):
    import OpenEXR

    m = tc.strip()
    t = OpenEXR.TimeCode()
    frame = int(m[9:])
    if round(float(fps)) > 30:
        # SMPTE 12M above 30 fps (50, 59.94, 60): the frame field counts frame pairs, and the field
        # phase bit says which of the pair (the field holds 0-29; 50p frame 45 is 22 + phase)
        frame, t.fieldPhase = frame // 2, bool(frame % 2)
    t.hours, t.minutes, t.seconds, t.frame = int(m[0:2]), int(m[3:5]), int(m[6:8]), frame
    t.dropFrame = m[8] in ";."
    return t


def _use_exr_threads() -> None:
    """Let OpenEXR compress line blocks on all cores (its default is one thread)."""
    import OpenEXR

    if OpenEXR.global_thread_count() == 0:
        OpenEXR.set_global_thread_count(max(1, min(16, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                                   else (os.cpu_count() or 1))))


class EXRSequenceWriter(Writer):
    """Writes ``name.####.exr`` frames numbered from `start_number` (see module docstring)."""

    supports_extra_channels = True

    def __init__(
        self,
        pattern: str | Path,
        width: int,
        height: int,
        fps: Fraction,
        *,
        start_number: int = 1001,
        compression: str = "piz",
        colorspace: str | None = None,
        input_colorspace: str = colour.DEFAULT_INPUT_COLORSPACE,
        premultiplied: bool = False,
        timecode: str | None = None,
        attributes: dict[str, str] | None = None,
        pixel_type: str = "half",
        pixel_aspect: float = 1.0,
    ) -> None:
        super().__init__(pattern, width, height, fps)
        self.pixel_aspect = float(pixel_aspect)
        if pixel_type not in PIXEL_TYPES:
            raise MediaError(f"unknown EXR pixel type '{pixel_type}': choose half or float")
        self.pixel_type = pixel_type
        self._dtype = PIXEL_TYPES[pixel_type]
        frame_path(pattern, start_number)  # validates the pattern
        self.start_number = int(start_number)
        self.compression_name = compression.lower()
        self._compression = _compression(compression)
        self.colorspace = colour.resolve_colorspace(colorspace or colour.DEFAULT_LINEAR_COLORSPACE)
        self.input_colorspace = colour.resolve_colorspace(input_colorspace)
        self.premultiplied = premultiplied
        self.attributes = {str(k): str(v) for k, v in (attributes or {}).items()}
        # its primaries as a standard attribute (colorInteropID) and for older readers (chromaticities)
        self._colour_attributes = colour.exr_colour_attributes(self.colorspace)
        self._tc_start = parse_timecode(timecode, self.fps) if timecode else None
        self._tc_drop = bool(timecode) and timecode.strip()[8] in ";."
        self._count = 0
        _use_exr_threads()
        folder = self.path.parent
        if not folder.is_dir():
            raise MediaError(f"cannot write {self.path}: the folder {folder} does not exist")

    def frame_path(self, number: int) -> Path:
        """The file of frame `number`."""
        return frame_path(self.path, number)

    def _linear_rgba(self, frame: np.ndarray) -> np.ndarray:
        """HxWx4 half/float premultiplied scene-linear RGBA in the output colour space."""
        out = np.empty((self.height, self.width, 4), self._dtype)
        if frame.shape[2] == 3:  # opaque: one OCIO pass does transform, RGB->RGBA and half float
            return colour.convert_colorspace_into(frame, self.input_colorspace, self.colorspace, out)
        if (self.premultiplied and frame.dtype == np.float32
                and colour.is_linear_map(self.input_colorspace, self.colorspace)):
            fast = self._premultiplied_linear(frame, out)
            if fast is not None:
                return fast
        if self.premultiplied:
            frame = colour.unpremultiply_rgba(frame)
        lin = colour.convert_colorspace(frame, self.input_colorspace, self.colorspace)
        return colour.premultiply_into(lin, out)

    def _premultiplied_linear(self, frame: np.ndarray, out: np.ndarray) -> np.ndarray | None:
        """A premultiplied float frame with every alpha in 0..1 whose way to the output colour
        space is a plain matrix or nothing (Linear Rec.709 -> ACEScg; a comp over an opaque
        plate, a face patch): a matrix commutes with premultiplication, so unpremultiplying,
        transforming and premultiplying again gives the values that transforming the frame as
        it is gives. It is transformed (or only cast) as it is, in one pass into `out`, with
        colour set to 0 where alpha is 0 (as the general path does). 4K: 0.75 s -> about 0.1
        s; None for the general path (alpha outside 0..1 or NaN)."""
        import cv2

        f = np.ascontiguousarray(frame)
        alpha = cv2.extractChannel(f, 3)
        in_range, _where = cv2.checkRange(alpha, True, 0.0, float(np.nextafter(np.float32(1.0), np.float32(2.0))))
        if not in_range:
            return None
        clear = cv2.compare(alpha, 0.0, cv2.CMP_LE)
        if cv2.countNonZero(clear):  # every channel 0 there (alpha is 0 already): one masked pass
            f = cv2.bitwise_and(f, f, mask=cv2.bitwise_not(clear))
        if self.input_colorspace == self.colorspace:
            return colour.cast_into(f, out)
        return colour.convert_colorspace_into(f, self.input_colorspace, self.colorspace, out)

    def write(self, frame: np.ndarray, extra_channels: dict[str, np.ndarray] | None = None) -> None:
        """Write the next frame (number start_number + frames so far) as one complete EXR file.

        `extra_channels` maps full channel names (``mask.Y``) to HxW arrays (float 0..1, or
        uint8/uint16 normalised); they are stored with the pixel type of RGBA.
        """
        import OpenEXR

        if self.closed:
            raise MediaError(f"{self.path.name} is already closed")
        colour.check_frame(frame, self.width, self.height)
        number = self.start_number + self._count
        channels: dict[str, np.ndarray] = {"RGBA": self._linear_rgba(frame)}
        for name, values in (extra_channels or {}).items():
            arr = np.asarray(values)
            if arr.ndim == 3 and arr.shape[2] == 1:
                arr = arr[..., 0]
            if arr.shape != (self.height, self.width):
                raise MediaError(f"extra channel '{name}' has shape {arr.shape}, expected {(self.height, self.width)}")
            if name in ("R", "G", "B", "A", "RGBA"):
                raise MediaError(f"extra channel name '{name}' clashes with RGBA: use a layer name such as mask.Y")
            channels[name] = np.ascontiguousarray(colour.to_float01(arr)).astype(self._dtype)
        header = {
            "compression": self._compression,
            "type": OpenEXR.scanlineimage,
            "framesPerSecond": Fraction(self.fps),
            "colorspace": self.colorspace,
            **self.attributes,
        }
        if self.pixel_aspect != 1.0:
            header["pixelAspectRatio"] = self.pixel_aspect
        header.update(self._colour_attributes)
        if self._tc_start is not None:
            tc = format_timecode(self._tc_start + self._count, self.fps, drop_frame=self._tc_drop)
            header["timeCode"] = _exr_timecode(tc, self.fps)
        target = self.frame_path(number)
        try:
            with atomic_path(target) as tmp:
                # File() swaps the arrays in `channels` for Channel objects: build it fresh per frame.
                OpenEXR.File(header, channels).write(str(tmp))
        except FacsimileError as exc:
            raise MediaError(str(exc)) from exc
        except OSError as exc:
            raise MediaError(describe_os_error(exc, target)) from exc
        except Exception as exc:  # noqa: BLE001 - OpenEXR raises plain exceptions for I/O errors
            text = str(exc)
            if "No space" in text or "space left" in text:
                raise MediaError(f"the disk is full while writing {target}: free some space and try again") from exc
            raise MediaError(f"cannot write {target}: {text}") from exc
        self.frames_written.append(number)
        self._count += 1

    def close(self) -> None:
        """Nothing to finish: every frame is complete on disk as soon as write() returns."""
        self.closed = True

    def abort(self) -> None:
        """Stop; the complete frames stay (each is a valid deliverable), none is half-written."""
        self.closed = True
