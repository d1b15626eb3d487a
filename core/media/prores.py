"""ProRes .mov writer (FFmpeg's prores_ks through PyAV).

Colour: frames are converted RGB -> Y'CbCr in numpy with the BT.709 matrix, limited ("tv")
range 10-bit (Y' 64..940, Cb/Cr 64..960) and alpha full range 0..1023, then handed to the
encoder as ``yuva444p10le`` / ``yuv422p10le`` planes. No swscale step is involved, so its
BT.601 default can never creep in. The stream is tagged bt709 primaries / transfer / matrix
and tv range, which is what Nuke, Resolve and QuickTime read; HDR video (the output colour
space Rec.2100 PQ or HLG, as an HDR plate passes through) is tagged and converted as Rec.2100:
BT.2020 primaries and matrix, PQ or HLG transfer.

Alpha: ProRes 4444 stores straight (unpremultiplied) alpha by convention. Pass
``premultiplied=True`` when the RGBA frames you write carry premultiplied colour (a comp
output); the writer divides it out. 422 HQ has no alpha: the alpha of RGBA input is dropped
with a warning.

Time: the stream time base is exactly 1/fps (30000/1001 stays exact) and packet pts are
consecutive. A variable-frame-rate plate's frames are written at their own times instead
(`timing`, core.media.timing.FrameTiming: the plate's time base, pts and durations), so the
movie is as long as the plate, frame for frame, and its audio stays in sync; `fps` is then the
nominal rate, used for the timecode track only. A `timecode` becomes the QuickTime tmcd track (FFmpeg's mov muxer writes it
from the video stream's ``timecode`` metadata). Audio from `audio_from` is copied packet by
packet (no re-encode), interleaved with the video and trimmed to the written range.
"""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction
from pathlib import Path

import numpy as np

from core.errors import FacsimileError, MediaError
from core.media import colour
from core.media.timing import FrameTiming
from core.media.writers import Writer, parse_timecode
from core.util.atomic import atomic_path, describe_os_error

log = logging.getLogger(__name__)

#: codec name -> (prores_ks profile number, pixel format, has alpha)
PROFILES: dict[str, tuple[int, str, bool]] = {
    "prores422hq": (3, "yuv422p10le", False),
    "prores4444": (4, "yuva444p10le", True),
    "prores4444xq": (5, "yuva444p10le", True),
}
_AVCOL_BT709 = 1  # AVCOL_PRI_BT709 = AVCOL_TRC_BT709 = AVCOL_SPC_BT709 = 1
_AVCOL_RANGE_MPEG = 1  # "tv" / limited range
# The MOV colour tags (primaries, transfer, matrix) and Y'CbCr matrix of an output colour space: HDR
# video keeps Rec.2100's (BT.2020 primaries and matrix; PQ or HLG); everything else is BT.709.
_AVCOL_TAGS = {"Rec.2100-PQ - Display": (9, 16, 9, "bt2020nc"), "Rec.2100-HLG - Display": (9, 18, 9, "bt2020nc")}
_BT709_TAGS = (_AVCOL_BT709, _AVCOL_BT709, _AVCOL_BT709, "bt709")
#: metadata key of a movie written at a VFR plate's own times: its nominal rate ("60/1")
NOMINAL_FPS_KEY = "facsimile/nominal_fps"


def _fill_plane(plane, values: np.ndarray) -> None:
    """Copy a uint16 HxW array into an AVFrame plane (respecting its padded line size)."""
    h, w = values.shape
    stride = plane.line_size // 2
    if stride == w:
        plane.update(np.ascontiguousarray(values, dtype="<u2").tobytes())
        return
    padded = np.zeros((h, stride), dtype="<u2")
    padded[:, :w] = values
    plane.update(padded.tobytes())


