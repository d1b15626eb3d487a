"""Bad input to the reader: every case is a clear MediaError (or works on what exists), never a hang or crash."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import MediaError
from core.media.reader import open_media
from tests.mediagen import make_audio_only, make_sequence, make_video, which_frame


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        open_media(tmp_path / "empty.mp4")


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        open_media(tmp_path / "nope.mov")


def test_directory(tmp_path):
    with pytest.raises(MediaError, match="folder"):
        open_media(tmp_path)


def test_text_file_named_mp4(tmp_path):
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 20)
    with pytest.raises(MediaError, match="not a readable video"):
        open_media(tmp_path / "notes.mp4")


def test_truncated_mp4_moov_at_end(tmp_path):
    """Cut-off recording without its index (moov at the end): a clear error."""
    full = make_video(tmp_path / "full.mp4", frames=60, gop=20).read_bytes()
    (tmp_path / "half.mp4").write_bytes(full[: len(full) // 2])
    with pytest.raises(MediaError, match="cut off|damaged|incomplete"):
        open_media(tmp_path / "half.mp4")


def test_truncated_mp4_faststart_reads_what_exists(tmp_path):
    """Index at the front, data cut in half: the frames that exist open, with the count corrected."""
    full = make_video(tmp_path / "full.mp4", frames=60, gop=20, faststart=True).read_bytes()
    (tmp_path / "half.mp4").write_bytes(full[: len(full) // 2])
    with open_media(tmp_path / "half.mp4") as r:
        n = r.info.frame_count
        assert 10 < n < 60
        assert any("end" in note for note in r.info.notes)
        seq = [img for _, img in r.frames()]
        assert len(seq) == n
        for k in (n - 1, 0, n // 2):
            assert np.array_equal(r.read(k), seq[k])
        assert which_frame(seq[n - 1], [n - 2, n - 1, n]) == n - 1


def test_no_video_stream(tmp_path):
    path = make_audio_only(tmp_path / "voice.m4a")
    with pytest.raises(MediaError, match="no video stream"):
        open_media(path)


def test_unknown_codec(tmp_path):
    data = make_video(tmp_path / "v.mov", frames=5).read_bytes()
    assert data.count(b"avc1") == 1
    (tmp_path / "odd.mov").write_bytes(data.replace(b"avc1", b"qqqq"))
    with pytest.raises(MediaError, match="codec is not supported"):
        open_media(tmp_path / "odd.mov")


def test_undecodable_payload(tmp_path):
    """Valid container, garbage in every packet: no frame decodes -> clear error, no hang."""
    data = bytearray(make_video(tmp_path / "v.mp4", frames=10, faststart=True).read_bytes())
    start = data.find(b"mdat") + 4
    data[start:] = bytes(len(data) - start)
    (tmp_path / "zeros.mp4").write_bytes(bytes(data))
    with pytest.raises(MediaError):
        open_media(tmp_path / "zeros.mp4")


def test_damaged_image_in_sequence(tmp_path):
    pattern = make_sequence(tmp_path, "s", "png", frames=4, start=1)
    (tmp_path / "s.0003.png").write_bytes(b"\x89PNG broken")
    with open_media(pattern) as r:
        r.read(0)
        with pytest.raises(MediaError, match="s.0003.png"):
            r.read(2)


def test_sequence_pattern_with_no_files(tmp_path):
    with pytest.raises(MediaError, match="no frames"):
        open_media(tmp_path / "ghost.####.exr")


def test_bad_fps_argument(tmp_path):
    pattern = make_sequence(tmp_path, "s", "png", frames=2)
    with pytest.raises(MediaError, match="frame rate"):
        open_media(pattern, fps="fast")


def test_cli_probe_error_is_one_line(tmp_path, capsys):
    from core.cli import main

    (tmp_path / "empty.mov").write_bytes(b"")
    rc = main(["probe", str(tmp_path / "empty.mov")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == MediaError.exit_code and len(err) == 1 and err[0].startswith("facsimile: error:")


def test_truncated_prores_faststart_falls_back_to_reading_what_exists(tmp_path):
    """An intra-only MOV is indexed from its sample tables (no packet read at open); a copy cut
    off after its index lists samples past the end of the file, so it is demuxed as before: the
    frames that exist open, with the count corrected and a note."""
    full = make_video(tmp_path / "full.mov", frames=30, codec="prores_ks", pix_fmt="yuv422p10le",
                      faststart=True).read_bytes()
    (tmp_path / "cut.mov").write_bytes(full[: len(full) * 2 // 3])
    with open_media(tmp_path / "cut.mov") as r:
        n = r.info.frame_count
        assert 10 < n < 30 and not r._intra_indexed
        assert any("end" in note for note in r.info.notes)
        assert which_frame(r.read_rgb8(n - 1).astype(np.uint8), [n - 2, n - 1, n]) == n - 1


def test_one_damaged_frame_mid_gop_does_not_cut_the_clip(tmp_path):
    """Bytes damaged in the middle of a one-GOP clip (the others decode): the open-time tail check
    took the one frame it could not decode for the start of a damaged tail and dropped every frame
    after it ("48 damaged frame(s) at the end"): 30 of 78 frames, exit 0. Now the clip keeps its
    frames; the damaged one says so when read, the ones after it read as themselves."""
    import av

    path = make_video(tmp_path / "long_gop.mp4", frames=40, gop=100, bframes=0, options={"sc_threshold": "0"})
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    pos, size = packets[20]
    data = bytearray(path.read_bytes())
    data[pos:pos + 4] = b"\xff\xff\xff\xff"  # its NAL length: the decoder refuses the packet
    path.write_bytes(bytes(data))
    with open_media(path) as r:
        assert r.info.frame_count == 40
        assert which_frame(r.read_rgb8(19), range(40)) == 19
        assert which_frame(r.read_rgb8(39), range(40)) in (38, 39)  # its place; its picture drifts by one
        try:
            r.read_rgb8(20)
        except MediaError as exc:
            assert "frame 20" in str(exc) and "damaged" in str(exc)
