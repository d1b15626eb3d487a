"""What we write from a variable-frame-rate plate (phone footage: 30 fps, a 60 fps stretch, a
100 ms gap). A .mov keeps every plate frame at the plate's own time (convert, a chunked convert
job, a render), so it is as long as the plate and lies over it in an editor; `convert --fps`
conforms to a constant rate; sequences carry the nominal rate and say so. Constant-rate plates
are written as before. Real encodes, read back with the real reader."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from core.cli import main
from core.errors import MediaError
from core.media.reader import open_media
from core.media.timing import conform_indices, parse_rate
from tests.mediagen import counter_frame, make_video, which_frame

TICKS = Fraction(1, 600)  # 30 fps = 20 ticks, 60 fps = 10, a 100 ms gap = 60
STEPS = [20] * 11 + [10] * 12 + [60] + [20] * 11
W, H = 160, 120


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VFR H.264 plate of 36 numbered frames (counter_frame) with an AAC tone."""
    pts = np.r_[0, np.cumsum(STEPS)]
    return make_video(tmp_path_factory.mktemp("vfr") / "phone.mp4", len(pts), W, H, fps=30,
                      pts=[int(p) for p in pts], time_base=TICKS, audio=True)


def _times(path: Path | str) -> tuple[list[float], float, int]:
    """(frame times from the first frame, duration, frame count) through the real reader."""
    with open_media(path) as r:
        n = r.info.frame_count
        return [r.frame_time(i) for i in range(n)], r.info.duration_s, n


def _frames_shown(path: Path | str, candidates: range) -> list[int]:
    """The counter number of each frame of `path`."""
    with open_media(path) as r:
        return [which_frame(r.read_rgb8(i), candidates) for i in range(r.info.frame_count)]


def _stream_ends(path: Path) -> tuple[float, float]:
    """(video end, audio end) in seconds from the packets of a movie."""
    ends = {"video": 0.0, "audio": 0.0}
    with av.open(str(path)) as c:
        for pkt in c.demux():
            if pkt.pts is not None and pkt.stream.type in ends:
                ends[pkt.stream.type] = max(ends[pkt.stream.type], float((pkt.pts + (pkt.duration or 0)) * pkt.time_base))
    return ends["video"], ends["audio"]


def test_convert_keeps_a_vfr_plates_frames_at_their_own_times(phone, tmp_path, capsys):
    """Written one frame per 1/60 s (the nominal rate), the 1.07 s plate became a 0.6 s movie and
    its audio was cut to match. Now every plate frame is there, at the plate's time (within a
    tick), the movie is as long as the plate and its audio runs to the end; a note says so."""
    src_t, src_dur, n = _times(phone)
    out = tmp_path / "phone.mov"
    assert main(["convert", str(phone), str(out), "--audio"]) == 0
    err = capsys.readouterr().err
    assert "variable frame rate" in err and "own time" in err and "--fps 30" in err
    t, dur, count = _times(out)
    assert count == n == 36
    assert np.abs(np.subtract(t, src_t)).max() <= float(TICKS)
    assert dur == pytest.approx(src_dur, abs=float(TICKS))
    assert _frames_shown(out, range(n)) == list(range(n))
    video_end, audio_end = _stream_ends(out)
    assert video_end == pytest.approx(src_dur, abs=float(TICKS))
    assert abs(audio_end - video_end) < 0.03  # within an AAC packet: in sync to the end
    with open_media(out) as r:
        assert r.info.vfr and r.info.metadata.get("facsimile/nominal_fps") == "30/1"

    # a range: its times from its first frame, and the timecode-free plate stays timecode-free
    part = tmp_path / "part.mov"
    assert main(["convert", str(phone), str(part), "--frames", "5-30"]) == 0
    t, _, count = _times(part)
    assert count == 26
    assert np.abs(np.subtract(t, np.subtract(src_t[5:31], src_t[5]))).max() <= float(TICKS)
    assert _frames_shown(part, range(n)) == list(range(5, 31))


def test_a_constant_rate_plate_is_written_as_before(tmp_path, capsys):
    """No timing change for a constant-rate plate: time base 1/fps, consecutive pts, no note."""
    plate = make_video(tmp_path / "cfr.mov", 10, W, H, fps=Fraction(24000, 1001))
    out = tmp_path / "cfr_out.mov"
    assert main(["convert", str(plate), str(out)]) == 0
    err = capsys.readouterr().err
    assert "note" not in err and "(10 frames, 23.976 fps)" in err
    with av.open(str(out)) as c:
        assert "facsimile/nominal_fps" not in c.metadata
        v = c.streams.video[0]
        pts = [p.pts for p in c.demux(v) if p.pts is not None]
        step = Fraction(1001, 24000) / v.time_base
        assert pts == [int(k * step) for k in range(10)]