class ProResWriter(Writer):
    """Writes a ProRes 4444 / 4444 XQ / 422 HQ QuickTime movie atomically.

    Frames: HxWx3 RGB or HxWx4 RGBA; uint8, uint16 (full range) or float32 0..1, display-
    referred in `input_colorspace` (default ``sRGB - Texture``: code values pass through
    untouched). Give `colorspace` (a display-referred OCIO name) to convert into another
    encoding, or a linear `input_colorspace` for linear float frames (converted to sRGB).

    `encoder`: ``prores_ks`` (default; FFmpeg's reference-quality ProRes encoder) or
    ``prores_aw`` (about 5x less CPU a frame, slightly less efficient rate control).
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: Fraction,
        *,
        profile: str = "prores4444",
        timecode: str | None = None,
        audio_from: str | Path | None = None,
        audio_start: float = 0.0,
        input_colorspace: str = colour.DEFAULT_INPUT_COLORSPACE,
        colorspace: str | None = None,
        premultiplied: bool = False,
        metadata: dict[str, str] | None = None,
        threads: int = 0,
        encoder: str = "prores_ks",
        pixel_aspect: float = 1.0,
        timing: FrameTiming | None = None,
    ) -> None:
        super().__init__(path, width, height, fps)
        import av

        if encoder not in ("prores_ks", "prores_aw"):
            raise MediaError(f"unknown ProRes encoder '{encoder}': use prores_ks (quality) or prores_aw (fast)")
        if profile not in PROFILES:
            raise MediaError(f"unknown ProRes profile '{profile}': choose one of {', '.join(PROFILES)}")
        self.profile = profile
        self.profile_number, self.pix_fmt, self.has_alpha = PROFILES[profile]
        if self.pix_fmt.startswith("yuv422") and width % 2:
            raise MediaError(f"ProRes 422 needs an even width (got {width}): use ProRes 4444 or crop a column")
        self.input_colorspace = colour.resolve_colorspace(input_colorspace)
        if colorspace is None:
            colorspace = (colour.DEFAULT_INPUT_COLORSPACE if colour.is_linear(self.input_colorspace)
                          else self.input_colorspace)
        self.colorspace = colour.resolve_colorspace(colorspace)
        if colour.is_linear(self.colorspace):
            raise MediaError(
                f"'{self.colorspace}' is scene-linear: a ProRes deliverable needs a display-referred colour "
                "space such as 'sRGB - Texture' or 'Gamma 2.4 Rec.709 - Texture' (use EXR for linear)"
            )
        self.premultiplied = premultiplied
        self._tags = _AVCOL_TAGS.get(self.colorspace, _BT709_TAGS)
        self.timecode = timecode
        if timecode is not None:
            parse_timecode(timecode, self.fps)  # validate early, with a clear message
        self._warned_alpha = False
        self._count = 0
        self.timing = timing if timing is not None and len(timing) else None
        self._durations: dict[int, int] = {}

        if self.path.suffix.lower() != ".mov":
            raise MediaError(f"a ProRes movie must end in .mov (got {self.path.name})")
        self._atomic = atomic_path(self.path)  # raises FacsimileError for a missing/unwritable folder
        try:
            self._tmp: Path = self._atomic.__enter__()
        except FacsimileError as exc:
            raise MediaError(str(exc)) from exc
        try:
            self._container = av.open(str(self._tmp), "w", format="mov",
                                      options={"movflags": "use_metadata_tags+write_colr"})
            stream = self._container.add_stream(
                encoder, rate=self.fps,
                options={"profile": str(self.profile_number), "vendor": "apl0"},
            )
            stream.width, stream.height = self.width, self.height
            stream.pix_fmt = self.pix_fmt
            # a VFR plate's frames go at their own times, in its time base (exact within a tick)
            self._frame_tb = self.timing.time_base if self.timing is not None else Fraction(1) / self.fps
            stream.time_base = self._frame_tb
            if self.timing is not None:  # else the encoder's 1/fps would round the plate's times to frames
                stream.codec_context.time_base = self._frame_tb
            cc = stream.codec_context
            cc.color_primaries, cc.color_trc, cc.colorspace = self._tags[:3]
            cc.color_range = _AVCOL_RANGE_MPEG
            cc.thread_count = threads  # 0: FFmpeg picks one per core
            with contextlib.suppress(Exception):
                cc.thread_type = "AUTO"  # frame threads: about 1.5x over slice threads on 2 cores
            if pixel_aspect != 1.0:  # an anamorphic plate's squeeze, as its 'pasp' atom
                cc.sample_aspect_ratio = Fraction(float(pixel_aspect)).limit_denominator(1000)
            if timecode:
                stream.metadata["timecode"] = timecode
            for key, value in (metadata or {}).items():
                self._container.metadata[str(key)] = str(value)
            if self.timing is not None:  # the rate the timecode counts in (a join of chunks reads it)
                self._container.metadata[NOMINAL_FPS_KEY] = f"{self.fps.numerator}/{self.fps.denominator}"
            self._stream = stream
            self._audio: list[tuple] = []
            if audio_from is not None:
                self._open_audio(Path(audio_from), float(audio_start))
        except FacsimileError:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            raise MediaError(describe_os_error(exc, self.path)) from exc
        except Exception as exc:  # noqa: BLE001 - FFmpeg errors come as many types
            self.abort()
            raise MediaError(f"cannot start writing {self.path}: {exc}") from exc

    # --- audio pass-through -------------------------------------------------------------
    def _open_audio(self, source: Path, start: float) -> None:
        import av

        try:
            src = av.open(str(source))
        except Exception as exc:  # noqa: BLE001
            raise MediaError(f"cannot read audio from {source}: {exc}") from exc
        if not src.streams.audio:
            src.close()
            raise MediaError(f"{source} has no audio track to copy (leave out --audio)")
        self._audio_src = src
        for in_stream in src.streams.audio:
            try:
                out_stream = self._container.add_stream_from_template(in_stream)
            except Exception as exc:  # noqa: BLE001
                raise MediaError(
                    f"the audio codec '{in_stream.codec_context.name}' of {source} cannot be copied into a .mov: {exc}"
                ) from exc
            tb = in_stream.time_base
            # output time 0 is the source's first video frame + `start` (keeps A/V sync)
            base = Fraction(in_stream.start_time or 0) * tb
            if src.streams.video and src.streams.video[0].start_time is not None:
                vs = src.streams.video[0]
                base = Fraction(vs.start_time) * vs.time_base
            offset = int(round((base + Fraction(start).limit_denominator(1_000_000)) / tb))
            self._audio.append((in_stream, out_stream, offset))
        self._audio_iter = src.demux(*[a[0] for a in self._audio])
        self._audio_pending = None
        self._audio_preroll: dict = {}
        self._audio_done = False
        self._audio_map = {a[0].index: a for a in self._audio}

    def _mux_audio_until(self, seconds: float) -> None:
        """Copy source audio packets that start before `seconds` (output time)."""
        if not self._audio or self._audio_done:
            return
        while True:
            pkt = self._audio_pending
            if pkt is None:
                try:
                    pkt = next(self._audio_iter)
                except StopIteration:
                    self._audio_done = True
                    return
                if pkt.dts is None and pkt.pts is None:  # demuxer flush packet
                    continue
            in_stream, out_stream, offset = self._audio_map[pkt.stream.index]
            tb = in_stream.time_base
            pts = pkt.pts if pkt.pts is not None else pkt.dts
            if (pts - offset) * tb >= seconds:
                self._audio_pending = pkt
                return
            self._audio_pending = None
            end = pts + (pkt.duration or 0)
            if end <= offset:  # before the written range: keep the last one as decoder pre-roll
                self._audio_preroll[pkt.stream.index] = pkt
                continue
            preroll = self._audio_preroll.pop(pkt.stream.index, None)
            for p in (preroll, pkt):
                if p is None:
                    continue
                ppts = p.pts if p.pts is not None else p.dts
                p.pts = ppts - offset
                if p.dts is not None:
                    p.dts -= offset
                p.stream = out_stream
                p.time_base = tb
                self._container.mux(p)

    # --- frames -------------------------------------------------------------------------
    def _to_display(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Straight display-referred float RGB and alpha (or None) in the output colour space."""
        if frame.shape[2] == 4 and self.premultiplied:
            # premultiplied colour is colour * alpha in the input space: divide it out there
            frame = colour.unpremultiply_rgba(frame)
        elif self.input_colorspace == self.colorspace:
            # code values pass through: integer frames go straight to the Y'CbCr matrix
            alpha = None
            if frame.shape[2] == 4:
                alpha = colour.to_float01(frame[..., 3])
            return frame[..., :3], alpha
        rgb_a = colour.convert_colorspace(frame, self.input_colorspace, self.colorspace)
        return colour.split_alpha(rgb_a)

    def write(self, frame: np.ndarray, extra_channels: dict[str, np.ndarray] | None = None) -> None:
        """Encode one frame (see the class docstring for accepted frames)."""
        import av

        if self.closed:
            raise MediaError(f"{self.path.name} is already closed")
        self._check_extra(extra_channels)
        colour.check_frame(frame, self.width, self.height)
        rgb, alpha = self._to_display(frame)
        y, cb, cr = colour.rgb_to_ycbcr709_10bit(rgb, self._tags[3])
        vf = av.VideoFrame(self.width, self.height, self.pix_fmt)
        if self.pix_fmt.startswith("yuv422"):
            cb, cr = colour.subsample_422(cb), colour.subsample_422(cr)
        planes = [y, cb, cr]
        if self.has_alpha:
            planes.append(colour.alpha_to_10bit(alpha) if alpha is not None
                          else np.full((self.height, self.width), 1023, np.uint16))
        elif alpha is not None and not self._warned_alpha:
            log.warning("%s: ProRes 422 HQ has no alpha channel; the alpha of the input is dropped", self.path.name)
            self._warned_alpha = True
        for plane, values in zip(vf.planes, planes, strict=True):
            _fill_plane(plane, values)
        if self.timing is not None:
            if self._count >= len(self.timing):
                raise MediaError(f"{self.path.name}: more frames than the {len(self.timing)} frame times given")
            vf.pts = self.timing.pts[self._count]
            self._durations[vf.pts] = self.timing.durations[self._count]
            end = Fraction(vf.pts + self.timing.durations[self._count]) * self._frame_tb
        else:
            vf.pts = self._count
            end = (self._count + 1) / self.fps
        vf.time_base = self._frame_tb  # 1/fps or the plate's (the muxer may change the stream time base)
        vf.colorspace = self._tags[2]
        vf.color_range = _AVCOL_RANGE_MPEG
        with contextlib.suppress(AttributeError):
            vf.color_primaries = self._tags[0]
            vf.color_trc = self._tags[1]
        try:
            for pkt in self._stream.encode(vf):
                self._mux_video(pkt)
            self._mux_audio_until(end)
        except OSError as exc:
            raise MediaError(describe_os_error(exc, self.path)) from exc
        except Exception as exc:  # noqa: BLE001
            raise MediaError(f"encoding frame {self._count} of {self.path.name} failed: {exc}") from exc
        self.frames_written.append(self._count)
        self._count += 1

    def _mux_video(self, pkt) -> None:  # noqa: ANN001 - av.Packet
        """Mux one encoded packet; at a plate's own times it lasts until the next plate frame
        (the last one's duration is the movie's end, and a chunk's end where the next begins)."""
        if self.timing is not None and pkt.pts is not None and int(pkt.pts) in self._durations:
            pkt.duration = self._durations.pop(int(pkt.pts))
        self._container.mux(pkt)

    def _end_time(self) -> Fraction | float:
        """Seconds of the frames written so far: the end of the last one."""
        if not self._count:
            return 0.0
        if self.timing is not None:
            k = self._count - 1
            return (self.timing.pts[k] + self.timing.durations[k]) * self._frame_tb
        return self._count / self.fps

    def close(self) -> None:
        """Flush the encoder, finish the audio, close the file and rename it to its final name."""
        if self.closed:
            return
        try:
            for pkt in self._stream.encode():
                self._mux_video(pkt)
            self._mux_audio_until(self._end_time())
            self._container.close()
            self._close_audio_source()
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise MediaError(describe_os_error(exc, self.path)) from exc
            if isinstance(exc, Exception) and not isinstance(exc, FacsimileError):
                raise MediaError(f"finishing {self.path.name} failed: {exc}") from exc
            raise
        self.closed = True
        try:
            self._atomic.__exit__(None, None, None)
        except FacsimileError as exc:
            raise MediaError(str(exc)) from exc

    def abort(self) -> None:
        """Stop writing and remove the partial movie; the final name is never touched."""
        if self.closed:
            return
        self.closed = True
        container = getattr(self, "_container", None)
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
        self._close_audio_source()
        atomic = getattr(self, "_atomic", None)
        if atomic is not None:
            err = MediaError("aborted")
            with contextlib.suppress(BaseException):
                atomic.__exit__(MediaError, err, None)
            tmp = getattr(self, "_tmp", None)
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def _close_audio_source(self) -> None:
        src = getattr(self, "_audio_src", None)
        if src is not None:
            with contextlib.suppress(Exception):
                src.close()
            self._audio_src = None

