"""Face occlusion adapters: XSeg occluders (FaceFusion xseg_1/2/3, VisoMaster's XSeg_model and
occluder) and BiSeNet face parsers (bisenet_resnet_34, faceparser_resnet34).

Each takes the 5-point aligned crop of the face at the model's size (template from the
manifest), in the channel order, layout (NHWC or NCHW, read from the file) and normalisation
the manifest names, runs the network and turns its output into a face mask of the crop
(1 = the face's own skin and features, 0 = something in front of it). The mask is feathered
as FaceFusion does (a Gaussian, then only values above one half kept, so the occluder itself
stays exactly 0 and the ramp lies on the face side), faded out toward the crop border (no
information beyond it) and mapped back to a full-frame (H, W) float32 mask that is 1 outside
the crop. The render multiplies its face matte by it: a hand in front of the face stays plate.
"""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np

from core.errors import ModelError
from core.runtime.adapters import open_model, ort_dtype
from core.runtime.align import box_mask, warp_face
from core.runtime.registry import ModelStore

log = logging.getLogger("facsimile.runtime")

OUTPUT_KINDS = ("face_probability", "face_logit", "class_logits")


def _dims(shape: object) -> list:
    return list(shape) if isinstance(shape, (list, tuple)) else []


class OnnxOccluder:
    """Occluder over an XSeg / occluder / BiSeNet ONNX graph (manifest family "occluder")."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, model_id: str = "xseg_1",
                 store: ModelStore | None = None, feather: float | None = None, border: float = 0.1,
                 device: str | None = None) -> None:
        self.manifest, self.runner = open_model(model_id, path, store, device)
        m = self.manifest
        if m.family != "occluder":
            raise ModelError(f"{model_id} is a {m.family}, not an occluder / face parser")
        self.name = model_id
        self.template = m.template or "arcface_128"
        self.kind = m.output_kind or ("class_logits" if m.face_classes else "face_probability")
        if self.kind not in OUTPUT_KINDS:
            raise ModelError(f"{model_id}: output_kind {self.kind!r} is not one of {', '.join(OUTPUT_KINDS)}")
        self.face_classes = tuple(int(c) for c in m.face_classes)
        if self.kind == "class_logits" and not self.face_classes:
            raise ModelError(f"{model_id}: a face parser's manifest must list its face_classes")
        inp = self.runner.inputs[0]
        shape = _dims(inp.shape)
        declared = _dims(m.inputs[0].shape) if m.inputs else []
        norm = m.normalisation
        self.layout = self._layout(shape, declared, str(norm.get("layout", "NCHW")).upper())
        spatial = shape[1:3] if self.layout == "NHWC" else shape[2:4]
        size = (m.input_size or (256, 256))[0]
        if len(spatial) == 2 and all(isinstance(v, int) and v > 0 for v in spatial):
            if spatial[0] != size:
                log.warning("%s: the file's input is %d px, the manifest says %d; using the file's",
                            model_id, spatial[0], size)
            size = spatial[0]
        self.size = int(size)
        self.mean = np.asarray(norm.get("mean", [0.0] * 3), np.float32)
        self.std = np.asarray(norm.get("std", [255.0] * 3), np.float32)
        self.channels = str(norm.get("channels", "RGB")).upper()
        self.dtype = ort_dtype(inp.type)
        # FaceFusion blurs its 256 px masks with sigma 5: the same share of the crop at any size
        self.feather = float(feather) if feather is not None else 5.0 * self.size / 256.0
        self._border = box_mask(self.size, border) if border > 0 else np.ones((self.size, self.size), np.float32)

    @staticmethod
    def _layout(shape: list, declared: list, fallback: str) -> str:
        for dims in (shape, declared):
            if len(dims) == 4:
                if dims[-1] == 3 and dims[1] != 3:
                    return "NHWC"
                if dims[1] == 3:
                    return "NCHW"
        return "NHWC" if fallback == "NHWC" else "NCHW"

    # -- one crop -----------------------------------------------------------------------
    def preprocess(self, crop_rgb: np.ndarray) -> np.ndarray:
        """Aligned uint8 RGB crop -> the network's input blob (channel order, normalisation, layout)."""
        x = crop_rgb[..., ::-1] if self.channels == "BGR" else crop_rgb
        x = (x.astype(np.float32) - self.mean) / self.std
        x = x[None] if self.layout == "NHWC" else x.transpose(2, 0, 1)[None]
        return np.ascontiguousarray(x).astype(self.dtype, copy=False)

    def raw_mask(self, crop_rgb: np.ndarray) -> np.ndarray:
        """The network's face mask of an aligned crop, (S, S) float32 in 0..1, not feathered."""
        out = np.asarray(self.runner.run({self.runner.input_names[0]: self.preprocess(crop_rgb)})[0], np.float32)
        out = out[0] if out.ndim == 4 else out
        if self.kind == "class_logits":
            if out.ndim != 3:
                raise ModelError(f"{self.name}: expected class logits (C, H, W), got shape {out.shape}")
            if out.shape[0] < out.shape[-1] or out.shape[-1] <= max(self.face_classes):  # (C, H, W)
                labels = out.argmax(0)
            else:  # (H, W, C)
                labels = out.argmax(-1)
            mask = np.isin(labels, self.face_classes).astype(np.float32)
        else:
            mask = np.squeeze(out)
            if mask.ndim != 2:
                raise ModelError(f"{self.name}: expected a one-channel mask, got shape {out.shape}")
            mask = (mask > 0).astype(np.float32) if self.kind == "face_logit" else np.clip(mask, 0.0, 1.0)
        if mask.shape != (self.size, self.size):
            mask = cv2.resize(mask, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        return mask.astype(np.float32)

    def crop_mask(self, crop_rgb: np.ndarray) -> np.ndarray:
        """Feathered face mask of an aligned crop (1 = face, 0 = occluder), faded to 1 at the border."""
        mask = self.raw_mask(crop_rgb)
        if self.feather > 0:
            mask = (np.clip(cv2.GaussianBlur(mask, (0, 0), self.feather), 0.5, 1.0) - 0.5) * 2.0
        occluded = (1.0 - mask) * self._border
        return (1.0 - occluded).astype(np.float32)

    # -- the frame ----------------------------------------------------------------------
    def face_mask(self, frame_rgb: np.ndarray, kps5: np.ndarray) -> np.ndarray:
        """(H, W) float32 mask of the frame: 0 where something covers the face at `kps5`, 1 on the
        visible face and everywhere outside the aligned crop."""
        if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[2] < 3:
            raise ValueError(f"{self.name}: expected an HxWx3 uint8 RGB frame, got {frame_rgb.dtype} {frame_rgb.shape}")
        h, w = frame_rgb.shape[:2]
        crop, matrix = warp_face(np.ascontiguousarray(frame_rgb[..., :3]), kps5, self.template, self.size)
        occluded = 1.0 - self.crop_mask(crop)
        out = np.ones((h, w), np.float32)
        if not occluded.any():
            return out
        inv = cv2.invertAffineTransform(matrix)
        s = self.size
        corners = np.array([[0, 0], [s, 0], [s, s], [0, s]], np.float64) @ inv[:, :2].T + inv[:, 2]
        x0, y0 = (int(max(0, np.floor(corners[:, i].min()) - 1)) for i in (0, 1))
        x1 = int(min(w, np.ceil(corners[:, 0].max()) + 2))
        y1 = int(min(h, np.ceil(corners[:, 1].max()) + 2))
        if x1 <= x0 or y1 <= y0:
            return out
        inv_roi = inv.copy()
        inv_roi[:, 2] -= (x0, y0)
        back = cv2.warpAffine(occluded, inv_roi, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out[y0:y1, x0:x1] = 1.0 - np.clip(back, 0.0, 1.0)
        return out


def occluder_ids(store: ModelStore | None = None) -> list[str]:
    """Every occluder / face parser the manifests know, installed or not, in preference order."""
    store = store or ModelStore()
    return [m.id for m in store.manifests if m.family == "occluder"]


def available_occluders(store: ModelStore | None = None) -> list[str]:
    """Occluders whose file is installed and verifies, in manifest (preference) order."""
    store = store or ModelStore()
    return [m.id for m in store.manifests
            if m.family == "occluder" and m.adapter and store.status(m) == "installed" and store.verify(m).ok]


def load_occluder(name: str, store: ModelStore | None = None, **options) -> OnnxOccluder:
    """The occluder `name` (e.g. xseg_3, bisenet_resnet_34) from the verified store. ModelError
    (one clear line) when it is unknown, not an occluder, missing or damaged."""
    store = store or ModelStore()
    m = store.manifest(name)
    if m.family != "occluder":
        raise ModelError(f"{name} is a {m.family}, not an occluder; occluders: {', '.join(occluder_ids(store))}")
    store.find(name)
    return OnnxOccluder(model_id=name, store=store, **options)