def test_a_chunked_convert_job_joins_a_vfr_plate_at_its_own_times(phone, tmp_path):
    """The studio's export queue writes chunk movies and joins them: each chunk kept the plate's
    times and the join puts the next chunk where the plate's next frame is; the timecode track
    counts in the nominal rate."""
    from core.jobs.convert import prepare_convert
    from core.jobs.run import run_job

    src_t, src_dur, n = _times(phone)
    spec = prepare_convert(phone, tmp_path / "job.mov", chunk=7)
    spec.writer["timecode"] = "01:00:00:00"
    out = run_job(spec)
    t, dur, count = _times(out)
    assert count == n
    assert np.abs(np.subtract(t, src_t)).max() <= float(TICKS)
    assert dur == pytest.approx(src_dur, abs=float(TICKS))
    assert _frames_shown(out, range(n)) == list(range(n))
    with open_media(out) as r:
        assert r.info.timecode == "01:00:00:00" and r.info.metadata.get("facsimile/nominal_fps") == "30/1"


def test_a_render_of_a_vfr_plate_keeps_the_plates_times(tmp_path, capsys):
    """A render (chunked, joined) of a project on a VFR plate: frame for frame with the plate, at
    its times, so laid over the plate in an editor it does not drift; a note says how to conform."""
    import cv2
    from skimage.data import astronaut

    from core.project import Project
    from core.project import workflow as wf

    steps = [20] * 4 + [10] * 4 + [60] + [20] * 2
    img = cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    plate = make_video(tmp_path / "phone.mp4", len(steps) + 1, 256, 256, fps=30,
                       pts=[int(p) for p in np.r_[0, np.cumsum(steps)]], time_base=TICKS,
                       image=lambda i: np.ascontiguousarray(np.roll(img, 8 * i, axis=1)))
    project = Project.load(wf.create_project(tmp_path / "vfr", plates=[plate]).path)
    wf.analyze_shot(project, project.shots[0])
    wf.extract_shot_curves(project.shots[0])
    project.save()
    out = tmp_path / "render.mov"
    capsys.readouterr()
    assert main(["render", str(project.path), "--chunk", "4", "--out", str(out)]) == 0
    src_t, src_dur, n = _times(plate)
    t, dur, count = _times(out)
    assert count == n == 12
    assert np.abs(np.subtract(t, src_t)).max() <= float(TICKS)
    assert dur == pytest.approx(src_dur, abs=float(TICKS))
    err = capsys.readouterr().err
    assert "variable frame rate" in err and "--fps 30" in err
    # the curves CSV beside it has the plate's own times too (it wrote frame / nominal fps)
    import csv

    from core.delivery.sidecar import curves_csv_path

    with open(curves_csv_path(out)) as fh:
        stamps = [float(row["timestamp"]) for row in csv.DictReader(fh)]
    assert np.abs(np.subtract(stamps, src_t)).max() <= 1e-6
    with open_media(plate) as p, open_media(out) as r:
        plate_frames = [p.read_rgb8(i).astype(np.int16) for i in range(n)]
        for k in range(n):
            got = r.read_rgb8(k).astype(np.int16)
            assert int(np.argmin([np.abs(got - f).mean() for f in plate_frames])) == k


def _expected_conform(src_t: list[float], end: float, rate: float) -> list[int]:
    """Output frame n shows the last plate frame whose time is <= n / rate (a 1 ms tolerance)."""
    out = []
    n = 0
    while n / rate < end - 1e-3:
        out.append(max(i for i, s in enumerate(src_t) if s <= n / rate + 1e-3))
        n += 1
    return out


@pytest.mark.parametrize("rate", ["30", "29.97", "24"])
def test_convert_fps_conforms_a_vfr_plate(phone, tmp_path, capsys, rate):
    """--fps RATE: a constant-rate movie; frame n is the plate frame on screen at n / RATE
    (repeated across the gap, dropped in the 60 fps stretch), counted in the summary; the
    audio lasts as long as the video."""
    src_t, src_dur, n = _times(phone)
    fps = parse_rate(rate)
    out = tmp_path / f"c{rate}.mov"
    assert main(["convert", str(phone), str(out), "--fps", rate, "--audio"]) == 0
    err = capsys.readouterr().err
    want = _expected_conform(src_t, src_dur, float(fps))
    repeated, dropped = len(want) - len(set(want)), n - len(set(want))
    assert f"({len(want)} frames, {float(fps):.3f} fps, conformed from a variable rate: {repeated} plate frame(s) " \
           f"repeated, {dropped} dropped)" in err
    with open_media(out) as r:
        assert not r.info.vfr and r.info.fps == fps and r.info.frame_count == len(want)
    assert _frames_shown(out, range(n)) == want
    if rate == "30":
        assert (repeated, dropped) == (2, 6)  # the 100 ms gap; half the 60 fps stretch
    video_end, audio_end = _stream_ends(out)
    assert video_end == pytest.approx(len(want) / float(fps), abs=1e-6)
    assert abs(audio_end - video_end) < 0.03


