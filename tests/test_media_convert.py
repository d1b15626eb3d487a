"""`facsimile convert`: plates to ProRes / EXR / PNG, fps, timecode, alpha, audio, errors.

Plates are made here with PyAV / OpenCV / OpenEXR; outputs are checked with PyAV and OpenEXR
directly and with our reader (core.media.reader) for pixel round trips.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import OpenEXR
import pytest

from core.cli import main
from core.media import colour
from core.media.reader import open_media

W, H = 96, 64


def gradient(i: int) -> np.ndarray:
    """A smooth RGB test picture that changes with i (compresses well, survives H.264)."""
    x = np.linspace(0, 1, W)[None, :, None]
    y = np.linspace(0, 1, H)[:, None, None]
    img = np.concatenate([x * np.ones((H, 1, 1)), y * np.ones((1, W, 1)),
                          np.full((H, W, 1), (i * 17 % 200) / 255.0)], axis=-1)
    return np.rint(img * 255).astype(np.uint8)


def make_plate(path: Path, n: int = 12, fps: Fraction = Fraction(30000, 1001), timecode: str | None = "01:00:00;00",
               audio: bool = False) -> Path:
    """A small H.264 .mov plate with a timecode track (and an AAC tone when asked)."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps, options={"crf": "10"})
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.codec_context.colorspace = v.codec_context.color_primaries = v.codec_context.color_trc = 1
        if timecode:
            v.metadata["timecode"] = timecode
        a = None
        if audio:
            a = c.add_stream("aac", rate=48000)
            a.layout = "stereo"
        for i in range(n):
            f = av.VideoFrame.from_ndarray(gradient(i), format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", src_colorspace="ITU709")
            f.pts = i
            f.time_base = 1 / fps
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if a is not None:
            samples = int(n / fps * 48000)
            tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000)).astype(np.float32)
            for k in range(0, samples, 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.stack([tone[k:k + 1024]] * 2)),
                                                format="fltp", layout="stereo")
                af.sample_rate, af.pts = 48000, k
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> Path:
    return make_plate(tmp_path_factory.mktemp("plate") / "plate.mov")


