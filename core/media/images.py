"""16-bit PNG / TIFF sequence writer (display-referred, straight alpha).

PNG and TIFF deliverables stay in the input's display encoding (``sRGB - Texture`` by
default; pass `colorspace` to convert, or a linear `input_colorspace` for linear float
frames). Alpha is straight, the PNG convention; premultiplied input is divided out.
OpenCV writes them (it expects BGR(A) order, handled here). Each frame is written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from core.errors import FacsimileError, MediaError
from core.media import colour
from core.media.writers import Writer, frame_path
from core.util.atomic import atomic_path, describe_os_error


class ImageSequenceWriter(Writer):
    """Writes ``name.####.png`` / ``name.####.tif`` frames as 16-bit RGB(A)."""

    def __init__(
        self,
        pattern: str | Path,
        width: int,
        height: int,
        fps: Fraction,
        *,
        start_number: int = 1001,
        colorspace: str | None = None,
        input_colorspace: str = colour.DEFAULT_INPUT_COLORSPACE,
        premultiplied: bool = False,
    ) -> None:
        super().__init__(pattern, width, height, fps)
        frame_path(pattern, start_number)
        ext = self.path.suffix.lower()
        if ext not in (".png", ".tif", ".tiff"):
            raise MediaError(f"cannot write 16-bit images as '{ext}': use .png or .tif")
        self.start_number = int(start_number)
        self.input_colorspace = colour.resolve_colorspace(input_colorspace)
        if colorspace is None:
            colorspace = (colour.DEFAULT_INPUT_COLORSPACE if colour.is_linear(self.input_colorspace)
                          else self.input_colorspace)
        self.colorspace = colour.resolve_colorspace(colorspace)
        self.premultiplied = premultiplied
        self._count = 0
        if not self.path.parent.is_dir():
            raise MediaError(f"cannot write {self.path}: the folder {self.path.parent} does not exist")

    def frame_path(self, number: int) -> Path:
        """The file of frame `number`."""
        return frame_path(self.path, number)

    def _to_uint16(self, frame: np.ndarray) -> np.ndarray:
        if frame.shape[2] == 4 and self.premultiplied:
            f = colour.to_float01(frame)
            frame = np.concatenate([colour.unpremultiply(f[..., :3], f[..., 3]), f[..., 3:]], axis=-1)
        if frame.dtype == np.uint16 and self.input_colorspace == self.colorspace:
            return frame
        if frame.dtype == np.uint8 and self.input_colorspace == self.colorspace:
            return frame.astype(np.uint16) * np.uint16(257)
        out = colour.convert_colorspace(frame, self.input_colorspace, self.colorspace)
        return np.rint(np.clip(out, 0.0, 1.0) * 65535.0).astype(np.uint16)

    def write(self, frame: np.ndarray, extra_channels: dict[str, np.ndarray] | None = None) -> None:
        """Write the next frame as one complete 16-bit file."""
        import cv2

        if self.closed:
            raise MediaError(f"{self.path.name} is already closed")
        self._check_extra(extra_channels)
        colour.check_frame(frame, self.width, self.height)
        number = self.start_number + self._count
        img = self._to_uint16(frame)
        bgr = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA if img.shape[2] == 4 else cv2.COLOR_RGB2BGR)
        target = self.frame_path(number)
        ext = target.suffix.lower()
        try:
            with atomic_path(target) as tmp:
                ok, data = cv2.imencode(ext, bgr)
                if not ok:
                    raise MediaError(f"OpenCV could not encode frame {number} as {ext}")
                with open(tmp, "wb") as fh:
                    fh.write(data.tobytes())
        except MediaError:
            raise
        except FacsimileError as exc:
            raise MediaError(str(exc)) from exc
        except OSError as exc:
            raise MediaError(describe_os_error(exc, target)) from exc
        self.frames_written.append(number)
        self._count += 1

    def close(self) -> None:
        """Nothing to finish: each frame is complete once write() returns."""
        self.closed = True

    def abort(self) -> None:
        """Stop; complete frames stay, none is half-written."""
        self.closed = True