def test_convert_fps_of_a_constant_rate_plate(tmp_path, capsys):
    """At its own rate a conform changes nothing (the same pictures as a plain convert); 25 to
    24 fps drops the frames that are never on screen at a 24 fps tick, its timecode at the same
    time in the new rate."""
    plate = make_video(tmp_path / "p25.mov", 50, W, H, fps=25, timecode="01:00:00:10")
    same, plain = tmp_path / "same.mov", tmp_path / "plain.mov"
    assert main(["convert", str(plate), str(same), "--fps", "25"]) == 0
    assert "no frame repeated or dropped" in capsys.readouterr().err
    assert main(["convert", str(plate), str(plain)]) == 0
    with open_media(same) as a, open_media(plain) as b:
        assert a.info.frame_count == b.info.frame_count == 50 and a.info.fps == b.info.fps == 25
        for i in range(50):
            np.testing.assert_array_equal(a.read(i), b.read(i))
    slow = tmp_path / "p24.mov"
    assert main(["convert", str(plate), str(slow), "--fps", "24"]) == 0
    assert "0 plate frame(s) repeated, 2 dropped" in capsys.readouterr().err
    expect = [int(np.floor(k * 25 / 24 + 1e-9)) for k in range(48)]
    assert _frames_shown(slow, range(50)) == expect
    with open_media(slow) as r, open_media(same) as s:
        assert r.info.timecode == "01:00:00:10" and s.info.timecode == "01:00:00:10"


def test_sequences_conform_or_carry_the_nominal_rate(phone, tmp_path, capsys):
    """An EXR sequence has no frame times: from a VFR plate its frames are the plate's one for
    one with the nominal rate in framesPerSecond (said on stderr); --fps conforms it as a movie."""
    src_t, src_dur, n = _times(phone)
    (tmp_path / "seq").mkdir()
    assert main(["convert", str(phone), str(tmp_path / "seq" / "a.####.exr")]) == 0
    err = capsys.readouterr().err
    assert "holds no frame times" in err and "nominal 30.000 fps" in err and "--fps" in err
    with open_media(tmp_path / "seq" / "a.####.exr") as r:
        assert r.info.frame_count == n and r.info.fps == 30
    assert main(["convert", str(phone), str(tmp_path / "seq" / "b.####.exr"), "--fps", "30000/1001"]) == 0
    err = capsys.readouterr().err
    want = _expected_conform(src_t, src_dur, 30000 / 1001)
    assert "conformed from a variable rate" in err and "holds no frame times" not in err
    with open_media(tmp_path / "seq" / "b.####.exr") as r:
        assert r.info.frame_count == len(want) and r.info.fps == Fraction(30000, 1001)
    assert _frames_shown(tmp_path / "seq" / "b.####.exr", range(n)) == want


def test_rates_as_users_write_them():
    assert parse_rate("24") == 24 and parse_rate("23.976") == Fraction(24000, 1001)
    assert parse_rate("29.97") == parse_rate("30000/1001") == Fraction(30000, 1001)
    assert parse_rate("59.94") == Fraction(60000, 1001) and parse_rate("12.5") == Fraction(25, 2)
    for bad in ("abc", "0", "-24", "1/0", ""):
        with pytest.raises(MediaError):
            parse_rate(bad)
    # as editors write them (23.98 was 1199/50)
    assert [parse_rate(r) for r in ("23.98", "47.95", "59.94", "119.88")] == \
        [Fraction(n * 1000, 1001) for n in (24, 48, 60, 120)]
    assert parse_rate("23.9") == Fraction(239, 10) and parse_rate("24.0") == 24
    with pytest.raises(MediaError, match="at most 1000"):
        parse_rate("1001")  # it said "give a rate above 0"
    # a time base's rounding (30 fps in milliseconds: 33, 67 ms) is not a missed frame
    times = np.round(np.arange(30) / 30, 3)
    assert list(conform_indices(times, 1.0, Fraction(30), 0.001)) == list(range(30))


