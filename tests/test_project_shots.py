"""Shots: manual ranges, cut detection on real encoded video, CMX 3600 EDL and OTIO import
matched by timecode, OTIO export round trip."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from core.errors import MediaError, ProjectError
from core.project import Plate, Project
from core.project.editorial import (
    AlreadyAShot,
    detect_cuts,
    export_otio,
    import_cut_list,
    shots_from_cut_detection,
    shots_to_timeline,
)

EDL = """TITLE: facsimile test
FCM: NON-DROP FRAME

001  A001     V     C        01:00:02:00 01:00:04:00 00:00:00:00 00:00:02:00
* FROM CLIP NAME: sh010

002  A001     V     C        01:00:10:12 01:00:11:00 00:00:02:00 00:00:02:12
* FROM CLIP NAME: sh020

003  B002     V     C        02:00:00:00 02:00:01:00 00:00:02:12 00:00:03:12
* FROM CLIP NAME: elsewhere
"""


def _project(tmp_path: Path) -> Project:
    proj = Project.create(tmp_path / "edit")
    proj.add_plate(Plate("A001", "/plates/A001.mov", Fraction(24), 1000, 1920, 1080, "01:00:00:00"))
    return proj


def test_edl_events_map_to_plate_frames_by_timecode(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    edl = tmp_path / "cut.edl"
    edl.write_text(EDL)
    shots, problems = import_cut_list(proj, edl, handles=8)
    assert [(s.name, s.frame_in, s.frame_out, s.handles) for s in shots] == [
        ("sh010", 48, 95, 8), ("sh020", 252, 263, 8)]
    assert shots[0].timecode == "01:00:02:00"
    assert len(problems) == 1 and "event 3" in problems[0] and "02:00:00:00" in problems[0]


def test_otio_export_and_reimport_roundtrip(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    proj.new_shot("A001", 48, 95, name="sh010")
    proj.new_shot("A001", 300, 311, name="sh020", handles=4)
    out = export_otio(proj, tmp_path / "shots.otio")
    tl = shots_to_timeline(proj)
    clips = list(tl.find_clips())
    assert clips[0].source_range.start_time.value == 86400 + 48
    other = _project(tmp_path / "b")
    shots, problems = import_cut_list(other, out)
    assert not problems
    assert [(s.name, s.frame_in, s.frame_out) for s in shots] == [("sh010", 48, 95), ("sh020", 300, 311)]
    # and as an EDL through the CMX adapter
    edl = export_otio(proj, tmp_path / "shots.edl")
    third = _project(tmp_path / "c")
    shots, problems = import_cut_list(third, edl)
    assert [(s.frame_in, s.frame_out) for s in shots] == [(48, 95), (300, 311)] and not problems


def test_shot_names_stay_unique(tmp_path: Path) -> None:
    """A second shot named like another, or a project's own EDL imported again, made every
    `--shot NAME` command fail ("2 shots are named ... use the id")."""
    from core.project import workflow as wf

    proj = _project(tmp_path)
    wf.add_shot_range(proj, "A001", 100, 120, name="sh010")
    for taken in ("sh010", "SH010"):  # --shot matches names in any case
        with pytest.raises(ProjectError, match="a shot is named 'SH010' already|a shot is named 'sh010' already"):
            wf.add_shot_range(proj, "A001", 130, 140, name=taken)
    edl = export_otio(proj, tmp_path / "shots.edl")
    shots, problems = import_cut_list(proj, edl)  # the same cut again: nothing new
    assert shots == [] and "covers the same frames already" in problems[0]
    assert all(isinstance(p, AlreadyAShot) for p in problems)  # no error: the CLI exits 0 on it
    cut = tmp_path / "cut.edl"
    cut.write_text(EDL)
    shots, _ = import_cut_list(proj, cut)  # a clip named like a shot, over other frames
    assert [s.name for s in shots] == ["sh010_2", "sh020"]
    assert len({s.name for s in proj.shots}) == len(proj.shots)


def test_render_finds_a_shot_as_every_command_does(tmp_path: Path) -> None:
    """`render --shot` matched the exact name only, while `project ... --shot` takes the id,
    the name in any case or the 1-based position: one lookup now (workflow.resolve_shot)."""
    from core.project import workflow as wf
    from core.render.delivery import find_shot

    proj = _project(tmp_path)
    first = wf.add_shot_range(proj, "A001", 100, 120, name="SH010")
    second = wf.add_shot_range(proj, "A001", 130, 140, name="sh020")
    assert find_shot(proj, None) is first
    assert find_shot(proj, "sh010") is first and find_shot(proj, second.id) is second
    assert find_shot(proj, "2") is second
    with pytest.raises(ProjectError, match="no shot 'nope'"):
        find_shot(proj, "nope")


def test_cut_list_errors(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    with pytest.raises(ProjectError, match="does not exist"):
        import_cut_list(proj, tmp_path / "nope.edl")
    bad = tmp_path / "bad.otio"
    bad.write_text("{not json")
    with pytest.raises(ProjectError, match="cannot read the cut list"):
        import_cut_list(proj, bad)
    with pytest.raises(ProjectError, match="no plates"):
        import_cut_list(Project.create(tmp_path / "empty"), bad)


def _encode_scenes(path: Path, scenes: list[int], size: int = 96) -> None:
    """A real H.264 clip made of flat-but-textured scenes of the given lengths."""
    rng = np.random.default_rng(7)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=24)
        st.width = st.height = size
        st.pix_fmt = "yuv420p"
        st.options = {"crf": "18", "g": "12"}
        for i, n in enumerate(scenes):
            colour = np.array([(60 + 90 * i) % 256, (200 - 70 * i) % 256, (30 + 110 * i) % 256], np.uint8)
            tex = rng.integers(0, 40, (size, size, 1), dtype=np.uint8)
            for t in range(n):
                img = np.clip(colour[None, None, :].astype(int) + tex + t % 3, 0, 255).astype(np.uint8)
                for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)


def test_cut_detection_on_encoded_clip(tmp_path: Path) -> None:
    clip = tmp_path / "three.mp4"
    _encode_scenes(clip, [30, 24, 40])
    assert detect_cuts(clip) == [(0, 29), (30, 53), (54, 93)]
    proj = Project.create(tmp_path / "cuts")
    proj.add_plate(Plate("C", str(clip), Fraction(24), 94, 96, 96, "00:59:59:00"))
    shots = shots_from_cut_detection(proj, "C", handles=2)
    assert [(s.frame_in, s.frame_out) for s in shots] == [(0, 29), (30, 53), (54, 93)]
    assert shots[1].timecode == "01:00:00:06"  # 24 fps: frame 30 is 1 s 6 frames after 00:59:59:00
    with pytest.raises(MediaError, match="does not exist"):
        detect_cuts(tmp_path / "missing.mp4")


def test_cut_detection_on_real_footage(shared_media) -> None:
    path = shared_media("clips", "face_noface.mov")
    ranges = detect_cuts(path)
    assert len(ranges) >= 2  # a face, then a cut to no face
    assert ranges[0][0] == 0 and all(b + 1 == c for (_, b), (c, _) in zip(ranges, ranges[1:], strict=False))
    assert ranges[-1][1] + 1 == 169  # decode-order frame count (MEDIA.md), not pts-derived


def test_plate_from_media_when_reader_exists(shared_media) -> None:
    pytest.importorskip("core.media.reader", reason="core.media.reader is not written yet")
    path = shared_media("clips", "d0.mp4")
    plate = Plate.from_media(path)
    assert plate.frame_count == 78 and plate.fps == Fraction(25) and (plate.width, plate.height) == (512, 512)
    assert plate.hash.startswith("q")


def test_a_non_drop_2997_plate_keeps_non_drop_timecode() -> None:
    """OpenTimelineIO infers drop-frame from a 29.97/59.94 rate: a non-drop plate at 01:00:00:00
    gave its frame 0 as 01:00:03;18 (project info, every render's tmcd and EXR timeCode). A plate's
    frames take the plate's own kind of timecode."""
    for rate, ndf_start, df_next in ((Fraction(30000, 1001), "01:00:00:00", "01:01:00;02"),
                                     (Fraction(60000, 1001), "01:00:00:00", "01:01:00;04")):
        ndf = Plate("A", "/a.mov", rate, 10, 64, 48, ndf_start)
        assert ndf.timecode_for_frame(0) == "01:00:00:00" and ndf.timecode_for_frame(1) == "01:00:00:01"
        df = Plate("B", "/b.mov", rate, 10, 64, 48, "01:00:59;29" if rate < 40 else "01:00:59;59")
        assert df.timecode_for_frame(0) == df.timecode and df.timecode_for_frame(1) == df_next
    assert Plate("C", "/c.mov", Fraction(25), 10, 64, 48, "10:00:00:00").timecode_for_frame(25) == "10:00:01:00"
