"""Deliverable writers: ProRes (BT.709 proven on the raw planes), EXR, PNG/TIFF, atomicity.

Everything is read back with PyAV / OpenEXR / OpenCV directly, not with our own reader.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import OpenEXR
import pytest

from core.errors import MediaError
from core.media import colour
from core.media.writers import (
    as_rate,
    format_timecode,
    frame_path,
    offset_timecode,
    open_writer,
    parse_timecode,
)

W, H = 64, 32
# patches: red, green, blue, mid grey, white, black, a skin tone, a saturated cyan
PATCHES = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128], [255, 255, 255], [0, 0, 0], [224, 172, 140], [0, 200, 220]],
    dtype=np.uint8,
)


def patch_frame(dtype=np.uint8) -> np.ndarray:
    """W x H frame of 8 vertical 8-pixel-wide patches."""
    img = np.repeat(PATCHES[None, :, :], 8, axis=1)  # 1 x 64 x 3
    img = np.repeat(img, H, axis=0)
    if dtype == np.uint16:
        return img.astype(np.uint16) * 257
    if dtype == np.float32:
        return img.astype(np.float32) / 255.0
    return img


def expected_ycbcr(rgb8: np.ndarray, kr: float, kb: float) -> np.ndarray:
    """Limited-range 10-bit Y'CbCr of 8-bit RGB with matrix (kr, kb) (formula from BT.709 / BT.601)."""
    rgb = rgb8.astype(np.float64) / 255.0
    y = kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    cb = (rgb[..., 2] - y) / (2 * (1 - kb))
    cr = (rgb[..., 0] - y) / (2 * (1 - kr))
    return np.stack([64 + 876 * y, 512 + 896 * cb, 512 + 896 * cr], axis=-1)


