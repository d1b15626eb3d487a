"""The occlusion stage: occluder manifests, the occluder adapter (XSeg / occluder / BiSeNet
signatures) and the render keeping what covers the face from the plate.

The networks are stand-in graphs of the real signatures (tests/onnx_standins.py) that mark
GREEN pixels as occluder; a green block painted over the astronaut's mouth corner plays the
hand. For the render the stand-in is installed through the real model store (a test-only
manifest naming its sha256, `facsimile models install`), so `--occlusion auto` finds it."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from core.cli import main
from core.errors import FacsimileError, ModelError
from core.runtime.adapters.occlude import OnnxOccluder, available_occluders, load_occluder
from core.runtime.registry import ModelStore, load_manifests
from tests.onnx_standins import make_occluder_standin, manifests_with_test_entry

STANDIN_ID = "test_occluder_standin"


@pytest.fixture(autouse=True)
def _cpu(monkeypatch):
    monkeypatch.setenv("FACSIMILE_DEVICE", "cpu")


@pytest.fixture(scope="module")
def astronaut_face():
    """The astronaut plate, its 478-point mesh and its AU intensities (the analysis's own solve)."""
    from core.api import ExpressionTransfer, get_face_analyser

    plate = skdata.astronaut()
    lm = get_face_analyser().get_faces(plate)[0].landmarks
    base, _ = ExpressionTransfer().solve(lm)
    return plate, np.asarray(lm, np.float32), base


def _hand(plate: np.ndarray, lm: np.ndarray, half: int = 14) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The plate with a textured green block (the "hand") over the subject's right mouth corner; its box."""
    cx, cy = np.round(lm[61, :2]).astype(int)
    box = (cx - half, cy - half, cx + half, cy + half)
    out = plate.copy()
    rng = np.random.default_rng(7)
    block = np.empty((2 * half, 2 * half, 3), np.uint8)
    block[..., 1] = rng.integers(170, 256, (2 * half, 2 * half))
    block[..., 0] = rng.integers(0, 40, (2 * half, 2 * half))
    block[..., 2] = rng.integers(0, 40, (2 * half, 2 * half))
    out[box[1]:box[3], box[0]:box[2]] = block
    return out, box


def _inner(shape: tuple[int, int], box: tuple[int, int, int, int], margin: int) -> np.ndarray:
    m = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    m[y0 + margin:y1 - margin, x0 + margin:x1 - margin] = True
    return m


@pytest.fixture
def installed_occluder(tmp_path, monkeypatch):
    """The shipped manifests plus a test-only occluder entry describing the stand-in by its own
    hash, the stand-in installed with `facsimile models install`. Returns (model file, sha256)."""
    standin = make_occluder_standin(tmp_path / "xseg_standin.onnx", 256, "NHWC", "face_probability")
    digest = hashlib.sha256(standin.read_bytes()).hexdigest()
    mdir = manifests_with_test_entry(tmp_path / "manifests", f"""
        [[model]]
        id = "{STANDIN_ID}"
        family = "occluder"
        name = "TEST ONLY: green-is-occluder stand-in with xseg's signature, not a real model"
        file = "{STANDIN_ID}.onnx"
        sha256 = "{digest}"
        hash_source = "computed by the test"
        adapter = "occlude"
        input_size = [256, 256]
        template = "arcface_128"
        output_kind = "face_probability"
        licence = "test fixture"
        normalisation = {{ mean = [0.0, 0.0, 0.0], std = [255.0, 255.0, 255.0], channels = "BGR", layout = "NHWC" }}
        inputs = [{{ name = "input", shape = [1, 256, 256, 3] }}]
        outputs = [{{ name = "output", shape = [1, 256, 256, 1] }}]
    """)
    monkeypatch.setenv("FACSIMILE_MANIFESTS", str(mdir))
    src = tmp_path / "incoming"
    src.mkdir()
    (src / "downloaded.onnx").write_bytes(standin.read_bytes())
    assert main(["models", "install", str(src)]) == 0
    return ModelStore().root / f"{STANDIN_ID}.onnx", digest


# -------------------------------------------------------------------------- manifests, store
def test_occluder_manifests_are_complete_and_listed(capsys):
    ms = {m.id: m for m in load_manifests() if m.family == "occluder"}
    assert {"xseg_1", "xseg_2", "xseg_3", "xseg_visomaster", "occluder_visomaster", "bisenet_resnet_34",
            "faceparser_resnet34"} <= set(ms)
    for m in ms.values():
        assert len(m.sha256) == 64 and m.hash_source and m.adapter == "occlude" and m.template
        assert m.output_kind in ("face_probability", "face_logit", "class_logits"), m.id
        assert m.inputs and m.outputs and m.input_size and m.normalisation
    assert ms["xseg_1"].sha256 == "c4d1498b8a03b5fe2a3a5d2ef2a0402ab03bd51edaf5b2d8d5fb764702a97dd3"
    assert ms["bisenet_resnet_34"].face_classes == (1, 2, 3, 4, 5, 6, 10, 11, 12, 13)
    assert "bisenet_resnet_18" not in ms  # no published sha256 found: must not be invented
    assert available_occluders() == []
    with pytest.raises(ModelError) as exc:
        load_occluder("xseg_3")
    assert "xseg_3.onnx" in str(exc.value) and "facsimile models install DIR" in str(exc.value)
    with pytest.raises(ModelError, match="not an occluder"):
        load_occluder("gpen_bfr_512")
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["xseg_3", "occluder"] for line in out.splitlines()), out


