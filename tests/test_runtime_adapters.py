"""ONNX adapters' plumbing, checked with small stand-in graphs of the real signatures
(tests/onnx_standins.py): SCRFD decoding, 2dfan4 heatmap decoding, ArcFace alignment and
normalisation, restorer paste-back. Stand-ins are loaded by path, never installed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata
from skimage.transform import SimilarityTransform

from core.analysis.interfaces import Detection, Detector, Embedder, Landmarker
from core.errors import ModelError, NoFaceError
from core.runtime.adapters.arcface import ArcFaceEmbedder, cosine_distance
from core.runtime.adapters.fan68 import Fan68Landmarker, crop_matrix, decode_heatmaps
from core.runtime.adapters.restore import OnnxRestorer, available_restorers, load_restorer
from core.runtime.adapters.retinaface import RetinaFaceDetector
from core.runtime.adapters.scrfd import ScrfdDetector
from core.runtime.align import ARCFACE_DST_112, box_mask, template_points, umeyama_similarity
from tests.onnx_standins import (
    arcface_standin_weights,
    gaussian_heatmaps,
    make_arcface_standin,
    make_fan68_standin,
    make_restorer_standin,
    make_scrfd_standin,
)

# Five key points of the astronaut's face in skimage.data.astronaut() (512x512), approximate.
ASTRONAUT_KPS = np.array([[185.0, 107.0], [235.0, 105.0], [212.0, 133.0], [190.0, 160.0], [232.0, 158.0]])


@pytest.fixture(autouse=True)
def _cpu(monkeypatch):
    monkeypatch.setenv("FACSIMILE_DEVICE", "cpu")


def _frame_with_astronaut(offset=(200, 150), size=(720, 1000)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    ox, oy = offset
    frame[oy:oy + 512, ox:ox + 512] = skdata.astronaut()
    return frame, ASTRONAUT_KPS + [ox, oy]


def _skimage_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """skimage's similarity estimate (an independent implementation), 2x3."""
    if hasattr(SimilarityTransform, "from_estimate"):
        return np.asarray(SimilarityTransform.from_estimate(src, dst).params[:2])
    t = SimilarityTransform()
    t.estimate(src, dst)
    return t.params[:2]


def test_umeyama_recovers_a_known_similarity_and_matches_skimage():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    ang, s, t = 0.3, 1.7, np.array([12.0, -4.0])
    rot = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = src @ rot.T + t
    m = umeyama_similarity(src, dst)
    assert np.allclose(m[:, :2], rot, atol=1e-9) and np.allclose(m[:, 2], t, atol=1e-9)
    noisy = dst + rng.normal(0, 2, dst.shape)
    assert np.allclose(umeyama_similarity(src, noisy), _skimage_similarity(src, noisy), atol=1e-8)
    with pytest.raises(ValueError):
        umeyama_similarity(np.ones((5, 2)), dst)


def test_scrfd_decode_recovers_the_encoded_face(tmp_path):
    # Face encoded in 640x640 input pixels; the frame is 1280x720 so the detector must
    # letterbox by 0.5 and scale the decoded face back by 2.
    box_in = np.array([200.0, 150.0, 330.0, 320.0])
    kps_in = np.array([[240.0, 210.0], [290.0, 212.0], [266.0, 250.0], [246.0, 285.0], [288.0, 286.0]])
    path = make_scrfd_standin(tmp_path / "scrfd_standin.onnx", box_in, kps_in, score=0.87)
    det = ScrfdDetector(path)
    assert isinstance(det, Detector)
    frame = np.zeros((720, 1280, 3), np.uint8)
    blob, scale = det.preprocess(frame)
    assert blob.shape == (1, 3, 640, 640) and scale == pytest.approx(0.5)
    assert blob[0, :, 0, 0] == pytest.approx(-127.5 / 128)  # (x - 127.5) / 128
    faces = det.detect(frame)
    assert len(faces) == 1
    f = faces[0]
    assert f.score == pytest.approx(0.87, abs=1e-6)
    assert np.allclose(f.bbox, box_in * 2, atol=1e-3)
    assert f.kps.shape == (5, 2) and np.allclose(f.kps, kps_in * 2, atol=1e-3)
    # Below the score threshold nothing comes back.
    assert ScrfdDetector(path, score_threshold=0.9).detect(frame) == []
    # RetinaFace (FaceFusion's export) decodes identically.
    rf = RetinaFaceDetector(path).detect(frame)
    assert np.allclose(rf[0].bbox, f.bbox)


def test_scrfd_nms_keeps_one_of_overlapping_boxes():
    from core.runtime.adapters.scrfd import nms

    boxes = np.array([[0, 0, 100, 100], [5, 5, 105, 105], [300, 300, 350, 350]], np.float32)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.4) == [0, 2]