def test_counter_frames_are_distinct_at_this_size():
    """(The frame matching above relies on it.)"""
    frames = [counter_frame(i, W, H) for i in range(40)]
    assert [which_frame(f, range(40)) for f in frames] == list(range(40))


def test_playback_follows_a_vfr_plates_own_times():
    """The studio's playback clock on a VFR plate steps by the frames' own times: 0.2 s into a
    30 fps stretch under a 60 fps nominal rate is frame 6 (at 1/60 a frame it was 12)."""
    from core.media.playback import playback_frame

    times = np.r_[0, np.cumsum(STEPS)] * float(TICKS)
    last = len(times) - 1
    assert playback_frame(0, 0.2, 60, 1, 0, last) == 12  # nominal steps: twice as fast
    assert playback_frame(0, 0.2, 60, 1, 0, last, times) == 6
    assert playback_frame(11, 0.1, 60, 1, 0, last, times) == 17  # the 60 fps stretch: 6 frames in 0.1 s
    assert playback_frame(23, 0.05, 60, 1, 0, last, times) == 23  # the 100 ms gap holds frame 23
    assert playback_frame(23, 0.1, 60, 1, 0, last, times) == 24
    end = times[-1] + 1 / 60
    assert playback_frame(0, end + 0.2, 60, 1, 0, last, times) == 6  # loops
    assert playback_frame(6, 0.2, 60, -1, 0, last, times) == 0  # backwards
    # backwards, the start frame is shown first (as at a constant rate), and from frame 0 the
    # loop's end comes after frame 0's step, not at once
    assert playback_frame(30, 0.001, 60, -1, 0, last, times) == 30
    assert playback_frame(30, 1 / 30, 60, -1, 0, last, times) == 29
    assert playback_frame(0, 0.001, 60, -1, 0, last, times) == 0
    assert playback_frame(0, 0.04, 60, -1, 0, last, times) == last
    assert playback_frame(5, 0.001, 30, -1, 0, 9) == 5  # the constant-rate rule it follows
    assert playback_frame(0, 0.2, 60, 2, 0, last, times) == playback_frame(0, 0.4, 60, 1, 0, last, times)


def test_the_studio_plays_a_vfr_plate_at_its_own_times(phone, qtbot):
    """The studio opened on the phone plate hands the reader's frame times to its transport."""
    from tests.test_studio import open_window

    with open_window(qtbot, phone) as w:
        w.session.set_frame(3)
        qtbot.waitUntil(lambda: w.transport.times is not None, timeout=10000)
        with open_media(phone) as r:
            want = [r.frame_time(i) for i in range(r.info.frame_count)]
        np.testing.assert_allclose(w.transport.times, want)
        from core.media.playback import plate_times

        # from the pts table in one step, and kept per reader: asked again on every shot switch
        assert plate_times(w.session.frames.reader) is plate_times(w.session.frames.reader)


def test_a_movie_of_a_vfr_plate_reads_back_with_the_plates_rate_and_end(phone, tmp_path):
    """A range in the plate's 60 fps stretch, written at its own times, read back at 60 fps (its
    steps; the nominal rate the writer stored was ignored) and ended a median step after its last
    frame, though that frame lasts until the plate's next frame, past the 100 ms gap. Now it reads
    the stored nominal 30 and ends where the plate's next frame starts."""
    src_t, _, _ = _times(phone)
    part = tmp_path / "stretch.mov"
    assert main(["convert", str(phone), str(part), "--frames", "12-23"]) == 0
    with open_media(part) as r:
        assert r.info.metadata.get("facsimile/nominal_fps") == "30/1" and r.info.fps == 30
        assert r.info.duration_s == pytest.approx(src_t[24] - src_t[12], abs=float(TICKS))


