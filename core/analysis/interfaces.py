"""Small interfaces the analysis pipeline is built on, so other models plug in.

The embedded defaults (MediaPipe, dlib) and the ONNX adapters (SCRFD, RetinaFace, 2dfan4,
ArcFace) all implement these. Images are uint8 RGB, HxWx3, in plate pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class Detection:
    """One detected face: box (x0, y0, x1, y1) in pixels, score 0..1, and five key points
    (subject's right eye, left eye, nose tip, right mouth corner, left mouth corner; the
    order InsightFace's kps use) in pixels, or None when the detector gives none."""

    bbox: np.ndarray
    score: float
    kps: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


@runtime_checkable
class Detector(Protocol):
    """Finds faces in a frame."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...


@runtime_checkable
class Landmarker(Protocol):
    """Dense landmarks for one face given its detection (or a previous frame's landmarks).

    Returns (points, confidence): points (N, 3) float32 in pixels (z in pixel units), or
    None when no face is found in the region."""

    name: str
    n_points: int

    def landmarks(self, image: np.ndarray, detection: Detection) -> tuple[np.ndarray, float] | None: ...


@runtime_checkable
class Embedder(Protocol):
    """Identity embedding of one face; distance between embeddings measures identity."""

    name: str
    dim: int
    threshold: float  # distance below which two faces are the same person
    metric: str  # "euclidean" or "cosine"

    def embed(self, image: np.ndarray, detection: Detection) -> np.ndarray: ...
