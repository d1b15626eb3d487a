"""RetinaFace (FaceFusion's retinaface_10g export) detector adapter. That export has the
same output layout as SCRFD (scores, distance boxes and 5 key points at strides 8/16/32,
2 anchors) and FaceFusion decodes both the same way, so this is the SCRFD decoder with the
RetinaFace manifest."""

from __future__ import annotations

import os

from core.runtime.adapters.scrfd import ScrfdDetector
from core.runtime.registry import ModelStore


class RetinaFaceDetector(ScrfdDetector):
    """Detector protocol over retinaface_10g.onnx."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, model_id: str = "retinaface_10g",
                 store: ModelStore | None = None, score_threshold: float = 0.5, nms_threshold: float = 0.4,
                 input_size: int | None = None, device: str | None = None) -> None:
        super().__init__(path, model_id=model_id, store=store, score_threshold=score_threshold,
                         nms_threshold=nms_threshold, input_size=input_size, device=device)
