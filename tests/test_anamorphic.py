"""Anamorphic plates (non-square pixels): read with their pixel aspect, faces measured on the
desqueezed picture, renders on the plate's own pixels and tagged as the plate. The plates are
the astronaut portrait squeezed 2x horizontally, real PyAV and OpenEXR files; the reference
is the same portrait on square pixels."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.media.aspect import desqueeze, squeeze, to_plate, to_square
from core.media.reader import probe
from tests.mediagen import make_video, write_exr

N = 3


def _portrait() -> np.ndarray:
    from skimage.data import astronaut

    return astronaut()


@pytest.fixture(scope="module")
def plates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The portrait on square pixels, squeezed 2x and tagged 2:1, and squeezed but untagged."""
    d = tmp_path_factory.mktemp("ana")
    img = _portrait()
    sq = np.ascontiguousarray(cv2.resize(img, (256, 512), interpolation=cv2.INTER_AREA))
    opts = {"crf": "8"}
    return {"square": make_video(d / "square.mp4", N, 512, 512, fps=24, image=lambda i: img, options=opts),
            "tagged": make_video(d / "tagged.mp4", N, 256, 512, fps=24, image=lambda i: sq, options=opts,
                                 sample_aspect=Fraction(2)),
            "untagged": make_video(d / "untagged.mp4", N, 256, 512, fps=24, image=lambda i: sq, options=opts)}


@pytest.fixture(scope="module")
def analyses(plates: dict[str, Path]) -> dict:
    from core.analysis.analyzer import Analyzer

    a = Analyzer(max_faces=1)
    out = {k: a.analyze(str(p)) for k, p in plates.items()}
    out["override"] = a.analyze(str(plates["untagged"]), pixel_aspect=2.0)
    return out


def test_pixel_aspect_is_read_from_mov_and_exr_and_written_back(tmp_path: Path, plates: dict[str, Path]) -> None:
    from core.media.writers import open_writer

    info = probe(plates["tagged"])
    assert info.pixel_aspect == 2.0 and any("anamorphic" in n and "512x512" in n for n in info.notes)
    assert probe(plates["untagged"]).pixel_aspect == 1.0
    import OpenEXR

    exr = tmp_path / "plate.1001.exr"
    write_exr(exr, np.full((8, 8, 3), 0.5, np.float32))
    with OpenEXR.File(str(exr)) as f:
        header, channels = dict(f.header()), {k: v.pixels for k, v in f.channels().items()}
    header["pixelAspectRatio"] = 1.5
    OpenEXR.File(header, channels).write(str(exr))
    assert probe(exr).pixel_aspect == 1.5
    for out in (tmp_path / "w.mov", tmp_path / "w.####.exr"):
        w = open_writer(out, width=16, height=8, fps=Fraction(24), pixel_aspect=2.0)
        w.write(np.zeros((8, 16, 3), np.uint8))
        w.close()
    assert probe(tmp_path / "w.mov").pixel_aspect == 2.0
    assert probe(tmp_path / "w.1001.exr").pixel_aspect == 2.0


def test_points_and_pictures_go_to_square_pixels_and_back() -> None:
    pts = np.array([[10.0, 5.0, 1.0], [100.0, 50.0, -2.0]])
    np.testing.assert_allclose(to_square(pts, 2.0)[:, 0], [20.0, 200.0])
    np.testing.assert_allclose(to_plate(to_square(pts, 2.0), 2.0), pts)
    img = np.random.default_rng(0).integers(0, 255, (6, 10, 3), np.uint8)
    assert desqueeze(img, 2.0).shape == (6, 20, 3) and desqueeze(img, 1.0) is img
    assert squeeze(desqueeze(img, 2.0), 10).shape == img.shape


def test_faces_are_measured_desqueezed(analyses: dict) -> None:
    """The tagged plate's landmarks (desqueezed space) are the square portrait's to about a pixel
    and its AUs read the same; the untagged squeeze reads a face half as wide, i.e. expressions
    that are not there, unless its pixel aspect is given."""
    import core.facs as facs

    ref = analyses["square"]
    assert analyses["tagged"].pixel_aspect == 2.0 and analyses["tagged"].width == 512
    assert analyses["override"].pixel_aspect == 2.0 and analyses["untagged"].pixel_aspect == 1.0

    def err(k: str) -> float:
        return float(np.linalg.norm(analyses[k].landmarks[0, 0, :, :2] - ref.landmarks[0, 0, :, :2], axis=1).mean())

    assert err("tagged") < 2.0 and err("override") < 2.0
    assert err("untagged") > 50.0

    def aus(k: str) -> np.ndarray:
        cs = facs.extract_shot(analyses[k], filter="none")[0]
        names = [n for n in cs.names if n.startswith("AU") and n[-1].isdigit()]
        return np.array([cs.curve(n)[0] for n in names])

    base = aus("square")
    print("square", np.round(base, 2), "\ntagged", np.round(aus("tagged"), 2), "\nuntagged", np.round(aus("untagged"), 2))
    assert np.abs(aus("tagged") - base).max() < 1.5
    assert np.abs(aus("override") - base).max() < 1.5
    assert np.abs(aus("untagged") - base).max() > 3.0