def test_fan68_heatmap_decode_is_subpixel():
    rng = np.random.default_rng(2)
    peaks = rng.uniform(3, 60, (68, 2))
    cells, vals = decode_heatmaps(gaussian_heatmaps(peaks))
    assert np.abs(cells - peaks).max() < 0.02
    assert vals.min() > 0.8


def test_fan68_landmarks_map_back_to_the_frame(tmp_path):
    rng = np.random.default_rng(3)
    peaks = rng.uniform(8, 56, (68, 2))
    lm = Fan68Landmarker(make_fan68_standin(tmp_path / "fan_standin.onnx", peaks))
    assert isinstance(lm, Landmarker)
    frame = np.zeros((600, 800, 3), np.uint8)
    det = Detection(bbox=np.array([300.0, 150.0, 460.0, 350.0]), score=0.9)
    pts, conf = lm.landmarks(frame, det)
    assert pts.shape == (68, 3) and pts.dtype == np.float32 and conf > 0.9
    m = crop_matrix(det.bbox)
    crop_pts = (peaks + 0.5) * 4 - 0.5
    inv = cv2.invertAffineTransform(m)
    expected = crop_pts @ inv[:, :2].T + inv[:, 2]
    assert np.abs(pts[:, :2] - expected).max() < 0.1
    # the crop: box side 200 px -> 195 px, centred in 256
    assert m[0, 0] == pytest.approx(195 / 200)
    centre = np.array([380.0, 250.0]) @ m[:, :2].T + m[:, 2]
    assert np.allclose(centre, [128, 128])


