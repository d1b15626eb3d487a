"""The seed Python API (core.api) on the public-domain NASA astronaut portrait (always runs)
and, for the 'other person' check, a still from the shared media (skipped when absent)."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from skimage import data

from core import api
from core.errors import FacsimileError, NoFaceError


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def face(astronaut):
    faces = api.get_face_analyser().get_faces(astronaut)
    assert faces, "no face found on the astronaut"
    return faces[0]


def _load(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_get_faces_on_astronaut(astronaut, face):
    faces = api.get_face_analyser().get_faces(astronaut)
    assert len(faces) == 1
    x0, y0, x1, y1 = face.bbox
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 220  # the face, not the suit or the flag
    assert face.landmarks.shape == (478, 3) and face.kps.shape == (5, 2)
    # InsightFace order: subject's right eye (image left), left eye, nose, right/left mouth corner
    reye, leye, nose, rmouth, lmouth = face.kps
    assert reye[0] < nose[0] < leye[0] and rmouth[0] < lmouth[0]
    assert max(reye[1], leye[1]) < nose[1] < min(rmouth[1], lmouth[1])
    assert np.all((face.kps >= face.bbox[:2]) & (face.kps <= face.bbox[2:]))
    assert 0.5 < face.score <= 1.0
    assert face.pose.shape == (3,) and np.all(np.abs(face.pose) < 0.6)
    e = face.embedding
    assert e.shape == (128,) and e.dtype == np.float32 and 0.5 < np.linalg.norm(e) < 2.0
    assert face.embedding is e  # computed once
    assert api.get_face_analyser() is api.get_face_analyser()
    assert api.get_face_analyser().get_faces(np.zeros((64, 64, 3), np.uint8)) == []


def test_encode_and_compare(astronaut, face, shared_media):
    x0, y0, x1, y1 = face.bbox.astype(int)
    tight = astronaut[y0:y1, x0:x1]  # no margin: encode_face pads it
    e_full = api.encode_face(astronaut)
    e_crop = api.encode_face(tight)
    e_flip = api.encode_face(np.ascontiguousarray(astronaut[:, ::-1]))
    same, d = api.compare_faces(e_full, e_full)
    assert same and d == 0.0
    same, d_crop = api.compare_faces(e_full, e_crop)
    assert same and d_crop < 0.3, d_crop
    same, d_flip = api.compare_faces(e_full, e_flip)
    assert same and d_flip < 0.45, d_flip  # the mirror image is still the same person
    assert api.compare_faces(e_full, e_flip, threshold=d_flip / 2)[0] is False
    with pytest.raises(NoFaceError):
        api.encode_face(np.full((120, 120, 3), 128, np.uint8))
    with pytest.raises(FacsimileError):
        api.compare_faces(e_full, e_full[:64])
    other = api.encode_face(_load(shared_media("stills", "biden.jpg")))
    same, d_other = api.compare_faces(e_full, other)
    assert not same and d_other > 0.6 and d_other > 2 * d_flip, d_other


def smile_lift(lm: np.ndarray) -> float:
    """Mouth-corner height above the lip centre, in inter-ocular distances (AU12 raises it)."""
    iod = float(np.linalg.norm(lm[33, :2] - lm[263, :2]))
    return float(((lm[13, 1] + lm[14, 1]) / 2 - (lm[61, 1] + lm[291, 1]) / 2) / iod)


def _mouth_box(lm: np.ndarray, pad: int = 6) -> tuple[slice, slice]:
    m = lm[[61, 291, 0, 17, 13, 14], :2]
    x0, y0 = m.min(axis=0).astype(int) - pad
    x1, y1 = m.max(axis=0).astype(int) + pad
    return slice(y0, y1), slice(x0, x1)


@pytest.fixture(scope="module")
def target_image(astronaut) -> np.ndarray:
    # Another picture of the identity: the mirror image, shifted and rescaled, so that the
    # template is built from a different image than the plate.
    img = np.ascontiguousarray(astronaut[:, ::-1])
    return cv2.resize(img[20:480, 10:470], (400, 400), interpolation=cv2.INTER_AREA)


def test_transfer_expression_shape_dtype_and_locality(astronaut, face, target_image):
    tr = api.ExpressionTransfer()
    out = tr.transfer(astronaut, target_image, {"enable_smooth": False, "au_gain": {}})
    assert out.shape == astronaut.shape and out.dtype == astronaut.dtype
    changed = np.any(out != astronaut, axis=2)
    assert changed.sum() > 2000  # the face was re-rendered
    x0, y0, x1, y1 = face.bbox
    pad = 0.15 * face.size
    ys, xs = np.nonzero(changed)
    assert xs.min() >= x0 - pad and xs.max() <= x1 + pad and ys.min() >= y0 - pad and ys.max() <= y1 + pad
    assert tr.last_info["face"] and tr.last_info["mode"] == "swap"
    # the template is cached by image hash: a second call reuses it
    n = len(tr._templates)
    tr.transfer(astronaut, target_image.copy(), {"enable_smooth": False})
    assert len(tr._templates) == n
    # float32 and uint16 frames come back in their dtype
    f32 = tr.transfer(astronaut.astype(np.float32) / 255, target_image, {"enable_smooth": False})
    assert f32.dtype == np.float32 and f32.shape == astronaut.shape
    # the default instance and the module function
    out2 = api.transfer_expression(astronaut, target_image)
    assert out2.shape == astronaut.shape and out2.dtype == np.uint8
    # no performer face: the frame comes back unchanged
    blank = np.full_like(astronaut, 90)
    assert np.array_equal(api.transfer_expression(blank, target_image), blank)
    with pytest.raises(NoFaceError):
        tr.transfer(astronaut, np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(FacsimileError):
        tr.transfer(astronaut, target_image, {"au_gain": {12: 3.0}})
    with pytest.raises(FacsimileError):
        tr.transfer(astronaut, target_image, {"bogus": 1})


def test_transfer_expression_au12_gain_changes_the_mouth(astronaut, face, target_image):
    tr = api.ExpressionTransfer()
    lo = tr.transfer(astronaut, target_image, {"enable_smooth": False, "au_gain": {12: 0.0}})
    au12 = tr.last_info["au"].get("AU12", 0.0)
    assert au12 > 0.3, f"the astronaut's smile should read as AU12 > 0.3 (got {au12:.2f})"
    tr.reset()
    hi = tr.transfer(astronaut, target_image, {"enable_smooth": False, "au_gain": {12: 2.0}})
    ys, xs = _mouth_box(face.landmarks)
    diff = np.abs(lo[ys, xs].astype(np.float32) - hi[ys, xs].astype(np.float32)).mean()
    assert diff > 3.0, f"mouth region differs by only {diff:.2f} grey levels between AU12 gain 0 and 2"
    # away from the mouth (top of the head) the two renders agree
    x0, y0, x1, y1 = face.bbox.astype(int)
    top = (slice(max(0, y0 - 40), y0 - 10), slice(x0, x1))
    assert np.abs(lo[top].astype(np.float32) - hi[top].astype(np.float32)).mean() < 0.5
    # re-analysed geometry: the mouth corners sit higher (relative to the lip centre) with gain 2
    lifts = [smile_lift(api.get_face_analyser().get_faces(img)[0].landmarks) for img in (lo, hi)]
    assert lifts[1] > lifts[0] + 0.02, lifts


def test_transfer_expression_smoothing_state(astronaut, target_image):
    tr = api.ExpressionTransfer()
    a = tr.transfer(astronaut, target_image, {"enable_smooth": True})
    b = tr.transfer(astronaut, target_image, {"enable_smooth": True})  # steady input: steady output
    assert np.abs(a.astype(np.int16) - b.astype(np.int16)).max() <= 2
    tr.reset()
    assert tr._au_filter._x is None


def test_gain_names():
    vals = {"AU12": 2.0, "AU12L": 2.0, "AU12R": 1.5, "AU45": 4.0, "AU04": 1.0}
    out = api.apply_gains(vals, {12: 0.5, 43: 0.0, "AU4": 2.0})
    assert out == {"AU12": 1.0, "AU12L": 1.0, "AU12R": 0.75, "AU45": 0.0, "AU04": 2.0}
    assert api.apply_gains(vals, {"12L": 0.0})["AU12L"] == 0.0 and api.apply_gains(vals, {"12L": 0.0})["AU12R"] == 1.5
    assert api.apply_gains({"AU04": 4.0}, {4: 2.0}) == {"AU04": 5.0}  # intensities stay within 0..5
    # the renderer takes gained side curves as they are (no double counting of the bilateral change)
    from core.render.retarget import side_intensities

    sides = side_intensities({**vals, **out}, reference=vals)
    assert sides["AU12L"] == 1.0 and sides["AU12R"] == 0.75
    # a key on the bilateral curve alone is carried to both sides
    sides = side_intensities({**vals, "AU12": 3.0}, reference=vals)
    assert sides["AU12L"] == 3.0 and sides["AU12R"] == 2.5
    with pytest.raises(FacsimileError):
        api.apply_gains(vals, {"smile": 1.0})
    with pytest.raises(FacsimileError, match="AU99 is not an AU of the engine"):  # was a warning, no effect
        api.apply_gains(vals, {99: 1.0})
    # and when the config is read, before any frame: a frame with no face took the typo silently
    blank = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(FacsimileError, match="AU99 is not an AU of the engine"):
        api.ExpressionTransfer().transfer(blank, blank, {"au_gain": {99: 1.0}})


@pytest.mark.parametrize("method", ["poisson", "gaussian"])
def test_blend_faces(astronaut, face, method, caplog):
    from core.render.blend import paste, seam_energy
    from core.render.masks import face_mask
    from core.render.warp import warp_image

    lm = face.landmarks
    moved = lm.copy()
    moved[:, :2] += (3.0, 2.0)
    warped, valid = warp_image(astronaut, lm, moved)
    warped = np.clip(warped.astype(np.int16) + 30, 0, 255).astype(np.uint8)  # a brighter face
    mask = face_mask(moved, astronaut.shape[:2]) * valid
    out = api.blend_faces(warped, astronaut, mask=mask, method=method)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    assert np.array_equal(out[mask <= 0], astronaut[mask <= 0])
    inner = mask > 0.99
    assert np.abs(out[inner].astype(int) - astronaut[inner]).mean() > 2  # the face came in
    assert seam_energy(out, mask) < seam_energy(paste(warped, astronaut, mask), mask)
    # uint8 mask, RGBA warped (alpha as the mask), float frames
    out8 = api.blend_faces(warped, astronaut, mask=np.round(mask * 255).astype(np.uint8), method=method)
    assert np.abs(out8.astype(int) - out).max() <= 2
    rgba = np.dstack([warped, np.round(mask * 255).astype(np.uint8)])
    assert np.abs(api.blend_faces(rgba, astronaut, method=method).astype(int) - out).max() <= 2
    outf = api.blend_faces(warped.astype(np.float32) / 255, astronaut.astype(np.float32) / 255, mask, method)
    assert outf.dtype == np.float32 and np.abs(np.clip(outf, 0, 1) * 255 - out).max() <= 0.51
    # no restoration model installed: one WARNING, the unenhanced blend
    api._ENHANCE_WARNED = False
    api._ENHANCER = None
    with caplog.at_level(logging.WARNING, logger="core.api"):
        enh = api.blend_faces(warped, astronaut, mask, method, enhance_level="high")
        api.blend_faces(warped, astronaut, mask, method, enhance_level="low")
    assert np.array_equal(enh, out)
    warnings = [r for r in caplog.records if "enhance_level" in r.getMessage()]
    assert len(warnings) == 1 and "no face-restoration model is installed" in warnings[0].getMessage()
    with pytest.raises(FacsimileError):
        api.blend_faces(warped, astronaut, mask, method="median")
    with pytest.raises(FacsimileError):
        api.blend_faces(warped[:100], astronaut, None, method)


def test_docs_api_example_runs(capsys):
    """The example in docs/api.md runs as written."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "docs/api.md has no python example"
    exec(compile(blocks[0], "docs/api.md", "exec"), {"__name__": "docs_api_example"})
    printed = capsys.readouterr().out
    assert "same person: True" in printed, printed
