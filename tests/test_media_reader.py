"""Frame-accurate reading: random access == sequential decode, VFR, rotation, timecode, depth, sequences."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

from core.errors import MediaError
from core.media.reader import MediaInfo, open_media
from tests.mediagen import counter_frame, make_sequence, make_video, which_frame, write_exr


def _assert_random_equals_sequential(reader, seed: int = 7) -> list[np.ndarray]:
    seq = [img for _, img in reader.frames()]
    assert len(seq) == reader.info.frame_count
    order = list(range(len(seq)))
    random.Random(seed).shuffle(order)
    for k in order:
        img = reader.read(k)
        assert img.flags.c_contiguous
        assert np.array_equal(img, seq[k]), f"frame {k} differs between random access and sequential decode"
    return seq


def test_long_gop_bframes_random_access_is_bit_exact(tmp_path):
    path = make_video(tmp_path / "gop.mp4", frames=150, gop=100, bframes=3)
    with open_media(path) as r:
        info = r.info
        assert (info.kind, info.width, info.height, info.frame_count) == ("video", 320, 240, 150)
        assert info.fps == Fraction(25) and info.codec == "h264" and info.bit_depth == 8 and not info.vfr
        seq = _assert_random_equals_sequential(r)
        # frame N is picture N (not just self-consistent)
        for k in range(0, 150, 7):
            assert which_frame(seq[k], [max(k - 1, 0), k, min(k + 1, 149)]) == k
        assert r.read_rgb8(10).dtype == np.uint8 and r.read_rgb8(10).shape == (240, 320, 3)
        assert r.frame_time(25) == pytest.approx(1.0)


def test_next_frame_does_not_seek(tmp_path):
    path = make_video(tmp_path / "n.mp4", frames=60, gop=30, bframes=3)
    with open_media(path) as r:
        r.read(40)
        seeks = r.stats["seeks"]
        for k in range(41, 60):
            r.read(k)
        assert r.stats["seeks"] == seeks
        # frames() after a read continues without seeking either
        list(r.frames(10, 20))
        s2 = r.stats["seeks"]
        list(r.frames(20, 30))
        assert r.stats["seeks"] == s2


def test_cache_returns_copies(tmp_path):
    path = make_video(tmp_path / "c.mp4", frames=10)
    with open_media(path) as r:
        a = r.read(3)
        a[:] = 0
        assert r.read(3).any()


def test_vfr_pts_table(tmp_path):
    pts = [0, 40, 80, 200, 210, 260, 400, 440, 441, 500, 540, 700]
    path = make_video(tmp_path / "vfr.mp4", frames=len(pts), pts=[p + 1000 for p in pts], time_base=Fraction(1, 1000))
    with open_media(path) as r:
        assert r.info.frame_count == len(pts)
        assert r.info.vfr
        assert [round(r.frame_time(k), 4) for k in range(len(pts))] == [p / 1000 for p in pts]
        seq = _assert_random_equals_sequential(r)
        assert [which_frame(img, range(len(pts))) for img in seq] == list(range(len(pts)))


def test_first_pts_not_zero(tmp_path):
    path = make_video(tmp_path / "off.mov", frames=30, pts=[5000 + 40 * k for k in range(30)],
                      time_base=Fraction(1, 1000))
    with open_media(path) as r:
        assert r.info.frame_count == 30 and not r.info.vfr and r.info.fps == 25
        assert r.frame_time(0) == 0.0 and r.frame_time(29) == pytest.approx(29 * 0.04)
        assert which_frame(r.read(0), [0, 1]) == 0


@pytest.mark.parametrize("ccw, expect_cw", [(-90, 90), (90, 270), (180, 180)])
def test_rotation_applied_and_reported(tmp_path, ccw, expect_cw):
    path = make_video(tmp_path / "rot.mp4", frames=20, gop=10, rotation=ccw)
    with open_media(path) as r:
        assert r.info.rotation == expect_cw
        if expect_cw in (90, 270):
            assert (r.info.width, r.info.height) == (240, 320)
        img = r.read(7)
        assert img.shape[:2] == (r.info.height, r.info.width)
        upright_back = np.rot90(img, k=expect_cw // 90)  # undo the clockwise turn
        assert which_frame(np.ascontiguousarray(upright_back), [6, 7, 8]) == 7
        _assert_random_equals_sequential(r)


def test_timecode_and_audio(tmp_path):
    path = make_video(tmp_path / "tc.mov", frames=25, timecode="01:02:03:04", audio=True)
    with open_media(path) as r:
        assert r.info.timecode == "01:02:03:04"
        assert r.info.audio and r.info.audio[0]["codec"] == "aac" and r.info.audio[0]["sample_rate"] == 48000
        assert r.info.audio[0]["channels"] == 2


def test_10bit_video_is_uint16_full_range(tmp_path):
    path = make_video(tmp_path / "ten.mov", frames=8, pix_fmt="yuv420p10le")
    with open_media(path) as r:
        assert r.info.bit_depth == 10 and r.info.pix_fmt == "yuv420p10le"
        img = r.read(3)
        assert img.dtype == np.uint16 and img.max() > 65000
        assert np.abs(r.read_rgb8(3).astype(int) - counter_frame(3)).mean() < 4


def test_prores_alpha_kept(tmp_path):
    path = make_video(tmp_path / "a.mov", frames=4, codec="prores_ks", pix_fmt="yuva444p10le", alpha=True)
    with open_media(path) as r:
        assert r.info.has_alpha and r.info.channels == 4 and r.info.codec == "prores"
        img = r.read(1)
        assert img.shape == (240, 320, 4) and img.dtype == np.uint16
        assert img[-1, -1, 3] >= 65500 and abs(int(img[0, 0, 3]) - 32896) < 300
        assert r.read_rgb8(1).shape == (240, 320, 3)


def test_colour_tags_used_and_reported(tmp_path):
    tags = {"colorspace": 1, "color_range": 1, "color_primaries": 1, "color_trc": 1}
    path = make_video(tmp_path / "709.mp4", frames=4, color=tags)
    with open_media(path) as r:
        assert (r.info.color_matrix, r.info.color_range, r.info.color_primaries, r.info.color_transfer) == (
            "bt709", "tv", "bt709", "bt709")
        assert np.abs(r.read(2).astype(int) - counter_frame(2)).mean() < 4
    with open_media(make_video(tmp_path / "untagged.mp4", frames=4)) as r:
        assert r.info.color_matrix is None and any("not tagged" in n for n in r.info.notes)
        assert np.abs(r.read(2).astype(int) - counter_frame(2)).mean() < 4


@pytest.mark.parametrize("ext", ["mkv", "avi", "h264"])
def test_other_containers(tmp_path, ext):
    """mkv (pts-indexed), avi (decode-order timestamps), raw h264 (no timestamps): same guarantees."""
    path = make_video(tmp_path / f"c.{ext}", frames=40, gop=12, bframes=2)
    with open_media(path) as r:
        assert r.info.frame_count == 40
        seq = _assert_random_equals_sequential(r)
        assert [which_frame(img, range(max(k - 1, 0), k + 2)) for k, img in enumerate(seq)] == list(range(40))


def test_index_errors(tmp_path):
    with open_media(make_video(tmp_path / "i.mp4", frames=5)) as r:
        with pytest.raises(IndexError):
            r.read(5)
        with pytest.raises(IndexError):
            r.read(-1)


# ------------------------------------------------------------------ sequences and stills


@pytest.mark.parametrize("ext, depth, dtype", [("png", 8, np.uint8), ("png", 16, np.uint16), ("tif", 16, np.uint16),
                                                ("tif", 8, np.uint8), ("jpg", 8, np.uint8)])
def test_sequence_formats(tmp_path, ext, depth, dtype):
    pattern = make_sequence(tmp_path, "shot", ext, frames=6, start=1001, depth=depth)
    with open_media(pattern) as r:
        info = r.info
        assert (info.kind, info.frame_count, info.first_frame_number, info.width, info.height) == (
            "sequence", 6, 1001, 64, 48)
        assert info.fps == 24 and info.bit_depth == depth
        img = r.read(4)
        assert img.dtype == dtype and img.shape == (48, 64, 3)
        tol = 12 if ext == "jpg" else 1
        assert np.abs(r.read_rgb8(4).astype(int) - counter_frame(4, 64, 48)).max() <= tol * 8
        assert np.abs(r.read_rgb8(4).astype(int) - counter_frame(4, 64, 48)).mean() <= tol
        assert [k for k, _ in r.frames()] == list(range(6))
        assert all(np.array_equal(a, r.read(k)) for k, a in r.frames())


def test_sequence_patterns_member_and_printf(tmp_path):
    make_sequence(tmp_path, "plate", "png", frames=4, start=7, padding=4)
    for spec in ["plate.####.png", "plate.%04d.png", "plate.0009.png"]:
        with open_media(tmp_path / spec) as r:
            assert r.info.kind == "sequence" and r.info.frame_count == 4 and r.info.first_frame_number == 7
            assert which_frame(r.read_rgb8(2), [1, 2, 3]) == 2
    with open_media(tmp_path / "plate.0009.png", as_sequence=False) as r:
        assert r.info.kind == "image" and r.info.frame_count == 1


def test_sequence_gap_is_an_error_naming_the_frame(tmp_path):
    pattern = make_sequence(tmp_path, "gap", "png", frames=6, start=1001, skip=[1003])
    with pytest.raises(MediaError, match="1003"):
        open_media(pattern)


def test_exr_sequence_fps_timecode_alpha(tmp_path):
    pattern = make_sequence(tmp_path, "cg", "exr", frames=3, start=101, fps=Fraction(25), timecode="10:00:00:05",
                            alpha=True)
    with open_media(pattern) as r:
        info = r.info
        assert info.fps == 25 and info.timecode == "10:00:00:05" and info.codec == "exr"
        assert info.has_alpha and info.channels == 4 and info.bit_depth == 16 and info.color_transfer == "linear"
        img = r.read(1)
        assert img.dtype == np.float32 and img.shape == (48, 64, 4)
        assert np.allclose(img[..., 3], 0.5)
        expect = (counter_frame(1, 64, 48).astype(np.float32) / 255) ** 2.2
        assert np.abs(img[..., :3] - expect).max() < 2e-3
        assert np.abs(r.read_rgb8(1).astype(int) - counter_frame(1, 64, 48)).mean() < 3
    with open_media(pattern, fps=30) as r:
        assert r.info.fps == 30


def test_exr_luminance_and_data_window(tmp_path):
    y = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
    write_exr(tmp_path / "y.exr", y, half=False)
    with open_media(tmp_path / "y.exr") as r:
        assert r.info.kind == "image"
        img = r.read(0)
        assert img.shape == (48, 64, 3) and np.allclose(img[..., 0], y) and np.allclose(img[..., 2], y)


def test_stills_gray_and_rgba(tmp_path):
    import cv2

    gray = (np.arange(48 * 64) % 256).astype(np.uint8).reshape(48, 64)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    with open_media(tmp_path / "g.png") as r:
        assert r.info.channels == 1 and r.read(0).shape == (48, 64, 3)
        assert np.array_equal(r.read(0)[..., 1], gray)
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 77
    cv2.imwrite(str(tmp_path / "a.png"), rgba[..., [2, 1, 0, 3]])
    with open_media(tmp_path / "a.png") as r:
        img = r.read(0)
        assert r.info.has_alpha and img.shape == (10, 12, 4)
        assert tuple(img[0, 0]) == (200, 0, 0, 77)
        assert r.read_rgb8(0).shape == (10, 12, 3)


def test_to_json_roundtrip(tmp_path):
    import json

    with open_media(make_video(tmp_path / "j.mp4", frames=5, fps=Fraction(30000, 1001))) as r:
        data = json.loads(json.dumps(r.info.to_json()))
    assert data["fps"] == "30000/1001" and data["fps_float"] == pytest.approx(29.97, abs=1e-3)
    assert data["frame_count"] == 5 and set(MediaInfo.__dataclass_fields__) <= set(data)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float16, np.float64])
@pytest.mark.parametrize("channels", [3, 4])
def test_to_rgb8_matches_the_transfer_function_and_leaves_the_frame_alone(dtype, channels):
    """The 8-bit view of a deep frame (what analysis and the networks see) is the nearest code:
    value / 257 exactly for 16-bit; for float, sRGB-encoded scene-linear, NaN and negatives black,
    above 1 and +inf white, at most one code off the float64 answer (float32 rounding, rare).
    The caller's frame is never modified (OpenCV works in place on its own copy)."""
    from core.media.reader import to_rgb8

    rng = np.random.default_rng(3)
    if dtype == np.uint16:
        img = np.concatenate([np.arange(65536, dtype=np.uint16).reshape(256, 256, 1).repeat(channels, 2),
                              rng.integers(0, 65536, (40, 256, channels), dtype=np.uint16)])
        truth = np.rint(img[..., :3].astype(np.float64) / 257.0)
    else:
        lin = np.concatenate([np.linspace(-0.1, 1.1, 256 * 256).reshape(256, 256),
                              rng.random((40, 256)) * 1.3 - 0.1]).astype(dtype)
        img = np.repeat(lin[:, :, None], channels, 2)
        img[0, :4, 0] = [np.nan, np.inf, -np.inf, 7.0]
        x = np.clip(np.nan_to_num(img[..., :3].astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        truth = np.rint(255.0 * np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055))
    before = img.copy()
    for view in (img, img[:, ::-1]):  # contiguous and strided input
        out = to_rgb8(view)
        assert out.dtype == np.uint8 and out.shape == view.shape[:2] + (3,) and out.flags.c_contiguous
        diff = np.abs(out.astype(np.float64) - (truth if view is img else truth[:, ::-1]))
        assert diff.max() <= (0 if dtype == np.uint16 else 1)
        assert (diff > 0).mean() < 1e-4
    np.testing.assert_array_equal(img, before)
    if dtype != np.uint16:
        assert to_rgb8(img)[0, :4, 0].tolist() == [0, 255, 0, 255]


def test_a_long_gop_file_is_demuxed_once_per_state(tmp_path):
    """Demuxing reads the whole file; a second open of the same, unchanged file takes the frame
    table the first one found (same table, pictures, notes), and a file rewritten in place (new
    size, time) is demuxed again. A cut-off file keeps its notes."""
    import shutil

    import core.media.reader as reader_mod

    path = make_video(tmp_path / "h.mp4", frames=30, width=96, height=64, gop=10)
    reader_mod._INDEX_MEMO.clear()
    with open_media(path) as first, open_media(path) as again:
        assert (first.stats["index"], again.stats["index"]) == ("demux", "memo")
        np.testing.assert_array_equal(first._pts, again._pts)
        assert first.info == again.info
        for i in (29, 0, 17):
            np.testing.assert_array_equal(first.read(i), again.read(i))
    make_video(tmp_path / "other.mp4", frames=20, width=96, height=64, gop=10)
    shutil.copyfile(tmp_path / "other.mp4", path)  # the same path rewritten in place
    with open_media(path) as rewritten:
        assert rewritten.stats["index"] == "demux" and rewritten.info.frame_count == 20
    data = make_video(tmp_path / "fs.mp4", frames=60, gop=20, faststart=True).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with open_media(cut) as a, open_media(cut) as b:
        assert (a.stats["index"], b.stats["index"]) == ("demux", "memo")
        assert a.info.frame_count == b.info.frame_count < 60 and a.info.notes == b.info.notes
        assert any("end" in note for note in b.info.notes)
        np.testing.assert_array_equal(a.read(a.info.frame_count - 1), b.read(b.info.frame_count - 1))


@pytest.mark.parametrize("vfr", [False, True])
def test_intra_only_mov_indexed_from_its_sample_tables(tmp_path, vfr):
    """A ProRes MOV is opened from the container's sample tables, without reading its packets
    (a multi-gigabyte 4K plate was read end to end at every open); the frame table, the frame
    count and every picture are those the demuxing path gives, VFR timestamps included. A
    long-GOP H.264 file is still demuxed."""
    import core.media.reader as reader_mod

    pts = [0, 1, 2, 4, 5, 8, 9, 10, 12, 13, 14, 15] if vfr else None
    path = make_video(tmp_path / "p.mov", frames=12, width=96, height=64, codec="prores_ks",
                      pix_fmt="yuv444p10le", pts=pts, time_base=Fraction(1, 24) if vfr else None)
    with open_media(path) as fast:
        assert fast._intra_indexed
        real = reader_mod._container_index
        try:
            reader_mod._container_index = lambda *a: None
            reader_mod._INDEX_MEMO.clear()  # the second open must demux, not take the first one's table
            with open_media(path) as slow:
                assert not slow._intra_indexed
                np.testing.assert_array_equal(fast._pts, slow._pts)
                assert fast.info.frame_count == slow.info.frame_count == 12
                assert fast.info.vfr == slow.info.vfr == vfr
                for i in (0, 5, 11, 3):
                    np.testing.assert_array_equal(fast.read(i), slow.read(i))
                    assert fast.frame_time(i) == slow.frame_time(i)
        finally:
            reader_mod._container_index = real
    with open_media(make_video(tmp_path / "h.mp4", frames=12, width=96, height=64)) as h264:
        assert not h264._intra_indexed and h264.info.frame_count == 12


def test_names_with_pattern_characters_are_files_when_they_exist(tmp_path):
    """'take#2.mov', 'grade 50%.mov', an existing 'notes#1.png' are files: only a name with a frame
    placeholder, of an image type, that is not itself a file, is a sequence pattern. Every caller
    (reader, plates, studio, sidecar, verify) asks core.media.reader.names_image_sequence."""
    from core.delivery.provenance import verify
    from core.delivery.sidecar import sidecar_path
    from core.media.reader import names_image_sequence
    from core.project.model import Plate
    from core.project.plates import check_plate, plate_missing

    for pattern in ("shot.####.exr", "shot.@@@@.dpx", "shot.%04d.png", "shot_%d.tif"):
        assert names_image_sequence(tmp_path / pattern), pattern
    assert not names_image_sequence(tmp_path / "take#2.mov")  # movies are never sequences
    still = tmp_path / "notes#1.png"
    import cv2

    cv2.imwrite(str(still), np.zeros((8, 8, 3), np.uint8))
    assert not names_image_sequence(still)
    for name in ("take#2.mov", "grade 50%.mov", "shot_%d_v2.mov"):
        path = make_video(tmp_path / name, frames=4)
        assert not names_image_sequence(path), name
        with open_media(path) as r:
            assert r.info.frame_count == 4 and which_frame(r.read_rgb8(2), range(4)) == 2
        plate = Plate.from_media(path)
        assert not plate_missing(plate) and check_plate(plate).state == "ok", name
        report = verify(path)  # was OpenEXR's "Unable to open ... for read" on any name with # or %
        assert report["watermark"]["present"] is False
        # the sidecar is the file's own, not 'take.facsimile.json' shared by take#2, take#3, ...
        assert sidecar_path(path).name == path.stem + ".facsimile.json"
        assert report["sidecar"]["path"] == str(sidecar_path(path))
    assert sidecar_path(tmp_path / "shot.@@@@.exr").name == "shot.exr.facsimile.json"


@pytest.mark.parametrize(("pix_fmt", "crange"), [("yuv422p10le", 1), ("yuv444p12le", 1), ("yuv422p10le", 2)])
def test_deep_yuv_plates_read_at_full_scale(tmp_path, pix_fmt, crange):
    """swscale's 16-bit RGB of 10/12-bit Y'CbCr stops short of full scale (limited white 940 ->
    65283, full 1023 -> 65472): every deep plate, and every convert and render of it, came back
    0.1-0.4 % darker. Measured against BT.709 by hand on a lossless (FFV1) plate."""
    import av

    bits = 12 if "12" in pix_fmt else 10
    m, s = (1 << bits) - 1, 1 << (bits - 8)
    h, w = 32, 64
    rng = np.random.default_rng(1)
    lo, hi = (16 * s, 235 * s) if crange == 1 else (0, m)
    clo, chi = (16 * s, 240 * s) if crange == 1 else (0, m)
    cw = w // 2 if "422" in pix_fmt else w
    y = rng.integers(lo, hi + 1, (h, w)).astype(np.uint16)
    y[0, :] = hi  # reference white
    cb, cr = (rng.integers(clo, chi + 1, (h, cw)).astype(np.uint16) for _ in range(2))
    cb[0, :] = cr[0, :] = 1 << (bits - 1)
    path = tmp_path / "deep.mkv"
    with av.open(str(path), "w") as c:
        st = c.add_stream("ffv1", rate=25)
        st.width, st.height, st.pix_fmt = w, h, pix_fmt
        st.codec_context.color_range = crange
        st.codec_context.colorspace = 1
        st.codec_context.color_primaries = 1
        st.codec_context.color_trc = 1
        f = av.VideoFrame(w, h, pix_fmt)
        for p, a in zip(f.planes, (y, cb, cr), strict=True):
            np.frombuffer(p, np.uint16).reshape(-1, p.line_size // 2)[: a.shape[0], : a.shape[1]] = a
        f.color_range, f.colorspace = crange, 1
        for pkt in st.encode(f):
            c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)
    with open_media(path) as r:
        got = r.read(0)[..., :3].astype(np.float64) / 65535
    if "422" in pix_fmt:
        cb, cr = np.repeat(cb, 2, 1), np.repeat(cr, 2, 1)
    if crange == 1:
        yn, pb, pr = (y - 16 * s) / (219 * s), (cb - 128 * s) / (224 * s), (cr - 128 * s) / (224 * s)
    else:
        yn, pb, pr = y / m, (cb - (m + 1) / 2) / m, (cr - (m + 1) / 2) / m
    kr, kb = 0.2126, 0.0722
    r_, b_ = yn + 2 * (1 - kr) * pr, yn + 2 * (1 - kb) * pb
    exact = np.clip(np.stack([r_, (yn - kr * r_ - kb * b_) / (1 - kr - kb), b_], -1), 0, 1)
    assert got[0].min() > 1 - 1e-4  # reference white is white
    inside = (exact > 0.01).all(-1) & (exact < 0.99).all(-1)
    err = np.abs(got - exact)[inside] * m
    assert err.max() < 1.0 and abs(float(np.mean((got - exact)[inside]))) * m < 0.05, err.max()


def test_an_exr_whose_only_layer_is_named_is_read(tmp_path):
    """An EXR holding only beauty.R/G/B/A was refused ("no RGB, RGBA or Y layer (channels:
    beauty)"): OpenEXR 3 hands the layer over as one channel named "beauty"."""
    import OpenEXR

    rng = np.random.default_rng(3)
    px = rng.uniform(0, 1, (24, 32, 4)).astype(np.float32)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    chans = {f"beauty.{c}": np.ascontiguousarray(px[..., i]) for i, c in enumerate("RGBA")}
    chans["depth.Z"] = np.ascontiguousarray(px[..., 0] * 10)
    with OpenEXR.File(header, chans) as f:
        f.write(str(tmp_path / "layer.0001.exr"))
    with open_media(tmp_path / "layer.####.exr") as r:
        got = r.read(0)
        assert r.info.has_alpha and got.shape == (24, 32, 4)


def _clip_with_face_marks(n: int = 6, w: int = 96, h: int = 64) -> list[np.ndarray]:
    """Frames with a bright block at the top left and a frame number in the block's size."""
    out = []
    for i in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[4:20, 4:20 + 4 * i] = 230
        out.append(f)
    return out


@pytest.mark.parametrize(("rotation", "hflip"), [(0, True), (90, True), (180, False)])
def test_a_mirroring_display_matrix_is_read_as_players_show_it(tmp_path, rotation, hflip):
    """A display matrix with a horizontal flip was read as a 180-degree turn (PyAV gives the angle
    only), so the picture came back upside down and the analysis still said success."""
    import av

    frames = _clip_with_face_marks()
    path = tmp_path / "flip.mp4"
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = 96, 64, "yuv444p"
        st.options = {"crf": "0"}
        st.set_display_rotation(rotation, hflip=hflip)
        for f in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)
    # what a player shows, by FFmpeg's own filters (ffmpeg's autorotate: transpose/hflip/vflip)
    c = av.open(str(path))
    shown = []
    for fr in c.decode(video=0):
        g = av.filter.Graph()
        src = g.add_buffer(template=c.streams.video[0])
        chain = []
        m = _mirror_chain(fr)
        for name, arg in m:
            chain.append(g.add(name, arg))
        sink = g.add("buffersink")
        prev = src
        for node in chain:
            prev.link_to(node)
            prev = node
        prev.link_to(sink)
        g.configure()
        g.push(fr)
        shown.append(g.pull().to_ndarray(format="rgb24"))
    c.close()
    with open_media(path) as r:
        got = [r.read_rgb8(i) for i in range(len(frames))]
        assert "mirrored" in " ".join(r.info.notes) if hflip else True
    for a, b in zip(got, shown, strict=True):
        assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).mean() < 2