def test_installed_standin_is_found_by_the_store_and_the_cli(installed_occluder, capsys):
    path, digest = installed_occluder
    assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert available_occluders() == [STANDIN_ID]
    from core.runtime.factory import available, load_adapter

    assert available("occluder") == [STANDIN_ID]
    occ = load_adapter(STANDIN_ID)
    assert isinstance(occ, OnnxOccluder) and occ.layout == "NHWC" and occ.size == 256
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert rows[STANDIN_ID]["family"] == "occluder" and rows[STANDIN_ID]["state"] == "installed"
    assert rows["xseg_3"]["family"] == "occluder" and rows["xseg_3"]["state"] == "missing"


# -------------------------------------------------------------------------------- adapter
def test_preprocessing_follows_the_manifest(tmp_path):
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    xseg = OnnxOccluder(make_occluder_standin(tmp_path / "a.onnx", 256, "NHWC"), model_id="xseg_1")
    blob = xseg.preprocess(crop)  # FaceFusion: BGR, NHWC, / 255
    assert blob.shape == (1, 256, 256, 3) and blob.dtype == np.float32
    assert np.allclose(blob[0], crop[..., ::-1] / 255.0, atol=1e-6)
    viso = OnnxOccluder(make_occluder_standin(tmp_path / "b.onnx", 256, "NCHW", "face_logit", input_name="img"),
                        model_id="occluder_visomaster")
    blob = viso.preprocess(crop)  # VisoMaster: RGB, NCHW, / 255
    assert blob.shape == (1, 3, 256, 256) and np.allclose(blob[0], crop.transpose(2, 0, 1) / 255.0, atol=1e-6)
    parser = OnnxOccluder(make_occluder_standin(tmp_path / "c.onnx", 512, "NCHW", "class_logits"),
                          model_id="bisenet_resnet_34")
    blob = parser.preprocess(np.full((512, 512, 3), 255, np.uint8))  # ImageNet mean / std, RGB
    assert blob.shape == (1, 3, 512, 512)
    assert np.allclose(blob[0, :, 0, 0], (1.0 - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225], atol=1e-4)