def test_a_render_changes_the_face_on_the_plates_own_pixels(plates: dict[str, Path], analyses: dict) -> None:
    """An edit on the anamorphic plate is the square render's edit, squeezed: within a few levels
    inside the face, and every pixel outside the matte is the plate's."""
    from core.media.reader import open_media
    from core.render.renderer import Renderer, RenderSettings

    base, target = {"AU12": 0.0, "AU02": 0.0}, {"AU12": 4.0, "AU02": 3.0}
    with open_media(plates["tagged"]) as r:
        plate = r.read(0)
    with open_media(plates["square"]) as r:
        square = r.read(0)
    ana = Renderer(RenderSettings(mode="edit")).render(plate, analyses["tagged"].landmarks[0, 0], base, target,
                                                      pixel_aspect=2.0)
    ref = Renderer(RenderSettings(mode="edit")).render(square, analyses["square"].landmarks[0, 0], base, target)
    assert ana.image.shape == plate.shape and ana.info["pixel_aspect"] == 2.0
    inside = ana.matte > 0.5
    moved = np.abs(ana.image.astype(int) - plate.astype(int)).max(axis=2)
    assert (moved[inside] > 8).mean() > 0.05, "the edit must show"
    assert (ana.image[ana.matte == 0] == plate[ana.matte == 0]).all(), "outside the face the plate, bit for bit"
    ref_change = ref.image.astype(np.float32) - square.astype(np.float32)
    expect = np.clip(plate + squeeze(ref_change, plate.shape[1]), 0, 255)
    diff = np.abs(ana.image.astype(np.float32) - expect)[inside]
    print("mean diff in the face", diff.mean())
    assert diff.mean() < 4.0


def test_project_render_of_an_anamorphic_plate_is_tagged_as_the_plate(tmp_path: Path, plates: dict[str, Path]) -> None:
    import OpenEXR

    from core.cli import main
    from core.project import Project
    from core.project import workflow as wf
    from core.render.delivery import render_shot

    proj = wf.create_project(tmp_path / "ana", plates=[plates["tagged"]])
    assert proj.plates["tagged"].pixel_aspect == 2.0
    shot = proj.shots[0]
    analysis = wf.analyze_shot(proj, shot, max_faces=1)
    assert analysis.pixel_aspect == 2.0
    wf.extract_shot_curves(shot)
    wf.set_key(shot, "AU12", 1, 4.0)
    proj.save()
    (tmp_path / "r").mkdir()
    out = render_shot(str(proj.path), str(tmp_path / "r" / "ana.####.exr"), frames=(1, 1))
    assert not any("anamorphic" in n for n in out["notes"])
    with OpenEXR.File(str(tmp_path / "r" / "ana.1001.exr")) as f:
        assert abs(float(f.header()["pixelAspectRatio"]) - 2.0) < 1e-6
        assert f.header()["dataWindow"][1][0] + 1 == 256 and f.header()["dataWindow"][1][1] + 1 == 512
    mov = render_shot(str(proj.path), str(tmp_path / "ana.mov"), frames=(0, 1))
    assert probe(mov["output"]).pixel_aspect == 2.0
    # an untagged anamorphic plate: the project says what the file does not
    rc = main(["project", "create", str(tmp_path / "un"), "--plate", str(plates["untagged"]), "--pixel-aspect", "2",
               "--json"])
    assert rc == 0
    made = Project.load(tmp_path / "un.facsimile")
    assert made.plates["untagged"].pixel_aspect == 2.0
    an = wf.analyze_shot(made, made.shots[0], max_faces=1)
    assert an.pixel_aspect == 2.0 and an.width == 512
    info = wf.project_info(made, check_hash=False)
    assert info["plates"][0]["pixel_aspect"] == 2.0
    assert json.loads((made.path / "project.json").read_text())["plates"][0]["pixel_aspect"] == 2.0


def test_a_dpx_says_its_pixel_aspect_and_a_log_transfer(tmp_path: Path) -> None:
    """DPX keeps the pixel aspect and transfer in its own header, which FFmpeg's decoder does not
    pass on: both are read from it (a film scan's printing density is noted, not guessed)."""
    import av

    with av.open(str(tmp_path / "scan.%04d.dpx"), "w", format="image2") as c:
        st = c.add_stream("dpx", rate=24)
        st.width, st.height, st.pix_fmt = 64, 48, "rgb48le"
        st.codec_context.sample_aspect_ratio = Fraction(2)
        for _ in range(2):
            for pkt in st.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint16), format="rgb48le")):
                c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)
    first = tmp_path / "scan.0001.dpx"
    info = probe(first)
    assert info.kind == "sequence" and info.pixel_aspect == 2.0
    assert not any("printing density" in n for n in info.notes)
    data = bytearray(first.read_bytes())
    data[801] = 1  # transfer: printing density
    first.write_bytes(bytes(data))
    assert any("printing density" in n and "--colorspace" in n for n in probe(first).notes)
