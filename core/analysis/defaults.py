"""The embedded default models, all from PyPI wheels (no download at run time).

- `MediaPipeDetector`: MediaPipe face detection, full-range model (small faces too).
- `MediaPipeLandmarker`: MediaPipe Face Mesh with refined irises (478 points), run on a
  square crop around the face so several faces and small faces work; points come back in
  plate pixels, z in pixel units (normalised z times the crop side).
- `DlibEmbedder`: dlib's ResNet face descriptor (128-D, Euclidean, same person < 0.6) with
  the five-point aligner from `face_recognition_models`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import warnings

import cv2
import numpy as np

from core.analysis.image import to_rgb8
from core.analysis.interfaces import Detection
from core.errors import ModelError

log = logging.getLogger(__name__)
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")


# What MediaPipe's TFLite runtime prints on stderr while it builds a graph: start-up notes, not
# problems (absl logs straight to fd 2 before anything could configure it; GLOG_minloglevel no
# longer reaches it). Shown to a user, "W0000 ... Feedback manager requires a model with a single
# signature" reads as a fault on every run.
_NATIVE_CHATTER = re.compile(
    r"Created TensorFlow Lite XNNPACK delegate|All log messages before absl::InitializeLog|"
    r"inference_feedback_manager\.cc|Feedback manager requires a model")
_NATIVE_LOCK = threading.Lock()


def _built_quietly(make):
    """make() builds a MediaPipe graph; it is run once on a blank frame while stderr is filtered,
    because the runtime starts its interpreters (and prints) on the graph's own threads, after
    the constructor has returned."""
    with _native_stderr_filtered():
        graph = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            graph.process(np.zeros((64, 64, 3), np.uint8))
    return graph


@contextlib.contextmanager
def _native_stderr_filtered():
    """Capture the process's fd 2 while a MediaPipe graph is built, then write back every line
    that is not known start-up chatter: anything else (a real native error, or a line another
    thread logged meanwhile) still reaches the terminal, only later."""
    with _NATIVE_LOCK, tempfile.TemporaryFile() as tmp:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable fd 2 (embedded interpreter): nothing to filter
            yield
            return
        try:
            os.dup2(tmp.fileno(), 2)
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not _NATIVE_CHATTER.search(ln)]
            if kept:
                os.write(2, "".join(kept).encode())


def _mp_solutions():
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mediapipe as mp
    except ImportError as exc:  # pragma: no cover - mediapipe is a hard dependency
        raise ModelError(f"MediaPipe is not installed ({exc}); reinstall Facsimile (pip install mediapipe==0.10.14)") from exc
    return mp.solutions


class MediaPipeDetector:
    """MediaPipe BlazeFace full-range detector, with the short-range model as a fallback.

    The full-range model (faces up to ~5 m, small in frame) misses some close-ups that fill the
    frame (e.g. shared stills/45-m7-di-ph.jpg: none at any score, 0.93 with the short-range
    model), so a frame where it finds nothing is tried with the short-range model. One graph
    per model per instance, reused across frames."""

    name = "mediapipe-face-detection-full-range"

    def __init__(self, min_score: float = 0.5, model_selection: int = 1, close_up_fallback: bool = True) -> None:
        self.min_score = float(min_score)
        self._graph = _built_quietly(lambda: _mp_solutions().face_detection.FaceDetection(
            model_selection=model_selection, min_detection_confidence=self.min_score))
        self._fallback = None
        self._use_fallback = bool(close_up_fallback) and model_selection == 1
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a frame, best first. kps: MediaPipe's right eye, left eye, nose tip; the
        mouth corners are not given by this model, so they are estimated from the mouth centre
        and the eye line (kps are only used for alignment hints)."""
        rgb = to_rgb8(image)
        h, w = rgb.shape[:2]
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # protobuf deprecation noise inside MediaPipe
            res = self._graph.process(rgb)
            if not res.detections and self._use_fallback:
                if self._fallback is None:
                    self._fallback = _built_quietly(lambda: _mp_solutions().face_detection.FaceDetection(
                        model_selection=0, min_detection_confidence=self.min_score))
                res = self._fallback.process(rgb)
        out: list[Detection] = []
        for d in res.detections or []:
            rb = d.location_data.relative_bounding_box
            box = np.array([rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h],
                           np.float32)
            kp6 = np.array([[k.x * w, k.y * h] for k in d.location_data.relative_keypoints], np.float32)
            kps = None
            if len(kp6) >= 4:
                reye, leye, nose, mouth = kp6[0], kp6[1], kp6[2], kp6[3]
                half = (leye - reye) * 0.4
                kps = np.stack([reye, leye, nose, mouth - half, mouth + half]).astype(np.float32)
            out.append(Detection(bbox=box, score=float(d.score[0]) if d.score else 0.0, kps=kps,
                                 extra={"mediapipe_keypoints": kp6}))
        out.sort(key=lambda d: -d.score)
        return out

    def close(self) -> None:
        self._graph.close()
        if self._fallback is not None:
            self._fallback.close()


