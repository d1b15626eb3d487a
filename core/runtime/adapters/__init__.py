"""Adapters: pre- and post-processing for each ONNX model family, so a model file plugs into
the analysis pipeline (Detector, Landmarker, Embedder protocols) or the render stage
(Restorer). Each adapter opens its model either from the verified model store (by id) or
from an explicit path (tests use small stand-in graphs this way; a stand-in is never
registered in the store)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.runtime.onnx import OnnxRunner
from core.runtime.registry import ModelManifest, ModelStore

_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
}


def ort_dtype(type_string: str) -> type:
    """numpy dtype for an onnxruntime NodeArg.type string (float32 when unknown)."""
    return _ORT_DTYPES.get(type_string, np.float32)


def open_model(model_id: str, path: str | os.PathLike[str] | None = None, store: ModelStore | None = None,
               device: str | None = None) -> tuple[ModelManifest, OnnxRunner]:
    """The manifest of `model_id` and a runner for its file: the verified store file, or
    `path` when given (the manifest still supplies sizes and normalisation)."""
    store = store or ModelStore()
    manifest = store.manifest(model_id)
    file = Path(path) if path is not None else store.find(model_id)
    label = model_id if path is None else f"{model_id} ({Path(file).name})"
    return manifest, OnnxRunner.open(file, label=label, device=device)


def to_blob(image: np.ndarray, mean: float | np.ndarray, std: float | np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """HxWx3 uint8 RGB -> 1x3xHxW, (x - mean) / std."""
    x = (image.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]).astype(dtype, copy=False)