@pytest.mark.parametrize("frames", ["5-30", "12-23", "13-35", "1-1", "24-24"])
def test_a_conformed_range_is_the_same_frames_of_the_full_conform(phone, tmp_path, frames):
    """`convert --frames A-B --fps R` put its grid n / R at frame A, so its frames fell between
    the full conform's and its timecode was frame A's: laid over the full conform in an editor,
    the pictures did not match. Now the grid is the plate's (from its first frame): the range's
    frames are a slice of the full conform, and its start timecode is that slice's."""
    pts = [int(p) for p in np.r_[0, np.cumsum(STEPS)]]
    plate = make_video(tmp_path / "tc.mov", len(pts), W, H, fps=30, pts=pts, time_base=TICKS, timecode="01:00:00:00")
    src_t, _, n = _times(plate)
    full, part = tmp_path / "full.mov", tmp_path / "part.mov"
    assert main(["convert", str(plate), str(full), "--fps", "25"]) == 0
    whole = _frames_shown(full, range(n))
    assert main(["convert", str(plate), str(part), "--fps", "25", "--frames", frames]) == 0
    shown = _frames_shown(part, range(n))
    k0 = whole.index(shown[0])
    assert shown == whole[k0:k0 + len(shown)]
    a, b = (int(x) for x in frames.split("-"))
    assert shown == [f for f in whole if a <= f <= b]
    with open_media(part) as r:
        assert r.info.timecode == f"01:00:00:{k0:02d}"


def test_render_and_convert_start_the_same_vfr_frames_at_one_timecode(tmp_path, capsys):
    """Frame 24 of a VFR plate (after a 60 fps stretch and a 100 ms gap, 0.67 s in) at 30 fps
    nominal with timecode 01:00:00:00: convert said 01:00:00:20 (its time), the studio's convert
    job and a render 01:00:00:24 (its index). Now all three say 01:00:00:20."""
    import cv2
    from skimage.data import astronaut

    from core.jobs.convert import prepare_convert
    from core.project import Project
    from core.project import workflow as wf
    from core.render.delivery import prepare_render

    img = cv2.resize(astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    pts = [int(p) for p in np.r_[0, np.cumsum(STEPS)]]
    plate = make_video(tmp_path / "tc.mov", len(pts), 128, 128, fps=30, pts=pts, time_base=TICKS,
                       timecode="01:00:00:00", image=lambda i: np.ascontiguousarray(np.roll(img, 4 * i, axis=1)))
    with open_media(plate) as r:
        assert r.info.vfr and r.info.fps == 30
        want = f"01:00:00:{round(r.frame_time(24) * 30):02d}"
    assert want == "01:00:00:20"
    out = tmp_path / "c.mov"
    assert main(["convert", str(plate), str(out), "--frames", "24-30"]) == 0
    with open_media(out) as r:
        assert r.info.timecode == want
    assert prepare_convert(plate, tmp_path / "job.mov", frames=(24, 30)).writer["timecode"] == want
    project = Project.load(wf.create_project(tmp_path / "p", plates=[plate]).path)
    wf.analyze_shot(project, project.shots[0])
    wf.extract_shot_curves(project.shots[0])
    project.save()
    spec = prepare_render(str(project.path), str(tmp_path / "r.mov"), frames=(24, 30))
    assert spec.writer["timecode"] == want


@pytest.mark.parametrize("rate", ["abc", "", "0", "1001"])
def test_a_bad_fps_is_a_usage_error(phone, tmp_path, capsys, rate):
    """A bad --fps exited 3 (as an unreadable plate), and --fps "" was ignored (the plate's frames
    one for one, no conform): now both are usage errors (exit 2), saying what a rate is."""
    with pytest.raises(SystemExit) as exc:
        main(["convert", str(phone), str(tmp_path / "o.mov"), "--fps", rate])
    assert exc.value.code == 2 and "--fps" in capsys.readouterr().err
    assert not (tmp_path / "o.mov").exists()


def test_the_vfr_note_says_audio_in_sync_only_with_audio(phone, tmp_path, capsys):
    """It said "audio in sync" of a .mov written without --audio (no audio at all)."""
    assert main(["convert", str(phone), str(tmp_path / "a.mov")]) == 0
    assert "audio in sync" not in capsys.readouterr().err
    assert main(["convert", str(phone), str(tmp_path / "b.mov"), "--audio"]) == 0
    assert "audio in sync" in capsys.readouterr().err


@pytest.mark.parametrize(("rate", "want"), [("30", "01:00:00:00"), ("24", "01:00:00:00"), ("25", "01:00:00:00")])
def test_a_conform_between_ntsc_and_integer_rates_keeps_the_timecode_label(tmp_path, rate, want):
    """A non-drop 29.97 plate at 01:00:00:00 conformed to 30 started at 00:59:56:12 (converted by
    real time, 3.6 s an hour off; a non-drop label counts frames at 30): now 01:00:00:00."""
    plate = make_video(tmp_path / "ndf.mov", 8, W, H, fps=Fraction(30000, 1001), timecode="01:00:00:00")
    out = tmp_path / f"c{rate}.mov"
    assert main(["convert", str(plate), str(out), "--fps", rate]) == 0
    with open_media(out) as r:
        assert r.info.timecode == want