@pytest.mark.parametrize("model_id,size,layout,kind", [
    ("xseg_3", 256, "NHWC", "face_probability"),
    ("xseg_visomaster", 256, "NCHW", "face_probability"),
    ("occluder_visomaster", 256, "NCHW", "face_logit"),
    ("bisenet_resnet_34", 512, "NCHW", "class_logits"),
])
def test_face_mask_marks_the_occluder_in_the_frame(tmp_path, astronaut_face, model_id, size, layout, kind):
    plate, lm, _ = astronaut_face
    frame, box = _hand(plate, lm)
    occ = OnnxOccluder(make_occluder_standin(tmp_path / f"{model_id}.onnx", size, layout, kind), model_id=model_id)
    from core.render.renderer import kps5_from_landmarks

    mask = occ.face_mask(frame, kps5_from_landmarks(lm))
    assert mask.shape == plate.shape[:2] and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    inner = _inner(mask.shape, box, 2)
    assert np.all(mask[inner] == 0.0), mask[inner].max()  # the occluder is exactly 0: it stays plate
    # the feather lies on the face side and is short: a few crop pixels from the block
    far = np.ones(mask.shape, bool)
    x0, y0, x1, y1 = box
    grow = 20
    far[max(0, y0 - grow):y1 + grow, max(0, x0 - grow):x1 + grow] = False
    assert np.all(mask[far] == 1.0)
    # the other mouth corner, the eye corners and the forehead are face; the nose tip, close to
    # the block, is within the feather's ramp
    for i in (291, 33, 263, 10):
        x, y = np.round(lm[i, :2]).astype(int)
        assert mask[y, x] == 1.0, (i, mask[y, x])
    x, y = np.round(lm[1, :2]).astype(int)
    assert mask[y, x] > 0.9
    # nothing green: nothing occluded
    assert np.all(occ.face_mask(plate, kps5_from_landmarks(lm)) == 1.0)


def test_occluder_refuses_other_families(tmp_path):
    with pytest.raises(ModelError, match="not an occluder"):
        OnnxOccluder(make_occluder_standin(tmp_path / "x.onnx"), model_id="gfpgan_1.4")


