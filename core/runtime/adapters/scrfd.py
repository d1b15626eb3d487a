"""SCRFD face detector adapter (InsightFace det_10g / scrfd_2.5g), decoded as InsightFace
does: letterbox into a square input (top-left, zero padding), (x - 127.5) / 128 on RGB,
three strides (8, 16, 32) with 2 anchors per cell, distance-to-box and distance-to-key-point
offsets scaled by the stride, score threshold, then NMS."""

from __future__ import annotations

import os

import cv2
import numpy as np

from core.analysis.interfaces import Detection
from core.runtime.adapters import open_model, ort_dtype, to_blob
from core.runtime.registry import ModelStore

STRIDES = (8, 16, 32)
NUM_ANCHORS = 2


def anchor_centers(height: int, width: int, stride: int, num_anchors: int = NUM_ANCHORS) -> np.ndarray:
    """(height*width*num_anchors, 2) anchor centres (x, y) in input pixels, row-major, each
    cell repeated num_anchors times (InsightFace's layout)."""
    ys, xs = np.mgrid[:height, :width]
    centers = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centers, num_anchors, axis=0)


def distance2bbox(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Boxes (x0, y0, x1, y1) from centres and (left, top, right, bottom) distances."""
    return np.stack([points[:, 0] - distance[:, 0], points[:, 1] - distance[:, 1],
                     points[:, 0] + distance[:, 2], points[:, 1] + distance[:, 3]], axis=-1)


def distance2kps(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """(N, K, 2) key points from centres and per-point (dx, dy) offsets."""
    d = distance.reshape(len(distance), distance.shape[-1] // 2, 2)
    return points[:, None, :] + d


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices kept, best first."""
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        xx0 = np.maximum(x0[i], x0[order[1:]])
        yy0 = np.maximum(y0[i], y0[order[1:]])
        xx1 = np.minimum(x1[i], x1[order[1:]])
        yy1 = np.minimum(y1[i], y1[order[1:]])
        inter = np.maximum(0.0, xx1 - xx0 + 1) * np.maximum(0.0, yy1 - yy0 + 1)
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][iou <= threshold]
    return keep


class ScrfdDetector:
    """Detector protocol over an SCRFD-style ONNX graph (9 outputs: scores, boxes, key
    points for strides 8/16/32, bound by position)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, model_id: str = "scrfd_10g",
                 store: ModelStore | None = None, score_threshold: float = 0.5, nms_threshold: float = 0.4,
                 input_size: int | None = None, device: str | None = None) -> None:
        self.manifest, self.runner = open_model(model_id, path, store, device)
        self.name = model_id
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.input_size = int(input_size or (self.manifest.input_size or (640, 640))[0])
        norm = self.manifest.normalisation
        self.mean = np.asarray(norm.get("mean", [127.5] * 3), np.float32)
        self.std = np.asarray(norm.get("std", [128.0] * 3), np.float32)
        self.dtype = ort_dtype(self.runner.inputs[0].type)
        n = len(self.runner.outputs)
        if n not in (6, 9):
            raise ValueError(f"{model_id}: expected 6 or 9 outputs (3 strides x score/box[/kps]), the file has {n}")
        self.use_kps = n == 9

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Letterbox `image` (RGB uint8) into the square input; returns (blob, scale)."""
        h, w = image.shape[:2]
        size = self.input_size
        if h / w > 1.0:
            new_h, new_w = size, max(1, int(round(size * w / h)))
        else:
            new_w, new_h = size, max(1, int(round(size * h / w)))
        scale = new_h / h
        canvas = np.zeros((size, size, 3), np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        return to_blob(canvas, self.mean, self.std, self.dtype), scale

    def decode(self, outputs: list[np.ndarray], scale: float) -> list[Detection]:
        """Raw outputs -> detections in the original image's pixels."""
        size = self.input_size
        all_boxes, all_scores, all_kps = [], [], []
        for i, stride in enumerate(STRIDES):
            scores = np.asarray(outputs[i], np.float32).reshape(-1)
            boxes = np.asarray(outputs[i + 3], np.float32).reshape(-1, 4) * stride
            fh, fw = -(-size // stride), -(-size // stride)
            centers = anchor_centers(fh, fw, stride, max(1, len(scores) // (fh * fw)))
            if len(centers) != len(scores):
                raise ValueError(f"{self.name}: stride {stride} has {len(scores)} scores, expected {len(centers)}")
            pos = np.where(scores >= self.score_threshold)[0]
            all_scores.append(scores[pos])
            all_boxes.append(distance2bbox(centers[pos], boxes[pos]))
            if self.use_kps:
                kps = np.asarray(outputs[i + 6], np.float32).reshape(len(scores), -1) * stride
                all_kps.append(distance2kps(centers[pos], kps[pos]))
        scores = np.concatenate(all_scores)
        if scores.size == 0:
            return []
        boxes = np.concatenate(all_boxes) / scale
        kps = np.concatenate(all_kps) / scale if self.use_kps else None
        keep = nms(boxes, scores, self.nms_threshold)
        return [Detection(bbox=boxes[k].astype(np.float32), score=float(scores[k]),
                          kps=None if kps is None else kps[k].astype(np.float32), extra={"model": self.name})
                for k in keep]

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 frame, best first."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{self.name}: expected an HxWx3 RGB image, got shape {image.shape}")
        blob, scale = self.preprocess(image)
        outs = self.runner.run({self.runner.input_names[0]: blob})
        return self.decode(outs, scale)