def _mirror_chain(frame) -> list[tuple[str, str | None]]:
    """FFmpeg's autorotate filters for a frame's display matrix (fftools' choice)."""
    m = next(np.frombuffer(bytes(sd), "<i4") for sd in frame.side_data if "DISPLAYMATRIX" in str(sd.type))
    theta = -frame.rotation % 360
    if abs(theta - 90) < 1:
        return [("transpose", "cclock_flip" if m[3] > 0 else "clock")]
    if abs(theta - 270) < 1:
        return [("transpose", "clock_flip" if m[3] < 0 else "cclock")]
    out = []
    if abs(theta - 180) < 1:
        if m[0] < 0:
            out.append(("hflip", None))
        if m[4] < 0:
            out.append(("vflip", None))
    elif m[4] < 0:
        out.append(("vflip", None))
    return out


def test_a_transport_stream_keeps_its_first_gop(tmp_path):
    """A .ts plate's first keyframe decodes before it is shown (dts < pts): the reader seeked to its
    pts, landed past it and dropped the first GOP (48 of 60 frames, every curve 12 frames early),
    or refused a one-GOP H.264 .ts as damaged."""
    import av

    frames = _clip_with_face_marks(n=30)
    for codec, gop in (("mpeg2video", 12), ("libx264", 300)):
        path = tmp_path / f"{codec}.ts"
        with av.open(str(path), "w") as c:
            st = c.add_stream(codec, rate=25)
            st.width, st.height, st.pix_fmt = 96, 64, "yuv420p"
            st.codec_context.gop_size = gop
            st.codec_context.max_b_frames = 2
            for f in frames:
                for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(pkt)
            for pkt in st.encode():
                c.mux(pkt)
        with av.open(str(path)) as c:
            decoded = [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)]
        with open_media(path) as r:
            assert r.info.frame_count == len(decoded) == len(frames), codec
            for i in (0, 5, len(frames) - 1):
                assert np.abs(r.read_rgb8(i).astype(int) - decoded[i].astype(int)).mean() < 1, (codec, i)


def test_exr_overscan_is_said(tmp_path):
    """A data window past the display window (overscan) was cropped to the display window without
    a word; the reader says so (probe shows it)."""
    import OpenEXR

    px = np.full((58, 84, 3), 0.25, np.float32)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
              "dataWindow": ((-10, -10), (73, 47)), "displayWindow": ((0, 0), (63, 47))}
    with OpenEXR.File(header, {"RGB": px}) as f:
        f.write(str(tmp_path / "os.0001.exr"))
    with open_media(tmp_path / "os.####.exr") as r:
        assert (r.info.width, r.info.height) == (64, 48)
        assert any(n.startswith("overscan: the data window (-10,-10)-(73,47)") for n in r.info.notes), r.info.notes
