"""ArcFace identity embedder (InsightFace w600k_r50): 5-point similarity alignment onto the
112x112 arcface template, RGB, (x - 127.5) / 127.5, 512-D output L2-normalised.

Distance is cosine distance, 1 - a.b, in 0..2. Two faces count as the same person below
0.6 (FaceFusion's default reference-face distance; equivalently cosine similarity above 0.4;
InsightFace's own verification thresholds on w600k_r50 sit near similarity 0.3-0.4)."""

from __future__ import annotations

import os

import numpy as np

from core.analysis.interfaces import Detection
from core.errors import NoFaceError
from core.runtime.adapters import open_model, ort_dtype, to_blob
from core.runtime.align import warp_face
from core.runtime.registry import ModelStore

SAME_PERSON_COSINE_DISTANCE = 0.6


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cosine similarity of two embeddings (normalised here, so raw vectors work too)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


class ArcFaceEmbedder:
    """Embedder protocol over an ArcFace ONNX graph (1x3x112x112 -> 1x512)."""

    metric = "cosine"

    def __init__(self, path: str | os.PathLike[str] | None = None, *, model_id: str = "arcface_w600k_r50",
                 store: ModelStore | None = None, threshold: float = SAME_PERSON_COSINE_DISTANCE,
                 device: str | None = None) -> None:
        self.manifest, self.runner = open_model(model_id, path, store, device)
        self.name = model_id
        self.threshold = float(threshold)
        self.size = int((self.manifest.input_size or (112, 112))[0])
        self.template = self.manifest.template or "arcface_112"
        norm = self.manifest.normalisation
        self.mean = np.asarray(norm.get("mean", [127.5] * 3), np.float32)
        self.std = np.asarray(norm.get("std", [127.5] * 3), np.float32)
        self.dtype = ort_dtype(self.runner.inputs[0].type)
        out_shape = self.runner.outputs[0].shape
        self.dim = int(out_shape[-1]) if isinstance(out_shape[-1], int) else 512

    def preprocess(self, image: np.ndarray, kps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(blob 1x3x112x112, aligned crop uint8) for the face with key points `kps`."""
        crop, _ = warp_face(image, kps, self.template, self.size)
        return to_blob(crop, self.mean, self.std, self.dtype), crop

    def embed(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """L2-normalised embedding (dim,) float32 of the detected face."""
        if detection.kps is None:
            raise NoFaceError(f"{self.name} needs the face's 5 key points to align it; this detection has none "
                              "(use a detector that gives key points, e.g. SCRFD or MediaPipe)")
        blob, _ = self.preprocess(image, np.asarray(detection.kps))
        emb = np.asarray(self.runner.run({self.runner.input_names[0]: blob})[0], np.float32).reshape(-1)
        norm = float(np.linalg.norm(emb))
        if not np.isfinite(norm) or norm <= 0:
            raise NoFaceError(f"{self.name} gave an empty embedding for this face")
        return emb / norm

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Cosine distance; below self.threshold means the same person."""
        return cosine_distance(a, b)
