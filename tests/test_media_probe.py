"""`facsimile probe` and the shared real clips/stills: every one opens with sane info."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from core.media.reader import open_media
from tests.mediagen import make_video

# (file, frames, fps, size) as decoded; no_face.mp4 holds 98 packets but its edit list drops 3
SHARED_CLIPS = [
    ("d0.mp4", 78, Fraction(25), (512, 512)),
    ("d3.mp4", 354, Fraction(30), (512, 512)),
    ("d6.mp4", 1008, Fraction(30), (480, 480)),
    ("d12.mp4", 183, Fraction(25), (512, 512)),
    ("d18.mp4", 216, Fraction(30), (480, 480)),
    ("s13.mp4", 103, Fraction(25), (720, 1080)),
    ("short_hamilton_clip.mp4", 275, Fraction(30000, 1001), (640, 360)),
    ("no_face.mp4", 95, Fraction(24), (960, 540)),
    # VFR: 72 frames at 30 fps, then 94 at 24 (a join): nominal 24, its typical step (r_frame_rate said 30)
    ("face_noface.mov", 169, Fraction(24), (960, 540)),
]


@pytest.mark.parametrize("name, frames, fps, size", SHARED_CLIPS, ids=[c[0] for c in SHARED_CLIPS])
def test_shared_clips_open_with_sane_info(shared_media, name, frames, fps, size):
    path = shared_media("clips", name)
    with open_media(path) as r:
        info = r.info
        assert (info.frame_count, info.fps, (info.width, info.height)) == (frames, fps, size)
        assert info.kind == "video" and info.bit_depth == 8 and info.duration_s > 0
        last = r.read(frames - 1)
        assert last.shape == (size[1], size[0], 3) and last.dtype == np.uint8
        assert r.frame_time(frames - 1) < info.duration_s
        assert np.array_equal(r.read(frames // 2), r.read(frames // 2))


def test_shared_vfr_clip_reports_vfr(shared_media):
    with open_media(shared_media("clips", "face_noface.mov")) as r:
        assert r.info.vfr and r.info.codec == "hevc" and r.info.color_matrix == "bt709"
        times = [r.frame_time(k) for k in range(r.info.frame_count)]
        assert all(b > a for a, b in zip(times, times[1:], strict=False))


def test_shared_stills_gray_and_alpha(shared_media):
    with open_media(shared_media("stills", "BWPictureHuman.jpg")) as r:
        assert r.info.kind == "image" and r.info.channels == 1 and r.info.frame_count == 1
        img = r.read(0)
        assert img.shape[2] == 3 and np.array_equal(img[..., 0], img[..., 2])
    with open_media(shared_media("stills", "Image_with_alpha.png")) as r:
        assert r.info.has_alpha and r.read(0).shape[2] == 4 and r.read_rgb8(0).shape[2] == 3


def test_shared_numbered_stills_open_as_single_images(shared_media):
    """'s1.jpg' has siblings s0..s12 but no frame-number separator: it is one still, not a sequence."""
    with open_media(shared_media("stills", "s1.jpg")) as r:
        assert r.info.kind == "image" and r.info.frame_count == 1


def test_probe_cli_prints_json(tmp_path, capsys):
    from core.cli import main

    path = make_video(tmp_path / "p.mov", frames=12, timecode="00:59:59:00")
    assert main(["probe", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["frame_count"] == 12 and data["fps"] == "25/1" and data["timecode"] == "00:59:59:00"
    assert data["kind"] == "video" and data["width"] == 320 and data["pix_fmt"] == "yuv420p"


def test_probe_cli_subprocess_error(tmp_path):
    exe = [sys.executable, "-m", "core", "probe", str(tmp_path / "missing.mp4")]
    res = subprocess.run(exe, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and res.stdout == ""
    assert res.stderr.strip().count("\n") == 0 and "not found" in res.stderr


def test_probe_refuses_fps_for_a_video_with_its_own_rate(tmp_path, capsys):
    """`probe d0.mp4 --fps 24` reported fps 24/1 while the duration stayed the file's."""
    from core.cli import main

    video = make_video(tmp_path / "v.mov", frames=6, fps=25)
    assert main(["probe", str(video), "--fps", "24"]) == 3
    assert "--fps is for image sequences and stills" in capsys.readouterr().err
    assert main(["probe", str(video)]) == 0
    assert json.loads(capsys.readouterr().out)["fps"] == "25/1"


def test_probe_of_an_exr_says_its_primaries_channels_and_header_as_json(tmp_path):
    """probe said color_primaries null for EXRs that carry chromaticities and colorInteropID,
    never named a comp's mask.Y, and printed header values as Python reprs."""
    from core.media.reader import probe
    from core.media.writers import open_writer

    rgb = np.full((16, 24, 3), 0.5, np.float32)
    for cs, prim in (("Linear Rec.709 (sRGB)", "bt709"), ("ACEScg", "aces_ap1")):
        out = tmp_path / cs.split()[0] / "c.####.exr"
        out.parent.mkdir()
        with open_writer(out, width=24, height=16, fps=Fraction(30000, 1001), colorspace=cs,
                         input_colorspace="Linear Rec.709 (sRGB)", timecode="01:00:00;00") as w:
            w.write(rgb, extra_channels={"mask.Y": np.ones((16, 24), np.float32)})
        info = probe(out)
        doc = json.loads(json.dumps(info.to_json()))
        meta = doc["metadata"]
        assert doc["color_primaries"] == prim
        assert "mask.Y" in meta["channel_names"] and {"R", "G", "B"} <= set(meta["channel_names"])
        assert meta["framesPerSecond"] == "30000/1001" and meta["timeCode"] == "01:00:00;00"
        assert meta["dataWindow"] == [[0, 0], [23, 15]] and meta["compression"].endswith("_COMPRESSION")
        assert not any("array(" in str(v) for v in meta.values())