# ---------------------------------------------------------------------------------- render
def test_render_keeps_the_occluder_from_the_plate(installed_occluder, astronaut_face, output_dir):
    from core.api import apply_gains
    from core.render.renderer import Renderer, RenderSettings

    plate, lm, base = astronaut_face
    frame, box = _hand(plate, lm)
    target = apply_gains(base, {12: 0.0})  # AU12 gain 0: the smile removed
    assert base["AU12"] > 0.3 and target["AU12"] == 0.0
    r_on = Renderer(RenderSettings(mode="edit"))  # occlusion = auto
    assert r_on.occlusion_status == f"on: {STANDIN_ID}" and r_on.occlusion_model == STANDIN_ID
    on = r_on.render(frame, lm, base, target)
    r_off = Renderer(RenderSettings(mode="edit", occlusion="off"))
    assert r_off.occluder is None and r_off.occlusion_status.startswith("off: switched off")
    off = r_off.render(frame, lm, base, target)

    inner = _inner(frame.shape[:2], box, 2)
    assert np.array_equal(on.image[inner], frame[inner])  # the "hand" is plate, bit for bit
    assert np.all(on.matte[inner] == 0.0)
    assert on.info["occlusion"] == f"on: {STANDIN_ID}" and 0.0 < on.info["occluded"] < 0.2
    # without the occluder the edit moves and blends the block with the face
    changed_off = np.abs(off.image[inner].astype(int) - frame[inner].astype(int)).max(axis=1) > 2
    assert changed_off.mean() > 0.2, changed_off.mean()
    # elsewhere in the face the edit still happens: the other mouth corner moves, as without the occluder
    x, y = np.round(lm[291, :2]).astype(int)
    other = (slice(y - 12, y + 12), slice(x - 12, x + 12))
    d_on = np.abs(on.image[other].astype(int) - frame[other].astype(int)).mean()
    d_off = np.abs(off.image[other].astype(int) - frame[other].astype(int)).mean()
    print(f"other mouth corner: mean |render - plate| {d_on:.2f} with the occluder, {d_off:.2f} without")
    assert d_on > 2.0 and abs(d_on - d_off) < 0.25 * d_off, (d_on, d_off)
    assert on.matte[y, x] > 0.9
    # outside the face the plate is untouched either way
    far = on.matte <= 0
    assert np.array_equal(on.image[far], frame[far])
    x0, y0, x1, y1 = box
    sl = (slice(max(0, y0 - 60), y1 + 60), slice(max(0, x0 - 60), x1 + 100))
    sheet = np.hstack([frame[sl], off.image[sl], on.image[sl]])
    cv2.imwrite(str(output_dir / "occlusion_plate_off_on.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def test_patch_alpha_excludes_the_occluder(installed_occluder, astronaut_face):
    from core.render.renderer import Renderer, RenderSettings

    plate, lm, base = astronaut_face
    frame, box = _hand(plate, lm)
    res = Renderer(RenderSettings(mode="edit", output="patch")).render(frame, lm, base, {**base, "AU12": 0.0})
    inner = _inner(frame.shape[:2], box, 2)
    assert res.image.shape[2] == 4 and np.all(res.image[..., 3][inner] == 0)


def test_bad_occlusion_settings_are_refused_or_switched_off(caplog):
    from core.render.renderer import NO_OCCLUDER, Renderer, RenderSettings

    with pytest.raises(FacsimileError, match="occlusion"):
        RenderSettings(occlusion="").validate()
    r = Renderer(RenderSettings())
    assert r.occluder is None and r.occlusion_status == NO_OCCLUDER
    with caplog.at_level(logging.WARNING):
        r = Renderer(RenderSettings(occlusion="xseg_3"))
    assert r.occluder is None and r.occlusion_status.startswith("off: ") and "xseg_3.onnx" in r.occlusion_status
    assert any("occlusion stage is OFF" in rec.getMessage() for rec in caplog.records)
    r = Renderer(RenderSettings(occlusion="gpen_bfr_512"))
    assert r.occluder is None and r.occlusion_status.startswith("off: ")


# ------------------------------------------------------------------ sidecar, log, CLI option
@pytest.fixture(scope="module")
def astronaut_project(tmp_path_factory) -> Path:
    from tests.mediagen import analysed_astronaut_project

    return analysed_astronaut_project(tmp_path_factory.mktemp("occproj"), 2)


def test_sidecar_and_log_name_the_occluder_or_say_none_ran(installed_occluder, astronaut_project, tmp_path,
                                                          caplog, capsys):
    from core.delivery.sidecar import sidecar_path
    from core.render.delivery import render_shot

    _, digest = installed_occluder
    out = tmp_path / "on.mov"
    with caplog.at_level(logging.INFO):
        result = render_shot(str(astronaut_project), str(out), handles=0, chunk=2)
    logged = " | ".join(rec.getMessage() for rec in caplog.records)
    assert f"occlusion model {STANDIN_ID} ran" in logged and "no occlusion model ran" not in logged, logged
    assert not any("occlusion" in n for n in result["notes"]), result["notes"]
    stages = {m["stage"]: m for m in json.loads(sidecar_path(out).read_text())["models"]}
    occ = stages["occlusion"]
    assert occ["status"] == f"on: {STANDIN_ID}" and occ["model"] == STANDIN_ID
    assert occ["sha256"] == digest and occ["provider"] == "CPUExecutionProvider"

    # the same shot with `facsimile render --occlusion off`: the log, the notes and the sidecar say none ran
    caplog.clear()
    out_off = tmp_path / "off.mov"
    with caplog.at_level(logging.WARNING):
        assert main(["render", str(astronaut_project), "--out", str(out_off), "--handles", "0",
                     "--occlusion", "off"]) == 0
    assert "no occlusion model ran" in " | ".join(rec.getMessage() for rec in caplog.records)
    assert "note: no occlusion model ran" in capsys.readouterr().err
    doc = json.loads(sidecar_path(out_off).read_text())
    stages = {m["stage"]: m for m in doc["models"]}
    assert stages["occlusion"]["status"].startswith("off") and "model" not in stages["occlusion"]
    assert doc["settings"]["occlusion"] == "off"
