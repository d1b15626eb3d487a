"""Real test media made on the fly (PyAV encodes, OpenEXR/cv2 writes), for any test to reuse.

Every picture carries its frame number (drawn digits plus a per-frame colour level), so a test
can tell which frame it got back: `which_frame(img, candidates)` finds the nearest source frame.

    from tests.mediagen import make_video, make_sequence, counter_frame
    path = make_video(tmp_path / "c.mp4", frames=60, gop=30, bframes=3)
    seq = make_sequence(tmp_path, "shot", "exr", frames=5, start=1001)   # -> '.../shot.####.exr'
    face = make_astronaut_plate(tmp_path / "astro.mov", frames=14)       # a real face, drifting
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["analysed_astronaut_project", "counter_frame", "make_astronaut_plate", "make_video", "make_sequence", "write_exr", "which_frame",
           "make_audio_only"]


def counter_frame(index: int, width: int = 320, height: int = 240) -> np.ndarray:
    """uint8 HxWx3 RGB picture unique to `index`: gradients, a moving bar, the number in digits."""
    import cv2

    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = (np.arange(width)[None, :] * 255 // max(width - 1, 1)).astype(np.uint8)
    img[..., 1] = (index * 37) % 200 + 20
    img[..., 2] = (np.arange(height)[:, None] * 255 // max(height - 1, 1)).astype(np.uint8)
    bar = (index * 5) % max(width - 8, 1)
    img[:, bar:bar + 8] = 255
    scale = max(height / 120.0, 0.5)
    cv2.putText(img, str(index), (width // 8, height // 2 + int(20 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                1.5 * scale, (0, 0, 0), max(int(4 * scale), 2), cv2.LINE_AA)
    return img


def which_frame(img: np.ndarray, candidates: Sequence[int], width: int | None = None,
                height: int | None = None) -> int:
    """The candidate frame number whose `counter_frame` is closest to `img` (uint8 RGB)."""
    h, w = img.shape[:2]
    width, height = width or w, height or h
    errs = [float(np.mean(np.abs(counter_frame(c, width, height).astype(np.int16) - img[..., :3].astype(np.int16))))
            for c in candidates]
    return list(candidates)[int(np.argmin(errs))]


def make_astronaut_plate(path: str | Path, frames: int, fps: Fraction | int = 24, size: int | None = None,
                         timecode: str | None = None, crf: int = 12, gop: int | None = None) -> Path:
    """An H.264 plate of a real face: frame i is the NASA astronaut portrait (scikit-image,
    public domain), optionally resized to size x size, rolled 2*i pixels to the right so
    every frame differs. timecode: 'HH:MM:SS:FF' as stream metadata."""
    import cv2
    from skimage.data import astronaut

    img = astronaut()
    if size is not None:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    # x264's own defaults (keyframe every 250, 3 B-frames) unless a GOP is asked for
    return make_video(path, frames, img.shape[1], img.shape[0], fps=fps, gop=gop or 250, bframes=3,
                      timecode=timecode, options={"crf": str(crf)},
                      image=lambda i: np.ascontiguousarray(np.roll(img, 2 * i, axis=1)))


def analysed_astronaut_project(folder: Path, frames: int, shot_frames: int | None = None) -> Path:
    """folder/p.facsimile: one shot 'sh' over a still astronaut plate of `frames` frames
    (core.demo's), analysed, no curves yet; saved. shot_frames: the shot (and its analysis)
    covers only frames 0..shot_frames - 1 of the plate."""
    from core.analysis.analyzer import Analyzer
    from core.demo import make_plate
    from core.project import Plate, Project

    n = frames if shot_frames is None else shot_frames
    plate_path = make_plate(folder / "plate.mp4", frames=frames)
    project = Project.create(folder / "p.facsimile", name="p")
    plate = project.add_plate(Plate.from_media(plate_path))
    shot = project.new_shot(plate.id, 0, n - 1, name="sh")
    shot.analysis = Analyzer().analyze(str(plate_path), frames=(0, n))
    project.save()
    return folder / "p.facsimile"


def make_video(path: str | Path, frames: int = 60, width: int = 320, height: int = 240,
               fps: Fraction | int = 25, codec: str = "libx264", pix_fmt: str = "yuv420p",
               gop: int = 100, bframes: int = 3, pts: Sequence[int] | None = None,
               time_base: Fraction | None = None, rotation: int | None = None, timecode: str | None = None,
               audio: bool = False, faststart: bool = False, options: dict | None = None,
               color: dict | None = None, alpha: bool = False,
               image: Callable[[int], np.ndarray] | None = None, sample_aspect: Fraction | None = None) -> Path:
    """Encode `frames` counter frames (or image(i), width x height RGB, uint8 or uint16) with PyAV
    and return the path.

    pts/time_base: explicit (irregular) timestamps for VFR files. rotation: display-matrix
    rotation in degrees counter-clockwise (what PyAV's set_display_rotation takes; a phone's
    'rotate=90' tag is -90 here). timecode: 'HH:MM:SS:FF' written as a tmcd track (mov/mp4).
    color: e.g. {'colorspace': 1, 'color_range': 1, 'color_primaries': 1, 'color_trc': 1}.
    sample_aspect: the pixel aspect ratio tag (anamorphic: Fraction(2) for a 2x squeeze).
    """
    import av

    path = Path(path)
    copts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=copts) as c:
        st = c.add_stream(codec, rate=Fraction(fps))
        st.width, st.height, st.pix_fmt = width, height, pix_fmt
        opts = {}
        if codec in ("libx264", "libx265"):
            opts = {"g": str(gop), "bf": str(bframes), "crf": "16", "preset": "veryfast"}
        opts.update(options or {})
        st.options = opts
        if time_base is not None:
            st.codec_context.time_base = time_base
            st.time_base = time_base
        if rotation is not None:
            st.set_display_rotation(rotation)
        if sample_aspect is not None:
            st.codec_context.sample_aspect_ratio = Fraction(sample_aspect)
        if timecode:
            st.metadata["timecode"] = timecode
        for key, value in (color or {}).items():
            setattr(st.codec_context, key, value)
        ast = None
        if audio:
            ast = c.add_stream("aac", rate=48000)
            ast.layout = "stereo"
        for i in range(frames):
            rgb = counter_frame(i, width, height) if image is None else image(i)
            if alpha:
                a = np.full((height, width, 1), 255, np.uint8)
                a[: height // 2] = 128
                frame = av.VideoFrame.from_ndarray(np.concatenate([rgb, a], axis=2), format="rgba")
            else:  # 16-bit RGB for 10-bit (HDR) encodes
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if rgb.dtype == np.uint16 else "rgb24")
            for key, value in (color or {}).items():
                if key in ("colorspace", "color_range"):
                    setattr(frame, key, value)
            if pts is not None:
                frame.pts = int(pts[i])
                frame.time_base = time_base or st.codec_context.time_base
            for pkt in st.encode(frame):
                c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)
        if ast is not None:
            _encode_tone(c, ast, frames / float(Fraction(fps)))
    return path


def _encode_tone(container, stream, seconds: float) -> None:
    import av

    rate = stream.codec_context.sample_rate or 48000
    n = int(rate * seconds)
    t = np.arange(n) / rate
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    samples = np.stack([tone, tone])
    step = 1024
    for s in range(0, n, step):
        chunk = np.ascontiguousarray(samples[:, s:s + step])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts = s
        for pkt in stream.encode(frame):
            container.mux(pkt)
    for pkt in stream.encode():
        container.mux(pkt)


def make_audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """An .m4a/.mp4 with one AAC stream and no video."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as c:
        st = c.add_stream("aac", rate=48000)
        st.layout = "stereo"
        _encode_tone(c, st, seconds)
    return path


def write_exr(path: str | Path, rgb: np.ndarray, fps: Fraction | None = None, timecode: str | None = None,
              half: bool = True) -> Path:
    """A scanline EXR of float RGB(A) (HxWx3/4) or Y (HxW), with optional framesPerSecond/timeCode."""
    import OpenEXR

    arr = np.asarray(rgb, dtype=np.float16 if half else np.float32)
    key = "Y" if arr.ndim == 2 else ("RGBA" if arr.shape[2] == 4 else "RGB")
    header: dict = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    if fps is not None:
        fps = Fraction(fps)
        header["framesPerSecond"] = fps
    if timecode:
        hh, mm, ss, ff = (int(x) for x in timecode.replace(";", ":").split(":"))
        tc = OpenEXR.TimeCode()
        tc.hours, tc.minutes, tc.seconds, tc.frame = hh, mm, ss, ff
        header["timeCode"] = tc
    OpenEXR.File(header, {key: np.ascontiguousarray(arr)}).write(str(path))
    return Path(path)


def make_sequence(folder: str | Path, name: str = "shot", ext: str = "png", frames: int = 5, start: int = 1001,
                  width: int = 64, height: int = 48, depth: int = 8, alpha: bool = False, padding: int = 4,
                  fps: Fraction | None = None, timecode: str | None = None, skip: Sequence[int] = ()) -> str:
    """Numbered stills `name.<number>.ext` of counter frames; returns the 'name.####.ext' pattern path.

    depth: 8 or 16 (PNG/TIFF); EXR is half float, linear = (sRGB-coded counter frame / 255) ** 2.2.
    skip: frame numbers to leave out (to make a gap).
    """
    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(frames):
        number = start + k
        if number in skip:
            continue
        rgb = counter_frame(k, width, height)
        target = folder / f"{name}.{number:0{padding}d}.{ext}"
        if ext == "exr":
            lin = (rgb.astype(np.float32) / 255.0) ** 2.2
            if alpha:
                lin = np.concatenate([lin, np.full((height, width, 1), 0.5, np.float32)], axis=2)
            write_exr(target, lin, fps=fps, timecode=timecode)
            continue
        img = rgb.astype(np.uint16) * 257 if depth == 16 else rgb
        if alpha:
            a = np.full((height, width, 1), 65535 if depth == 16 else 255, img.dtype)
            a[: height // 2] //= 2
            img = np.concatenate([img, a], axis=2)
            bgr = img[:, :, [2, 1, 0, 3]]
        else:
            bgr = img[:, :, ::-1]
        ok, buf = cv2.imencode(f".{ext}", np.ascontiguousarray(bgr))
        if not ok:
            raise RuntimeError(f"cv2 cannot encode .{ext}")
        buf.tofile(str(target))
    return str(folder / f"{name}.{'#' * padding}.{ext}")