def decode_planes(path: Path) -> list[tuple[av.VideoFrame, list[np.ndarray]]]:
    """Every decoded frame with its planes as HxW uint16 arrays (native decoder depth)."""
    out = []
    with av.open(str(path)) as c:
        for fr in c.decode(video=0):
            planes = []
            for p in fr.planes:
                arr = np.frombuffer(p, np.uint16).reshape(p.height, p.line_size // 2)[:, : p.width]
                planes.append(arr.copy())
            out.append((fr, planes))
    return out


def write_mov(path: Path, frames: list[np.ndarray], **kw) -> Path:
    kw.setdefault("fps", Fraction(24))
    with open_writer(path, width=frames[0].shape[1], height=frames[0].shape[0], **kw) as w:
        for f in frames:
            w.write(f)
    return path


# --- ProRes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("encoder", ["prores_ks", "prores_aw"])
def test_prores4444_uses_bt709_matrix_on_the_raw_planes(tmp_path, encoder):
    from core.media.prores import ProResWriter

    out = tmp_path / "patches.mov"
    with ProResWriter(out, W, H, Fraction(24), encoder=encoder) as w:
        for _ in range(2):
            w.write(patch_frame())
    frames = decode_planes(out)
    fr, planes = frames[0]
    assert fr.format.name.startswith("yuva444p")
    bits = fr.format.components[0].bits
    scale = 1 << (bits - 10)
    got = np.stack([planes[i][H // 2, 4::8] / scale for i in range(3)], axis=-1)  # centre of each patch
    want709 = expected_ycbcr(PATCHES, 0.2126, 0.0722)
    want601 = expected_ycbcr(PATCHES, 0.299, 0.114)
    # ProRes is near-lossless on flat patches: within 1.5 10-bit codes of the exact BT.709 values
    assert np.abs(got - want709).max() <= 1.5, (got, want709)
    # and clearly not BT.601 (pure red: Y' 250 under BT.709, 326 under BT.601)
    assert abs(got[0, 0] - 250) <= 1 and abs(want601[0, 0] - got[0, 0]) > 70
    assert abs(got[0, 1] - 409) <= 1 and abs(got[0, 2] - 960) <= 1
    # limited range: white at 940, black at 64
    assert abs(got[4, 0] - 940) <= 1 and abs(got[5, 0] - 64) <= 1
    # alpha (no alpha given): opaque, full range
    assert planes[3].min() >= 1023 * scale
    # back to RGB with BT.709: within 1/255 + codec slack (stated tolerance 2/255) of the input
    rgb = colour.ycbcr709_to_rgb(planes[0], planes[1], planes[2], bits=bits)
    centre = rgb[H // 2, 4::8] * 255.0
    assert np.abs(centre - PATCHES).max() <= 2.0, centre


def test_prores_tags_rate_pts_timecode_and_metadata(tmp_path):
    fps = Fraction(30000, 1001)
    out = write_mov(tmp_path / "tagged.mov", [patch_frame()] * 5, fps=fps, timecode="01:00:00;00",
                    attributes={"facsimile/synthetic": "true"})
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "prores"
        assert v.codec_context.profile == "4444"
        assert v.average_rate == fps
        assert v.frames == 5
        tmcd = [s for s in c.streams if s.type == "data"]
        assert tmcd and tmcd[0].metadata.get("timecode") == "01:00:00;00"
        assert c.metadata.get("facsimile/synthetic") == "true"
        pkts = [p for p in c.demux(v) if p.pts is not None]
        pts = [p.pts for p in pkts]
        step = pkts[0].duration
        assert pts == [i * step for i in range(5)]
        assert Fraction(step) * v.time_base == 1 / fps  # exactly 1001/30000 s a frame
        c.seek(0)
        fr = next(c.decode(video=0))
        assert (fr.colorspace, fr.color_range, fr.color_primaries, fr.color_trc) == (1, 1, 1, 1)


@pytest.mark.parametrize(("codec", "profile", "fmt"), [("prores4444xq", "XQ", "yuva444p"), ("prores422hq", "HQ", "yuv422p")])
def test_prores_other_profiles(tmp_path, codec, profile, fmt):
    out = write_mov(tmp_path / f"{codec}.mov", [patch_frame()], codec=codec)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.profile == profile
    fr, planes = decode_planes(out)[0]
    assert fr.format.name.startswith(fmt)
    scale = 1 << (fr.format.components[0].bits - 10)
    y = planes[0][H // 2, 4::8] / scale
    assert np.abs(y - expected_ycbcr(PATCHES, 0.2126, 0.0722)[:, 0]).max() <= 1.5
    if codec == "prores422hq":
        # chroma is half width; at the centre of a flat patch it still equals the BT.709 value
        cr = planes[2][H // 2, 2::4] / scale
        assert np.abs(cr - expected_ycbcr(PATCHES, 0.2126, 0.0722)[:, 2]).max() <= 2.0


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_prores_input_sample_types_agree(tmp_path, dtype):
    a = decode_planes(write_mov(tmp_path / "u8.mov", [patch_frame()]))[0][1]
    b = decode_planes(write_mov(tmp_path / "other.mov", [patch_frame(dtype)]))[0][1]
    for pa, pb in zip(a, b, strict=True):
        assert np.abs(pa.astype(int) - pb.astype(int)).max() <= 8  # 12-bit codes: <= 2 10-bit codes


def test_prores_alpha_straight_and_premultiplied(tmp_path):
    straight = np.zeros((H, W, 4), np.float32)
    straight[..., 0] = 1.0  # red
    straight[..., 3] = np.linspace(0, 1, W)[None, :]
    premult = straight.copy()
    premult[..., :3] *= premult[..., 3:]
    for name, frame, flag in (("s", straight, False), ("p", premult, True)):
        fr, planes = decode_planes(write_mov(tmp_path / f"{name}.mov", [frame], premultiplied=flag))[0]
        scale = 1 << (fr.format.components[0].bits - 10)
        alpha = planes[3][H // 2] / scale
        assert np.abs(alpha - np.linspace(0, 1023, W)).max() <= 2.0
        # colour is straight red wherever alpha > 0 (ProRes 4444 convention)
        y = planes[0][H // 2, 8:] / scale
        assert np.abs(y - 250).max() <= 2.0, (name, y)


def test_prores_is_atomic_and_abort_leaves_nothing(tmp_path):
    target = tmp_path / "shot.mov"
    w = open_writer(target, width=W, height=H, fps=Fraction(24))
    w.write(patch_frame())
    partial = [p for p in tmp_path.iterdir() if p.name.startswith(".shot.") and p.name.endswith(".partial.mov")]
    assert len(partial) == 1 and not target.exists()
    w.close()
    assert target.exists() and not partial[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.mov"]

    target2 = tmp_path / "failed.mov"
    with pytest.raises(RuntimeError), open_writer(target2, width=W, height=H, fps=Fraction(24)) as w2:
        w2.write(patch_frame())
        raise RuntimeError("render crashed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.mov"]


def test_a_killed_writers_movie_is_swept_by_the_next_write(tmp_path):
    """kill -9 mid-movie leaves the writer's hidden temporary (it cannot remove it); the next
    write into that folder, once the file is a minute old, removes it, but never a live
    writer's temporary, another host's (shared storage) or one that is still fresh."""
    import signal
    import subprocess
    import sys

    from core.util import atomic

    code = ("import os, sys, numpy as np; from fractions import Fraction; from core.media.writers import open_writer\n"
            "w = open_writer(sys.argv[1], width=64, height=32, fps=Fraction(24))\n"
            "w.write(np.zeros((32, 64, 3), np.uint8)); print('writing', flush=True); os.kill(os.getpid(), 9)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "shot.mov")], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert proc.returncode == -signal.SIGKILL and "writing" in proc.stdout, proc.stderr
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".partial.mov")]
    assert len(left) == 1 and left[0].name.startswith(".shot.") and not (tmp_path / "shot.mov").exists()
    live = tmp_path / f".other.p{os.getppid()}-{atomic._HOST}.abcd1234.partial.mov"  # a live process's
    remote = tmp_path / ".other.p999999-000000.abcd1234.partial.mov"  # another host's
    untagged = tmp_path / ".older.abcd1234.partial.mov"  # written before writers were tagged
    for f in (live, remote, untagged):
        f.write_bytes(b"x")
    assert atomic.sweep_stale_temporaries(tmp_path) == []  # the killed one is still fresh
    old = os.stat(left[0]).st_mtime - 2 * atomic.STALE_AFTER_S
    for f in (left[0], live, remote, untagged):
        os.utime(f, (old, old))
    atomic._swept.discard(os.path.abspath(tmp_path))
    with open_writer(tmp_path / "next.mov", width=W, height=H, fps=Fraction(24)) as w:
        w.write(patch_frame())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, remote.name, untagged.name, "next.mov"])
    # a writer whose pid means nothing here (another pid namespace on this host) still holds its
    # temporary's flock while it writes: kept until the lock is gone
    other_ns = tmp_path / f".ns.p999998-{atomic._HOST}.abcd1234.partial.mov"
    other_ns.write_bytes(b"x")
    os.utime(other_ns, (old, old))
    held = atomic._hold(other_ns)
    assert held is not None and atomic.sweep_stale_temporaries(tmp_path) == []
    os.close(held)
    assert atomic.sweep_stale_temporaries(tmp_path) == [other_ns]


def test_prores_rejects_wrong_frames(tmp_path):
    with pytest.raises(MediaError, match="does not match the output size"), \
            open_writer(tmp_path / "x.mov", width=W, height=H, fps=Fraction(24)) as w:
        w.write(np.zeros((H, W + 2, 3), np.uint8))
    with pytest.raises(MediaError, match="HxWx3"), open_writer(tmp_path / "x.mov", width=W, height=H, fps=24) as w:
        w.write(np.zeros((H, W), np.uint8))
    with pytest.raises(MediaError, match="extra channels"), \
            open_writer(tmp_path / "x.mov", width=W, height=H, fps=24) as w:
        w.write(patch_frame(), extra_channels={"mask.Y": np.zeros((H, W), np.float32)})
    assert not (tmp_path / "x.mov").exists() and not list(tmp_path.iterdir())
    with pytest.raises(MediaError, match="unknown codec"):
        open_writer(tmp_path / "x.mov", width=W, height=H, fps=24, codec="h264")


def _make_plate_with_audio(path: Path, seconds: float = 2.0, fps: int = 25) -> None:
    """An H.264 + AAC plate (tone) made with PyAV."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        a = c.add_stream("aac", rate=48000)
        a.layout = "stereo"
        n = int(seconds * fps)
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), i * 4 % 255, np.uint8), format="rgb24")
            for p in v.encode(frame):
                c.mux(p)
        t = np.arange(int(seconds * 48000)) / 48000.0
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, len(tone), 1024):
            chunk = np.ascontiguousarray(np.stack([tone[k:k + 1024]] * 2))
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            af.sample_rate = 48000
            af.pts = k
            for p in a.encode(af):
                c.mux(p)
        for s in (v, a):
            for p in s.encode():
                c.mux(p)


def test_prores_copies_audio_packets_without_reencode(tmp_path):
    plate = tmp_path / "plate.mp4"
    _make_plate_with_audio(plate, seconds=2.0)
    with av.open(str(plate)) as c:
        src = [bytes(p) for p in c.demux(audio=0) if p.size]
    out = write_mov(tmp_path / "withaudio.mov", [patch_frame()] * 50, fps=Fraction(25), audio_from=plate)
    with av.open(str(out)) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        got = [bytes(p) for p in c.demux(audio=0) if p.size]
    # the same compressed packets, byte for byte, covering the 2 s of video (+- one packet)
    assert got == src[: len(got)]
    assert abs(len(got) - len(src)) <= 1

    # a range starting 1 s in: audio starts at the packet covering 1 s
    out2 = write_mov(tmp_path / "trimmed.mov", [patch_frame()] * 25, fps=Fraction(25), audio_from=plate,
                     audio_start=1.0)
    with av.open(str(out2)) as c:
        got2 = [bytes(p) for p in c.demux(audio=0) if p.size]
    assert 0 < len(got2) < len(src) and got2[0] in src[40:50]


# --- EXR -----------------------------------------------------------------------------------
def test_exr_linear_premultiplied_attributes_and_channels(tmp_path):
    frame = np.zeros((H, W, 4), np.float32)
    frame[..., :3] = 0.5
    frame[:, : W // 2, 3] = 1.0
    frame[:, W // 2:, 3] = 0.5
    mask = np.zeros((H, W), np.float32)
    mask[4:8, 4:8] = 1.0
    fps = Fraction(30000, 1001)
    pattern = tmp_path / "shot.####.exr"
    with open_writer(pattern, width=W, height=H, fps=fps, timecode="00:59:59;28",
                     attributes={"facsimile/synthetic": "true"}) as w:
        for _ in range(3):
            w.write(frame, extra_channels={"mask.Y": mask})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.1001.exr", "shot.1002.exr", "shot.1003.exr"]
    f = OpenEXR.File(str(tmp_path / "shot.1001.exr"))
    header, chans = f.header(), f.channels()
    assert set(chans) == {"RGBA", "mask.Y"}
    rgba = chans["RGBA"].pixels
    assert rgba.dtype == np.float16
    # sRGB 0.5 -> linear 0.214, premultiplied by alpha
    assert rgba[0, 0, 0] == pytest.approx(0.2140, abs=1e-3)
    assert rgba[0, W - 1, 0] == pytest.approx(0.2140 * 0.5, abs=1e-3)
    assert rgba[0, W - 1, 3] == pytest.approx(0.5, abs=1e-3)
    # inverse transform gives the input back
    back = colour.convert_colorspace(rgba[..., :3].astype(np.float32), "Linear Rec.709 (sRGB)", "sRGB - Texture")
    assert back[0, 0, 0] == pytest.approx(0.5, abs=2e-3)
    assert np.array_equal(chans["mask.Y"].pixels, mask.astype(np.float16))
    assert header["framesPerSecond"] == fps
    assert header["compression"] == OpenEXR.PIZ_COMPRESSION
    assert header["facsimile/synthetic"] == "true"
    assert header["colorspace"] == "Linear Rec.709 (sRGB)"
    tcs = []
    for n in (1001, 1002, 1003):
        tc = OpenEXR.File(str(tmp_path / f"shot.{n}.exr")).header()["timeCode"]
        tcs.append((tc.hours, tc.minutes, tc.seconds, tc.frame, bool(tc.dropFrame)))
    # drop-frame: 00:59:59;29 -> 01:00:00;00 (no drop at the 10th minute)
    assert tcs == [(0, 59, 59, 28, True), (0, 59, 59, 29, True), (1, 0, 0, 0, True)]


@pytest.mark.parametrize("alpha_kind", ["opaque", "patch", "over one", "nan"])
@pytest.mark.parametrize(("source", "target"), [("Linear Rec.709 (sRGB)", "Linear Rec.709 (sRGB)"),
                                                ("Linear Rec.709 (sRGB)", "ACEScg"),
                                                ("Linear Rec.709 (sRGB)", "ACEScct"),
                                                ("sRGB - Texture", "ACEScg")])
@pytest.mark.parametrize("size", [(W, H), (320, 240)])  # numpy's size, and OpenCV's (over 2**16 values)
def test_exr_premultiplied_frames_written_as_the_general_path_would(tmp_path, alpha_kind, source, target, size):
    """A premultiplied frame is written as unpremultiply -> colour transform -> premultiply (the
    EXR convention) would write it, whichever way the writer takes: as it is when every alpha is
    in 0..1 and the transform is a matrix or nothing, on OpenCV for large frames, numpy for small
    or NaN ones. The file holds colour 0 where alpha is 0 (even where the frame had some),
    straight colour times the clipped alpha where alpha is over 1, NaN kept."""
    w_, h_ = size
    rng = np.random.default_rng(2)
    frame = (rng.random((h_, w_, 4)) * 1.3).astype(np.float32)
    alpha = {"opaque": np.ones((h_, w_)), "patch": np.where(rng.random((h_, w_)) < 0.4, 0.0, rng.random((h_, w_))),
             "over one": np.full((h_, w_), 0.8), "nan": np.full((h_, w_), 0.6)}[alpha_kind].astype(np.float32)
    if alpha_kind == "over one":
        alpha[3, 5] = 1.7
    if alpha_kind == "nan":
        alpha[2, 2] = np.nan
    frame[..., :3] *= np.nan_to_num(alpha)[..., None]
    frame[..., 3] = alpha
    frame[0, 0, :3] = 0.25 if alpha[0, 0] == 0 else frame[0, 0, :3]  # colour where alpha is 0 (patch)
    if not colour.is_linear(source):  # display-referred input: 16-bit code values, as a patch of a video plate
        frame = np.clip(np.nan_to_num(frame, nan=0.5), 0, 1)
        frame = (frame * 65535 + 0.5).astype(np.uint16)
    with open_writer(tmp_path / "p.####.exr", width=w_, height=h_, fps=Fraction(24), input_colorspace=source,
                     colorspace=target, premultiplied=True) as w:
        w.write(frame)
    got = OpenEXR.File(str(tmp_path / "p.1001.exr")).channels()["RGBA"].pixels.astype(np.float32)
    f = colour.to_float01(frame)
    a = f[..., 3:]
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.where(a > 0, f[..., :3] / np.where(a > 0, a, 1), 0.0).astype(np.float32)
    lin = colour.convert_colorspace(np.concatenate([straight, a], axis=2), source, target)
    want = np.concatenate([lin[..., :3] * np.clip(a, 0, 1), np.clip(a, 0, 1)], axis=2).astype(np.float16)
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=2e-3, atol=1e-4)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    if alpha_kind == "patch":
        assert (got[alpha == 0] == 0).all()


@pytest.mark.parametrize(("compression", "const"), [("zip", "ZIP_COMPRESSION"), ("dwaa", "DWAA_COMPRESSION")])
def test_exr_compression_colorspace_and_printf_pattern(tmp_path, compression, const):
    frame = np.full((H, W, 3), 128, np.uint8)
    with open_writer(tmp_path / "s.%04d.exr", width=W, height=H, fps=Fraction(24), compression=compression,
                     colorspace="ACEScg", start_number=1) as w:
        w.write(frame)
    f = OpenEXR.File(str(tmp_path / "s.0001.exr"))
    assert f.header()["compression"] == getattr(OpenEXR, const)
    assert f.header()["colorspace"] == "ACEScg"
    rgba = f.channels()["RGBA"].pixels.astype(np.float32)
    want = colour.convert_colorspace(np.full((1, 1, 3), 128, np.uint8), "sRGB - Texture", "ACEScg")[0, 0]
    assert np.allclose(rgba[H // 2, W // 2, :3], want, atol=5e-3 if compression == "dwaa" else 1e-3)
    assert rgba[..., 3].min() == 1.0


def test_exr_bad_colorspace_lists_valid_names(tmp_path):
    with pytest.raises(MediaError) as info:
        open_writer(tmp_path / "s.####.exr", width=W, height=H, fps=Fraction(24), colorspace="Rec709 linear")
    assert "unknown colour space 'Rec709 linear'" in str(info.value) and "'ACEScg'" in str(info.value)
    assert open_writer(tmp_path / "s.####.exr", width=W, height=H, fps=24, colorspace="lin_ap1").colorspace == "ACEScg"


def test_sequence_needs_pattern_and_known_extension(tmp_path):
    with pytest.raises(MediaError, match="frame-number pattern"):
        open_writer(tmp_path / "s.exr", width=W, height=H, fps=Fraction(24))
    with pytest.raises(MediaError, match="use a .mov"):
        open_writer(tmp_path / "s.####.jpg", width=W, height=H, fps=Fraction(24))
    with pytest.raises(MediaError, match="compression"):
        open_writer(tmp_path / "s.####.exr", width=W, height=H, fps=Fraction(24), compression="b44")


# --- PNG / TIFF -----------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["png", "tif"])
def test_png_tiff_16bit_rgb_order_and_alpha(tmp_path, ext):
    rgba = np.zeros((H, W, 4), np.uint16)
    rgba[..., 0] = 65535  # red
    rgba[..., 2] = 1000
    rgba[..., 3] = 30000
    with open_writer(tmp_path / f"o.####.{ext}", width=W, height=H, fps=Fraction(24)) as w:
        w.write(rgba)
        w.write(patch_frame())
    a = cv2.imread(str(tmp_path / f"o.1001.{ext}"), cv2.IMREAD_UNCHANGED)
    assert a.dtype == np.uint16 and a.shape == (H, W, 4)
    assert tuple(a[0, 0]) == (1000, 0, 65535, 30000)  # BGRA on disk means RGBA in
    b = cv2.imread(str(tmp_path / f"o.1002.{ext}"), cv2.IMREAD_UNCHANGED)
    assert b.shape == (H, W, 3) and tuple(b[0, 0]) == (0, 0, 65535)
    assert [p.name for p in sorted(tmp_path.iterdir())] == [f"o.1001.{ext}", f"o.1002.{ext}"]


# --- timecode and patterns ------------------------------------------------------------------
def test_timecode_arithmetic_drop_and_non_drop():
    df = Fraction(30000, 1001)
    assert parse_timecode("00:01:00;02", df) == 1800
    assert format_timecode(1800, df, drop_frame=True) == "00:01:00;02"
    assert format_timecode(17982, df, drop_frame=True) == "00:10:00;00"
    for n in (0, 1, 1799, 1800, 17981, 17982, 107892, 2589407):
        assert parse_timecode(format_timecode(n, df, True), df) == n
    assert offset_timecode("01:00:00:00", 30, Fraction(24)) == "01:00:01:06"
    assert offset_timecode("00:00:59;29", 1, df) == "00:01:00;02"
    with pytest.raises(MediaError, match="SMPTE"):
        parse_timecode("1h", Fraction(24))
    assert frame_path("a/b.####.exr", 7) == Path("a/b.0007.exr")
    assert frame_path("b.%06d.exr", 1001) == Path("b.001001.exr")
    assert as_rate(29.97) == Fraction(30000, 1001) and as_rate(23.976) == Fraction(24000, 1001)
    assert as_rate(12.5) == Fraction(25, 2) and as_rate("24000/1001") == Fraction(24000, 1001)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_finished_files_are_readable_by_others_as_open_would_make_them(tmp_path):
    """Atomic writes go through a mkstemp file (owner-only, 0o600); the finished deliverable,
    project or sidecar gets what a plain open() gives (0o666 less the umask) so compositors and
    farm users on shared storage can read it, and a replaced file keeps its own permissions."""
    from core.util.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        import core.util.atomic as atomic

        atomic._UMASK = None  # read it again under the umask set here
        frame = np.full((H, W, 3), 100, np.uint8)
        with open_writer(tmp_path / "f.####.exr", width=W, height=H, fps=Fraction(24)) as w:
            w.write(frame)
        with open_writer(tmp_path / "f.mov", width=W, height=H, fps=Fraction(24)) as w:
            w.write(frame)
        atomic_write_text(tmp_path / "p.json", "{}")
        for name in ("f.1001.exr", "f.mov", "p.json"):
            assert oct((tmp_path / name).stat().st_mode & 0o777) == oct(0o644), name
        os.chmod(tmp_path / "p.json", 0o664)  # a project made group-writable stays so when saved again
        atomic_write_text(tmp_path / "p.json", '{"a": 1}')
        assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)
        atomic._UMASK = None


def test_nan_in_a_float_frame_is_legal_black_in_prores():
    """A NaN pixel of a float plate became Y' 1.5 (10-bit), below legal black 64, with a warning."""
    from core.media.colour import rgb_to_ycbcr709_10bit

    rgb = np.full((4, 4, 3), 0.5, np.float32)
    rgb[1, 1] = np.nan
    rgb[2, 2] = [np.inf, -np.inf, 0.5]
    y, cb, cr = rgb_to_ycbcr709_10bit(rgb)
    assert y.min() >= 64 and y.max() <= 940 and cb.min() >= 64 and cr.max() <= 960
    assert y[1, 1] == 64 and cb[1, 1] == 512 and cr[1, 1] == 512