def test_convert_to_prores_keeps_fps_timecode_and_pixels(plate, tmp_path, capsys):
    out = tmp_path / "out.mov"
    assert main(["convert", str(plate), str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mov"]
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "prores" and v.codec_context.profile == "4444"
        assert v.average_rate == Fraction(30000, 1001) and v.frames == 12
        assert any(s.metadata.get("timecode") == "01:00:00;00" for s in c.streams if s.type == "data")
    with open_media(plate) as src, open_media(out) as dst:
        assert dst.info.frame_count == 12 and dst.info.timecode == "01:00:00;00"
        for i in (0, 11):
            a = src.read_rgb8(i).astype(int)
            b = dst.read_rgb8(i).astype(int)
            assert np.abs(a - b).mean() < 1.0 and np.abs(a - b).max() <= 4, i
    # not a terminal: no progress bar, just one summary line
    err = capsys.readouterr().err
    assert "wrote" in err and "it/s" not in err and "frame/s" not in err


def test_convert_frame_range_offsets_timecode(plate, tmp_path):
    out = tmp_path / "cut.mov"
    assert main(["convert", str(plate), str(out), "--frames", "5-9", "--codec", "prores422hq"]) == 0
    with open_media(plate) as src, open_media(out) as dst:
        assert dst.info.frame_count == 5
        assert dst.info.timecode == "01:00:00;05"
        # frame 0 of the cut is plate frame 5 (0-based, inclusive range)
        diffs = [np.abs(src.read_rgb8(k).astype(int) - dst.read_rgb8(0).astype(int)).mean() for k in range(12)]
        assert int(np.argmin(diffs)) == 5
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.profile == "HQ"


def test_convert_to_exr_sequence_is_linear_and_numbered(plate, tmp_path):
    pattern = tmp_path / "shot.####.exr"
    assert main(["convert", str(plate), str(pattern), "--frames", "0-2", "--compression", "zip"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["shot.1001.exr", "shot.1002.exr", "shot.1003.exr"]
    f = OpenEXR.File(str(tmp_path / "shot.1002.exr"))
    hdr = f.header()
    assert hdr["framesPerSecond"] == Fraction(30000, 1001)
    tc = hdr["timeCode"]
    assert (tc.hours, tc.minutes, tc.seconds, tc.frame, bool(tc.dropFrame)) == (1, 0, 0, 1, True)
    assert hdr["compression"] == OpenEXR.ZIP_COMPRESSION
    rgba = f.channels()["RGBA"].pixels.astype(np.float32)
    with open_media(plate) as src:
        want = colour.convert_colorspace(src.read(1), "sRGB - Texture", "Linear Rec.709 (sRGB)")
    assert np.abs(rgba[..., :3] - want).max() < 2e-3
    assert np.all(rgba[..., 3] == 1.0)


def test_convert_acescg_and_bad_colorspace(plate, tmp_path, capsys):
    assert main(["convert", str(plate), str(tmp_path / "a.####.exr"), "--frames", "0", "--colorspace", "ACEScg"]) == 0
    assert OpenEXR.File(str(tmp_path / "a.1001.exr")).header()["colorspace"] == "ACEScg"
    capsys.readouterr()
    rc = main(["convert", str(plate), str(tmp_path / "b.####.exr"), "--colorspace", "linear"])
    err = capsys.readouterr().err
    assert rc == 3
    assert err.count("\n") == 1 and "unknown colour space 'linear'" in err and "'ACEScg'" in err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("b.*"))


def test_convert_rgba_png_sequence_carries_alpha(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        rgba = np.zeros((H, W, 4), np.uint8)
        rgba[..., 0] = 200
        rgba[..., 3] = np.linspace(0, 255, W).astype(np.uint8)[None, :]
        cv2.imwrite(str(src / f"in.{i + 1:04d}.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    mov = tmp_path / "alpha.mov"
    assert main(["convert", str(src / "in.####.png"), str(mov)]) == 0
    with av.open(str(mov)) as c:
        fr = next(c.decode(video=0))
        assert fr.format.name.startswith("yuva444p")
        a = np.frombuffer(fr.planes[3], np.uint16).reshape(H, -1)[:, :W]
        scale = 1 << (fr.format.components[0].bits - 10)
        assert np.abs(a[0] / scale - np.linspace(0, 255, W).astype(np.uint8).astype(float) * 1023 / 255).max() <= 2.5
    exr = tmp_path / "alpha.####.exr"
    assert main(["convert", str(src / "in.####.png"), str(exr), "--start-number", "1"]) == 0
    px = OpenEXR.File(str(tmp_path / "alpha.0001.exr")).channels()["RGBA"].pixels.astype(np.float32)
    lin = colour.convert_colorspace(np.array([[[200, 0, 0]]], np.uint8), "sRGB - Texture", "lin_srgb")[0, 0, 0]
    assert px[0, -1, 3] == pytest.approx(1.0, abs=1e-3) and px[0, -1, 0] == pytest.approx(lin, abs=2e-3)
    mid = W // 2
    assert px[0, mid, 0] == pytest.approx(lin * px[0, mid, 3], abs=2e-3)  # premultiplied


def test_convert_exr_back_to_prores_and_png(plate, tmp_path):
    seq = tmp_path / "lin.####.exr"
    assert main(["convert", str(plate), str(seq), "--frames", "0-1"]) == 0
    mov = tmp_path / "back.mov"
    assert main(["convert", str(seq), str(mov)]) == 0
    png = tmp_path / "back.%04d.png"
    assert main(["convert", str(seq), str(png)]) == 0
    with open_media(plate) as src, open_media(mov) as m:
        a = src.read_rgb8(0).astype(int)
        assert np.abs(m.read_rgb8(0).astype(int) - a).max() <= 4  # linear EXR -> sRGB again
    p = cv2.imread(str(tmp_path / "back.1001.png"), cv2.IMREAD_UNCHANGED)
    assert p.dtype == np.uint16
    assert np.abs(cv2.cvtColor(p, cv2.COLOR_BGR2RGB) / 257.0 - a).max() <= 2.0


def test_convert_copies_audio(tmp_path):
    plate = make_plate(tmp_path / "talk.mov", n=30, fps=Fraction(25), timecode=None, audio=True)
    out = tmp_path / "talk_prores.mov"
    assert main(["convert", str(plate), str(out), "--audio"]) == 0
    with av.open(str(plate)) as c:
        src = [bytes(p) for p in c.demux(audio=0) if p.size]
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        got = [bytes(p) for p in c.demux(audio=0) if p.size]
    assert got and all(g in src for g in got) and abs(len(got) - len(src)) <= 1
    capsys_rc = main(["convert", str(plate), str(tmp_path / "x.####.exr"), "--audio"])
    assert capsys_rc == 3


def test_convert_refuses_to_overwrite_and_bad_ranges(plate, tmp_path, capsys):
    out = tmp_path / "o.mov"
    out.write_bytes(b"keep me")
    assert main(["convert", str(plate), str(out)]) == 3
    assert out.read_bytes() == b"keep me"
    assert "--overwrite" in capsys.readouterr().err
    assert main(["convert", str(plate), str(out), "--overwrite", "--frames", "0-1"]) == 0
    assert out.stat().st_size > 1000
    capsys.readouterr()
    for bad in ("5-2", "0-12", "abc"):
        assert main(["convert", str(plate), str(tmp_path / "r.mov"), "--frames", bad]) == 3
        err = capsys.readouterr().err
        assert "--frames" in err and err.count("\n") == 1
    assert main(["convert", str(tmp_path / "missing.mov"), str(tmp_path / "r.mov")]) == 3
    assert not (tmp_path / "r.mov").exists()


@pytest.mark.slow
def test_convert_shared_clip_with_audio_to_prores_and_exr(shared_media, tmp_path):
    clip = shared_media("clips", "d3.mp4")
    out = tmp_path / "d3.mov"
    assert main(["convert", str(clip), str(out), "--audio"]) == 0
    with open_media(clip) as src, open_media(out) as dst:
        assert dst.info.frame_count == src.info.frame_count
        assert dst.info.fps == src.info.fps
        assert dst.info.audio and dst.info.audio[0]["codec"] == src.info.audio[0]["codec"]
        for i in (0, src.info.frame_count // 2, src.info.frame_count - 1):
            assert np.abs(src.read_rgb8(i).astype(int) - dst.read_rgb8(i).astype(int)).mean() < 1.5
    seq = tmp_path / "d3.####.exr"
    assert main(["convert", str(clip), str(seq), "--frames", "100-103", "--colorspace", "ACEScg"]) == 0
    assert sorted(p.name for p in tmp_path.glob("d3.*.exr")) == [f"d3.{n}.exr" for n in range(1001, 1005)]


def test_convert_shows_a_progress_bar_on_a_terminal(plate, tmp_path):
    """On a terminal (a pty here, which reports no size) the tqdm bar goes to stderr."""
    import os
    import pty
    import sys

    out = tmp_path / "tty.mov"
    pid, fd = pty.fork()
    if pid == 0:  # child: run the real console entry point
        os.execv(sys.executable, [sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())",
                                  "convert", str(plate), str(out)])
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    text = data.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "12/12" in text and "frame/s" in text and "wrote" in text
    assert out.exists()


@pytest.mark.parametrize("opencv_half", [True, False])
def test_float_helpers_agree_with_numpy_on_every_opencv(monkeypatch, opencv_half):
    """colour.unpremultiply_rgba / premultiply_into / cast_into / as_float32 (and so to_rgb8 of a
    half plate) give numpy's values whether OpenCV has float16 arithmetic (OpenCV 5) or not
    (OpenCV 4: CV_16F missing, the numpy path), on a frame large enough for the OpenCV path,
    with alpha 0, in between, over 1 and NaN."""
    if not opencv_half:
        monkeypatch.delattr(cv2, "CV_16F", raising=False)
    rng = np.random.default_rng(5)
    f = rng.random((300, 400, 4)).astype(np.float32)
    f[..., 3] = np.where(rng.random((300, 400)) < 0.3, 0.0, rng.random((300, 400)) * 1.2)
    f[..., :3] *= np.clip(f[..., 3:], 0, 1)
    a = f[..., 3:]
    with np.errstate(divide="ignore", invalid="ignore"):
        want_straight = np.concatenate([np.where(a > 0, f[..., :3] / np.where(a > 0, a, 1), 0.0), a], axis=2)
    straight = colour.unpremultiply_rgba(f)
    np.testing.assert_allclose(straight, want_straight, rtol=1e-6, atol=0)
    ac = np.clip(a, 0, 1)
    want = np.concatenate([straight[..., :3] * ac, ac], axis=2)
    for dtype in (np.float16, np.float32):
        out = colour.premultiply_into(straight, np.empty(f.shape, dtype))
        np.testing.assert_array_equal(out, want.astype(dtype))
    np.testing.assert_array_equal(colour.cast_into(f, np.empty(f.shape, np.float16)), f.astype(np.float16))
    h = (f * 3 - 1).astype(np.float16)  # a half plate: NaN, inf and subnormals come through exactly
    h[0, 0, :3] = [np.nan, np.inf, 3e-7]
    np.testing.assert_array_equal(colour.as_float32(h), h.astype(np.float32))
    from core.media.reader import to_rgb8

    np.testing.assert_array_equal(to_rgb8(h), to_rgb8(h.astype(np.float32)))
    f[7, 9, 3] = np.nan  # NaN alpha: numpy's meaning on either OpenCV
    with np.errstate(invalid="ignore"):
        got = colour.premultiply_into(f, np.empty(f.shape, np.float16))
        assert np.isnan(got[7, 9]).all() and np.isnan(colour.unpremultiply_rgba(f)[7, 9, 3])


def test_convert_overwrite_of_a_sequence_never_leaves_a_mix(plate, tmp_path):
    """kill -9 during `convert --overwrite` to a sequence left new and old frames (another
    compression) side by side under final names. The frames to be replaced go first, so a kill
    leaves gaps a reader reports, never a silent mix; a sequence is not its own output."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "s.####.exr"
    assert main(["convert", str(plate), str(out), "--frames", "0-9", "--compression", "piz"]) == 0
    # a convert refused for a bad option removes nothing (the frames went before the checks ran)
    assert main(["convert", str(plate), str(out), "--frames", "0-9", "--overwrite", "--colorspace", "Bogus"]) == 3
    assert len(list(tmp_path.glob("s.*.exr"))) == 10
    code = ("import os, sys\nimport core.media.writers as w\nfrom core.cli import main\n"
            "real = w.frame_path\ncount = [0]\n"
            "def path(p, n):\n"
            "    count[0] += 1\n"
            "    if count[0] > 12: os.kill(os.getpid(), 9)  # killed after the first frames are written\n"
            "    return real(p, n)\n"
            "w.frame_path = path\n"
            f"main(['convert', {str(plate)!r}, {str(out)!r}, '--frames', '0-9', '--compression', 'dwaa', "
            "'--overwrite'])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert proc.returncode == -signal.SIGKILL
    import OpenEXR

    kinds = set()
    for f in sorted(tmp_path.glob("s.*.exr")):
        with OpenEXR.File(str(f)) as e:
            kinds.add(str(e.header()["compression"]))
    assert len(kinds) <= 1, kinds  # no piz frame beside a dwaa one
    assert len(list(tmp_path.glob("s.*.exr"))) < 10
    seq = tmp_path / "in.####.exr"
    assert main(["convert", str(plate), str(seq), "--frames", "0-2"]) == 0
    assert main(["convert", str(seq), str(seq), "--overwrite", "--start-number", "1001"]) == 3  # onto itself
    assert len(list(tmp_path.glob("in.*.exr"))) == 3
