"""Face restoration adapters: GPEN-BFR 512/1024/2048, GFPGAN 1.4, CodeFormer.

Each takes the FFHQ 5-point aligned crop at the model's size, RGB, (x/255 - 0.5) / 0.5,
runs the network, de-normalises its [-1, 1] output and pastes the crop back into the frame
with a feathered box mask and a blend `strength` (0 = untouched, 1 = fully restored).
CodeFormer has a second input, the fidelity weight w (0..1; higher keeps closer to the
input). `load_restorer` raises ModelError when the model is not installed, so the render
stage can switch itself off and say so.
"""

from __future__ import annotations

import logging
import os
from typing import Protocol, runtime_checkable

import numpy as np

from core.errors import ModelError
from core.runtime.adapters import open_model, ort_dtype, to_blob
from core.runtime.align import box_mask, paste_back, warp_face
from core.runtime.registry import ModelStore

log = logging.getLogger("facsimile.runtime")


@runtime_checkable
class Restorer(Protocol):
    """Restores the face at the given 5 key points in an RGB uint8 frame."""

    name: str
    size: int
    strength: float

    def restore(self, frame_rgb: np.ndarray, kps5: np.ndarray) -> np.ndarray: ...


class OnnxRestorer:
    """Restorer over a GPEN / GFPGAN / CodeFormer ONNX graph."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, model_id: str = "gfpgan_1.4",
                 store: ModelStore | None = None, strength: float = 1.0, fidelity: float = 0.7,
                 mask_blur: float = 0.3, device: str | None = None) -> None:
        self.manifest, self.runner = open_model(model_id, path, store, device)
        if self.manifest.family != "restorer":
            raise ModelError(f"{model_id} is a {self.manifest.family}, not a face restorer")
        self.name = model_id
        self.strength = float(np.clip(strength, 0.0, 1.0))
        self.fidelity = float(np.clip(fidelity, 0.0, 1.0))
        self.mask_blur = float(mask_blur)
        self.template = self.manifest.template or "ffhq_512"
        shape = self.runner.inputs[0].shape
        declared = (self.manifest.input_size or (512, 512))[0]
        self.size = int(shape[-1]) if isinstance(shape[-1], int) else int(declared)
        if self.size != declared:
            log.warning("%s: the file's input is %d px, the manifest says %d; using the file's", model_id, self.size, declared)
        norm = self.manifest.normalisation
        self.mean = np.asarray(norm.get("mean", [127.5] * 3), np.float32)
        self.std = np.asarray(norm.get("std", [127.5] * 3), np.float32)
        self.dtype = ort_dtype(self.runner.inputs[0].type)
        self.extra_inputs = [(i.name, ort_dtype(i.type), i.shape) for i in self.runner.inputs[1:]]
        self._mask = box_mask(self.size, self.mask_blur)

    def restore_crop(self, crop: np.ndarray) -> np.ndarray:
        """Run the network on an aligned uint8 RGB crop; returns the restored uint8 crop."""
        feeds = {self.runner.input_names[0]: to_blob(crop, self.mean, self.std, self.dtype)}
        for name, dtype, shape in self.extra_inputs:  # CodeFormer's fidelity weight
            rank = len(shape) if shape else 1
            feeds[name] = np.full((1,) * max(rank, 1), self.fidelity, dtype=dtype)
        out = np.asarray(self.runner.run(feeds)[0], np.float32)[0]
        out = np.clip(out, -1.0, 1.0).transpose(1, 2, 0)
        out = out * self.std + self.mean  # back to 0..255
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def restore(self, frame_rgb: np.ndarray, kps5: np.ndarray, strength: float | None = None) -> np.ndarray:
        """The frame with the face at `kps5` restored and blended back (a new array)."""
        if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
            raise ValueError(f"{self.name}: expected an HxWx3 uint8 RGB frame, got {frame_rgb.dtype} {frame_rgb.shape}")
        s = self.strength if strength is None else float(np.clip(strength, 0.0, 1.0))
        if s <= 0.0:
            return frame_rgb.copy()
        crop, m = warp_face(frame_rgb, kps5, self.template, self.size)
        restored = self.restore_crop(crop)
        return paste_back(frame_rgb, restored, self._mask, m, s)


def restorer_ids(store: ModelStore | None = None) -> list[str]:
    """Every restorer the manifests know, installed or not."""
    store = store or ModelStore()
    return [m.id for m in store.manifests if m.family == "restorer"]


def available_restorers(store: ModelStore | None = None) -> list[str]:
    """Restorers whose file is installed and verifies (published hash, or accepted unverified)."""
    store = store or ModelStore()
    out = []
    for m in store.manifests:
        if m.family == "restorer" and store.status(m) == "installed" and store.verify(m).ok:
            out.append(m.id)
    return out


def load_restorer(name: str, store: ModelStore | None = None, **options) -> OnnxRestorer:
    """The restorer `name` (e.g. gfpgan_1.4, gpen_bfr_512, codeformer) from the verified store.
    ModelError (one clear line) when it is unknown, not a restorer, missing or damaged."""
    store = store or ModelStore()
    m = store.manifest(name)
    if m.family != "restorer":
        raise ModelError(f"{name} is a {m.family}, not a face restorer; restorers: {', '.join(restorer_ids(store))}")
    store.find(name)  # raises the clear missing / mismatch message
    return OnnxRestorer(model_id=name, store=store, **options)