def test_arcface_alignment_normalisation_and_embedding(tmp_path):
    path = make_arcface_standin(tmp_path / "arcface_standin.onnx")
    emb = ArcFaceEmbedder(path)
    assert isinstance(emb, Embedder) and emb.dim == 512 and emb.metric == "cosine"
    frame, kps = _frame_with_astronaut()
    blob, crop = emb.preprocess(frame, kps)
    # independent reference: skimage's similarity estimate onto InsightFace's arcface_dst
    ref_crop = cv2.warpAffine(frame, _skimage_similarity(kps, ARCFACE_DST_112), (112, 112), borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(crop.astype(int) - ref_crop.astype(int)).max() <= 1
    # the key points land on the template
    m = umeyama_similarity(kps, ARCFACE_DST_112)
    assert np.abs(kps @ m[:, :2].T + m[:, 2] - ARCFACE_DST_112).max() < 4.0
    # RGB order and (x - 127.5) / 127.5
    ref_blob = ((ref_crop.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
    assert np.abs(blob - ref_blob).max() < 0.02
    red = np.zeros((112, 112, 3), np.uint8)
    red[..., 0] = 255
    rblob, _ = emb.preprocess(red, ARCFACE_DST_112)
    assert rblob[0, 0].min() == pytest.approx(1.0) and rblob[0, 2].max() == pytest.approx(-1.0)
    # embedding = L2-normalised projection of the 8x8 pooled blob (what the stand-in computes)
    v = emb.embed(frame, Detection(bbox=np.zeros(4), score=1.0, kps=kps))
    pooled = blob[0].reshape(3, 8, 14, 8, 14).mean(axis=(2, 4)).reshape(1, -1)
    ref = (pooled @ arcface_standin_weights()).ravel()
    ref /= np.linalg.norm(ref)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert cosine_distance(v, ref) < 1e-5
    # same face shifted in the frame: same embedding (alignment removes the translation)
    frame2, kps2 = _frame_with_astronaut(offset=(40, 60))
    v2 = emb.embed(frame2, Detection(bbox=np.zeros(4), score=1.0, kps=kps2))
    assert emb.distance(v, v2) < 1e-3
    with pytest.raises(NoFaceError, match="key points"):
        emb.embed(frame, Detection(bbox=np.zeros(4), score=1.0, kps=None))


def test_identity_restorer_round_trip(tmp_path):
    restorer = OnnxRestorer(make_restorer_standin(tmp_path / "gpen_standin.onnx", 512), model_id="gpen_bfr_512",
                            strength=1.0)
    frame, kps = _frame_with_astronaut()
    out = restorer.restore(frame, kps)
    assert out.shape == frame.shape and out.dtype == np.uint8 and out is not frame
    # where the feathered mask is zero the frame is bit-identical
    m = umeyama_similarity(kps, template_points("ffhq_512", 512))
    inv = cv2.invertAffineTransform(m)
    mask = cv2.warpAffine(box_mask(512, 0.3), inv, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    outside = mask <= 0
    assert outside.mean() > 0.5
    assert np.array_equal(out[outside], frame[outside])
    # inside the face (mask ~1) the identity network returns it nearly unchanged
    inside = mask > 0.99
    assert inside.sum() > 5000
    diff = np.abs(out.astype(int) - frame.astype(int))[inside]
    assert diff.mean() < 4.0, diff.mean()
    # the eyes region itself (smooth-ish skin and eyes) is close
    x0, y0 = kps[:2].min(0).astype(int) - 10
    x1, y1 = kps[:2].max(0).astype(int) + 10
    assert np.abs(out[y0:y1, x0:x1].astype(int) - frame[y0:y1, x0:x1].astype(int)).mean() < 4.0
    # strength 0 returns the frame unchanged
    assert np.array_equal(restorer.restore(frame, kps, strength=0.0), frame)


def test_codeformer_fidelity_weight_is_fed_and_output_denormalised(tmp_path):
    path = make_restorer_standin(tmp_path / "codeformer_standin.onnx", 512, weight_input="weight",
                                 constant_from_weight=True)
    restorer = OnnxRestorer(path, model_id="codeformer", fidelity=0.7)
    assert restorer.extra_inputs[0][1] == np.float64
    frame, kps = _frame_with_astronaut()
    out = restorer.restore(frame, kps)
    centre = tuple(kps[2].astype(int))[::-1]
    assert np.abs(out[centre].astype(float) - 0.7 * 255).max() <= 1  # (2w-1 + 1) / 2 * 255
    half = restorer.restore(frame, kps, strength=0.5)
    expect = np.rint(frame[centre].astype(np.float32) * 0.5 + 178.5 * 0.5)
    assert np.abs(half[centre].astype(int) - expect).max() <= 1


def test_load_restorer_without_model_is_a_clear_error():
    assert available_restorers() == []
    with pytest.raises(ModelError) as exc:
        load_restorer("gfpgan_1.4")
    assert "GFPGANv1.4.onnx" in str(exc.value) and "facsimile models install DIR" in str(exc.value)
    with pytest.raises(ModelError, match="not a face restorer"):
        load_restorer("scrfd_10g")


def test_fan68_dark_crop_gets_clahe_and_bright_crop_is_untouched():
    from core.runtime.adapters.fan68 import Fan68Landmarker

    bright = np.full((256, 256, 3), 128, np.uint8)
    assert Fan68Landmarker.prepare_crop(bright) is bright
    rng = np.random.default_rng(4)
    dark = rng.integers(0, 40, (256, 256, 3), dtype=np.uint8)
    out = Fan68Landmarker.prepare_crop(dark)
    assert out.shape == dark.shape and out.mean() > dark.mean()


def test_scrfd_several_faces_strides_anchors_and_batched_outputs(tmp_path):
    big = (np.array([100.0, 80.0, 420.0, 470.0]), np.array([[200, 230], [320, 230], [260, 300], [210, 380], [310, 380.0]]))
    small = (np.array([500.0, 500.0, 540.0, 548.0]), np.array([[512, 515], [528, 515], [520, 525], [513, 537], [527, 537.0]]))
    # a near duplicate of the big face on the other anchor of a stride-16 cell: NMS removes it
    dup = (big[0] + [4, -3, 2, 5], big[1], 0.6, 16, 1)
    path = make_scrfd_standin(tmp_path / "multi.onnx", *big, score=0.95, stride=32, batched=True,
                              extra=[(small[0], small[1], 0.7, 8, 1), dup])
    faces = ScrfdDetector(path).detect(np.zeros((640, 640, 3), np.uint8))
    assert [round(f.score, 2) for f in faces] == [0.95, 0.7]
    assert np.allclose(faces[0].bbox, big[0], atol=1e-3) and np.allclose(faces[0].kps, big[1], atol=1e-3)
    assert np.allclose(faces[1].bbox, small[0], atol=1e-3) and np.allclose(faces[1].kps, small[1], atol=1e-3)
    # portrait frame: letterbox on the width
    faces = ScrfdDetector(path).detect(np.zeros((1280, 960, 3), np.uint8))
    assert np.allclose(faces[0].bbox, big[0] * 2, atol=1e-3)


def test_factory_refuses_missing_models_with_a_reason(caplog):
    from core.runtime.factory import available, load_adapter, try_load

    assert available("restorer") == [] and available("detector") == []
    adapter, reason = try_load("gpen_bfr_512")
    assert adapter is None and "GPEN-BFR-512.onnx" in reason and "facsimile models install DIR" in reason
    with pytest.raises(ModelError, match="no adapter"):
        load_adapter("inswapper_128")
    with pytest.raises(ModelError, match="embedded default"):
        load_adapter("mediapipe_face_mesh")