def square_crop(box: np.ndarray, scale: float) -> tuple[float, float, float]:
    """(x0, y0, side) of a square of side scale*max(w, h) centred on box."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    side = max(x1 - x0, y1 - y0, 2.0) * scale
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - side / 2, cy - side / 2, side


def crop_square(rgb: np.ndarray, x0: float, y0: float, side: float, size: int) -> np.ndarray:
    """The square (x0, y0, side) of rgb resampled to size x size; outside the frame is black."""
    s = size / side
    m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float32)
    interp = cv2.INTER_AREA if s < 0.5 else cv2.INTER_LINEAR
    if interp == cv2.INTER_AREA:
        # warpAffine has no area filter: pre-shrink with resize on the clipped region instead
        h, w = rgb.shape[:2]
        xa, ya = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        xb, yb = min(int(np.ceil(x0 + side)), w), min(int(np.ceil(y0 + side)), h)
        if xb - xa >= 2 and yb - ya >= 2:
            k = max(1, int(1.0 / s / 1.5))
            small = cv2.resize(rgb[ya:yb, xa:xb], ((xb - xa) // k or 1, (yb - ya) // k or 1),
                               interpolation=cv2.INTER_AREA)
            sx, sy = (xb - xa) / small.shape[1], (yb - ya) / small.shape[0]
            m = np.array([[s * sx, 0, (xa - x0) * s], [0, s * sy, (ya - y0) * s]], np.float32)
            return cv2.warpAffine(small, m, (size, size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT)
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


class MediaPipeLandmarker:
    """MediaPipe Face Mesh (refine_landmarks=True, 478 points) on a square crop of the face.

    The crop is `crop_scale` times the box (detector box or the previous frame's landmark box)
    resampled to `crop_size` pixels; the mesh's own short-range detector confirms a face is in
    the crop, so a face that left the region returns None instead of a hallucinated mesh.
    Confidence is the fraction of the mesh inside the crop (MediaPipe's solution API does not
    expose the presence score)."""

    name = "mediapipe-face-mesh-478"
    n_points = 478

    def __init__(self, crop_scale: float = 1.9, crop_size: int = 256, min_score: float = 0.5) -> None:
        self.crop_scale = float(crop_scale)
        self.crop_size = int(crop_size)
        self._graph = _built_quietly(lambda: _mp_solutions().face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=min_score))
        self._lock = threading.Lock()

    def landmarks(self, image: np.ndarray, detection: Detection) -> tuple[np.ndarray, float] | None:
        """(478, 3) points in plate pixels and a confidence, or None when no face is in the crop."""
        rgb = image if (image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3) else to_rgb8(image)
        scale = float(detection.extra.get("crop_scale", self.crop_scale))
        x0, y0, side = square_crop(detection.bbox, scale)
        crop = crop_square(rgb, x0, y0, side, self.crop_size)
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = self._graph.process(crop)
        if not res.multi_face_landmarks:
            return None
        lm = res.multi_face_landmarks[0].landmark
        pts = np.array([(p.x, p.y, p.z) for p in lm], np.float32)
        inside = float(np.mean((pts[:, 0] >= 0) & (pts[:, 0] <= 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= 1)))
        pts *= np.float32(side)
        pts[:, 0] += np.float32(x0)
        pts[:, 1] += np.float32(y0)
        return pts, inside

    def close(self) -> None:
        self._graph.close()


class DlibEmbedder:
    """dlib's 128-D face descriptor (the face_recognition models), aligned by its 5-point model.

    Distances are Euclidean; two faces closer than 0.6 are the same person (dlib's published
    threshold, 99.38% on LFW)."""

    name = "dlib-resnet-128"
    dim = 128
    threshold = 0.6
    metric = "euclidean"

    def __init__(self) -> None:
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError as exc:
            raise ModelError(f"dlib or face_recognition_models is not installed ({exc}); "
                             "reinstall Facsimile (pip install dlib-bin face_recognition_models)") from exc
        try:
            self._sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
            self._net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        except RuntimeError as exc:
            raise ModelError(f"cannot load dlib face models from face_recognition_models: {exc}") from exc
        self._dlib = dlib
        self._lock = threading.Lock()

    def embed(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """(128,) float32 descriptor of the face in detection.bbox."""
        rgb = image if (image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3) else to_rgb8(image)
        x0, y0, x1, y1 = (int(round(float(v))) for v in detection.bbox[:4])
        rect = self._dlib.rectangle(x0, y0, x1, y1)
        with self._lock:
            shape = self._sp(rgb, rect)
            desc = self._net.compute_face_descriptor(rgb, shape, 0, 0.25)
            # Indexed, never iterated: numpy ends an iteration on dlib's IndexError, and dlib's
            # exception path takes the GIL with a thread state pybind11 cached on an earlier task
            # of the same pool thread, since freed: the studio crashed (segfault) making a
            # template from a frame after analysing a shot.
            return np.array([desc[i] for i in range(len(desc))], np.float32)


def embedding_distance(a: np.ndarray, b: np.ndarray, metric: str = "euclidean") -> float:
    """Distance between two embeddings under the embedder's metric."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if metric == "cosine":
        return float(1.0 - a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    return float(np.linalg.norm(a - b))
