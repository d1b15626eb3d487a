"""The render pipeline end to end: project shot -> render job -> deliverable with provenance."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from core.cli import main
from core.delivery.provenance import verify
from core.delivery.sidecar import sidecar_path
from core.project import Project
from core.render.delivery import render_shot
from core.render.renderer import Renderer, RenderSettings
from tests.mediagen import analysed_astronaut_project


@pytest.fixture(scope="module")
def astronaut_project(tmp_path_factory) -> Path:
    """A project with one analysed 8-frame shot of the astronaut plate (no curves yet)."""
    return analysed_astronaut_project(tmp_path_factory.mktemp("proj"), 8)


def test_edit_mode_without_edits_returns_the_plate(astronaut_project):
    project = Project.load(astronaut_project)
    shot = project.shots[0]
    from core.media.reader import open_media

    with open_media(project.plate_of(shot).path) as r:
        frame = r.read(3)
    lm = shot.analysis.landmarks[3, 0]
    result = Renderer(RenderSettings(mode="edit")).render(frame, lm, {"AU12": 1.0}, {"AU12": 1.0})
    diff = np.abs(result.image.astype(int) - frame.astype(int))
    assert diff.max() <= 1, "an unedited face must come back as the plate"
    assert result.matte.max() > 0.9 and result.matte.min() == 0.0


def test_no_face_frame_is_passed_through_bit_exact():
    frame = np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    result = Renderer().render(frame, None)
    assert np.array_equal(result.image, frame)
    assert result.info["face"] is False


def test_render_shot_delivers_tagged_watermarked_mov_with_sidecar(astronaut_project, tmp_path):
    out = tmp_path / "render.mov"
    result = render_shot(str(astronaut_project), str(out), chunk=4)
    assert Path(result["output"]) == out and out.exists()
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "prores"
        assert sum(1 for p in c.demux(stream) if p.size) == 8
    doc = json.loads(sidecar_path(out).read_text())
    assert doc["synthetic_media"] is True and doc["frames"] == {"first": 0, "last": 7, "fps": "24/1"}
    assert doc["inputs"]["plate"]["sha256"]
    assert any(m["stage"] == "occlusion" and m["status"].startswith("off") for m in doc["models"])
    from core.facs.model import model_version

    au_model = {m["stage"]: m for m in doc["models"]}["au_model"]
    assert au_model["version"] == model_version() and au_model["curves_solved_with"] is None  # no curves yet
    report = verify(out)
    assert report["synthetic_tag"], report
    assert report["watermark"]["present"] and report["watermark"]["matches_render_id"], report
    assert report["sidecar"]["found"] and report["sidecar"]["matches_render_id"], report
    assert report["verified"]
    assert main(["verify", str(out)]) == 0


def test_render_exr_sequence_with_matte_channel(astronaut_project, tmp_path):
    import OpenEXR

    out = tmp_path / "exr" / "r.####.exr"
    out.parent.mkdir()
    render_shot(str(astronaut_project), str(out), frames=(2, 4))
    files = sorted(out.parent.glob("r.*.exr"))
    assert [f.name for f in files] == ["r.1001.exr", "r.1002.exr", "r.1003.exr"]
    f = OpenEXR.File(str(files[0]))
    channels, header = f.channels(), f.header()
    assert set(channels) == {"RGBA", "mask.Y"}
    assert channels["mask.Y"].pixels.max() > 0.9
    assert str(header.get("facsimile/synthetic")) in ("true", "b'true'")
    assert verify(out)["verified"]


def test_unverified_file_is_reported(tmp_path):
    from tests.jobhelpers import make_plate as plain_plate

    clip = plain_plate(tmp_path / "plain.mp4", frames=4)
    assert main(["verify", str(clip)]) == 1
