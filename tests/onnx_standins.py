"""Builders of small stand-in ONNX graphs with the input/output signature of the real
models (names, ranks, dtypes), made of simple ops with known outputs, so tests can check
the adapters' plumbing: pre-processing, decoding, alignment and paste-back.

A stand-in is NOT the real model and is never installed into the model store: its sha256
matches no manifest, and tests load it by explicit path only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facsimile-standin")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def _const_outputs(input_name: str, input_shape: list, outputs: list[tuple[str, np.ndarray]]) -> onnx.GraphProto:
    """Graph whose outputs are constants plus 0 * mean(input) (so they depend on the input)."""
    nodes = [helper.make_node("ReduceMean", [input_name], ["in_mean"], keepdims=0),
             helper.make_node("Mul", ["in_mean", "zero"], ["in_zero"])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for i, (name, value) in enumerate(outputs):
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"const_{i}"))
        nodes.append(helper.make_node("Add", [f"const_{i}", "in_zero"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    inp = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)
    return helper.make_graph(nodes, "standin", [inp], outs, inits)


def scrfd_outputs(box: np.ndarray, kps: np.ndarray, score: float = 0.9, stride: int = 16,
                  input_size: int = 640, anchor: int = 0, extra: list[tuple] | None = None) -> list[np.ndarray]:
    """The 9 raw SCRFD outputs encoding a face (box and kps in *input* pixels) at the anchor
    cell nearest the box centre (anchor `anchor` of that cell). `extra` adds more faces as
    (box, kps, score, stride, anchor) tuples."""
    faces = [(box, kps, score, stride, anchor)] + list(extra or [])
    outs_s, outs_b, outs_k = [], [], []
    for s in (8, 16, 32):
        n = (input_size // s) ** 2 * 2
        scores = np.zeros((n, 1), np.float32)
        dist = np.zeros((n, 4), np.float32)
        koff = np.zeros((n, 10), np.float32)
        for fbox, fkps, fscore, fstride, fanchor in faces:
            if s != fstride:
                continue
            fbox = np.asarray(fbox, np.float64)
            cols = input_size // s
            ix, iy = int(round((fbox[0] + fbox[2]) / 2 / s)), int(round((fbox[1] + fbox[3]) / 2 / s))
            cx, cy = ix * s, iy * s
            a = (iy * cols + ix) * 2 + fanchor
            scores[a, 0] = fscore
            dist[a] = np.array([cx - fbox[0], cy - fbox[1], fbox[2] - cx, fbox[3] - cy]) / s
            koff[a] = ((np.asarray(fkps, np.float64) - [cx, cy]) / s).reshape(-1)
        outs_s.append(scores)
        outs_b.append(dist)
        outs_k.append(koff)
    return outs_s + outs_b + outs_k


def make_scrfd_standin(path: Path, box: np.ndarray, kps: np.ndarray, score: float = 0.9, stride: int = 16,
                       input_name: str = "input.1", output_names: list[str] | None = None,
                       extra: list[tuple] | None = None, batched: bool = False) -> Path:
    """SCRFD-signature graph (1x3x640x640 -> 9 outputs) that always reports the encoded
    face(s). batched=True gives outputs a leading batch axis, as some exports do."""
    names = output_names or ["448", "471", "494", "451", "474", "497", "454", "477", "500"]
    values = scrfd_outputs(np.asarray(box, np.float64), np.asarray(kps, np.float64), score, stride, extra=extra)
    if batched:
        values = [v[None] for v in values]
    return _save(_const_outputs(input_name, [1, 3, 640, 640], list(zip(names, values, strict=True))), path)


def gaussian_heatmaps(peaks: np.ndarray, size: int = 64, sigma: float = 1.5) -> np.ndarray:
    """(K, size, size) Gaussian heatmaps peaking (value 1) at sub-cell positions `peaks` (x, y)."""
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    px, py = peaks[:, 0][:, None, None], peaks[:, 1][:, None, None]
    return np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sigma**2)).astype(np.float32)


def make_fan68_standin(path: Path, peaks: np.ndarray, input_name: str = "input") -> Path:
    """2dfan4-signature graph (1x3x256x256 -> (1,68,3) landmarks, (1,68,64,64) heatmaps)
    emitting Gaussian heatmaps with peaks at `peaks` (68, 2) heatmap cells."""
    hm = gaussian_heatmaps(np.asarray(peaks, np.float64))[None]
    lm = np.concatenate([np.asarray(peaks, np.float32), np.ones((68, 1), np.float32)], 1)[None]
    return _save(_const_outputs(input_name, [1, 3, 256, 256], [("landmarks", lm), ("heatmaps", hm)]), path)


def arcface_standin_weights(seed: int = 3) -> np.ndarray:
    """The (192, 512) projection the ArcFace stand-in applies to its 8x8-pooled input."""
    return np.random.default_rng(seed).standard_normal((192, 512)).astype(np.float32)


def make_arcface_standin(path: Path, input_name: str = "input.1", output_name: str = "683", seed: int = 3) -> Path:
    """ArcFace-signature graph (1x3x112x112 -> 1x512): 14x14 average pool to 3x8x8, flatten,
    fixed random projection. Its output depends on the aligned crop's layout and values."""
    w = arcface_standin_weights(seed)
    nodes = [
        helper.make_node("AveragePool", [input_name], ["pooled"], kernel_shape=[14, 14], strides=[14, 14]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "proj"], [output_name]),
    ]
    graph = helper.make_graph(
        nodes, "arcface_standin",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [1, 512])],
        [numpy_helper.from_array(w, "proj")])
    return _save(graph, path)


def make_restorer_standin(path: Path, size: int = 512, weight_input: str | None = None,
                          weight_dtype: int = TensorProto.DOUBLE, constant_from_weight: bool = False) -> Path:
    """Restorer-signature graph (1x3xSxS [, weight (1,)] -> 1x3xSxS).

    Default: identity (output = input). With `weight_input` (CodeFormer's fidelity) the
    weight is consumed; with constant_from_weight the output is the constant 2w - 1
    everywhere, so the de-normalised crop is w * 255 and the fed weight can be checked."""
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])]
    inits = []
    if weight_input is None:
        nodes = [helper.make_node("Identity", ["input"], ["output"])]
    else:
        inputs.append(helper.make_tensor_value_info(weight_input, weight_dtype, [1]))
        inits += [numpy_helper.from_array(np.zeros((), np.float32), "zero"),
                  numpy_helper.from_array(np.array(2.0, np.float32), "two"),
                  numpy_helper.from_array(np.array(1.0, np.float32), "one")]
        nodes = [helper.make_node("Cast", [weight_input], ["w"], to=TensorProto.FLOAT)]
        if constant_from_weight:
            nodes += [helper.make_node("Mul", ["input", "zero"], ["in0"]),
                      helper.make_node("Mul", ["w", "two"], ["w2"]),
                      helper.make_node("Sub", ["w2", "one"], ["w21"]),
                      helper.make_node("Add", ["in0", "w21"], ["output"])]
        else:
            nodes += [helper.make_node("Mul", ["w", "zero"], ["w0"]),
                      helper.make_node("Add", ["input", "w0"], ["output"])]
    graph = helper.make_graph(nodes, "restorer_standin", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])], inits)
    return _save(graph, path)


def make_occluder_standin(path: Path, size: int = 256, layout: str = "NHWC", kind: str = "face_probability",
                          input_name: str = "input", output_name: str = "output", classes: int = 19,
                          occluder_class: int = 18) -> Path:
    """Occluder-signature graph that marks GREEN pixels as occluder: greenness
    g = clip((G - max(R, B) - 0.3) * 10, 0, 1) of the 0..1 input (G is channel 1 in RGB and in
    BGR order alike), everything else is face.

    kind face_probability: 1 - g, shaped (1,S,S,1) for NHWC (FaceFusion's xseg) or (1,1,S,S)
    for NCHW (VisoMaster's XSeg); face_logit: (1 - g) - 0.5 (> 0 = face); class_logits: a
    BiSeNet-signature (1,3,S,S) -> (1,`classes`,S,S) graph whose skin class (1) scores 1 - g,
    `occluder_class` scores g and all others -0.5, so argmax is skin or the occluder class."""
    axis = 3 if layout == "NHWC" else 1
    in_shape = [1, size, size, 3] if layout == "NHWC" else [1, 3, size, size]
    inits = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
             (("s0", [0]), ("s1", [1]), ("s2", [2]), ("s3", [3]), ("ax", [axis]))]
    inits += [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in
              (("thr", 0.3), ("gain", 10.0), ("lo", 0.0), ("hi", 1.0), ("one", 1.0), ("half", 0.5), ("zero", 0.0))]
    nodes = [helper.make_node("Slice", [input_name, "s0", "s1", "ax"], ["c0"]),
             helper.make_node("Slice", [input_name, "s1", "s2", "ax"], ["c1"]),
             helper.make_node("Slice", [input_name, "s2", "s3", "ax"], ["c2"]),
             helper.make_node("Max", ["c0", "c2"], ["rb"]),
             helper.make_node("Sub", ["c1", "rb"], ["gd"]),
             helper.make_node("Sub", ["gd", "thr"], ["gt"]),
             helper.make_node("Mul", ["gt", "gain"], ["gs"]),
             helper.make_node("Clip", ["gs", "lo", "hi"], ["occ"]),
             helper.make_node("Sub", ["one", "occ"], ["face"])]
    if kind == "face_probability":
        nodes.append(helper.make_node("Identity", ["face"], [output_name]))
        out_shape = [1, size, size, 1] if layout == "NHWC" else [1, 1, size, size]
    elif kind == "face_logit":
        nodes.append(helper.make_node("Sub", ["face", "half"], [output_name]))
        out_shape = [1, size, size, 1] if layout == "NHWC" else [1, 1, size, size]
    elif kind == "class_logits":
        if layout != "NCHW":
            raise ValueError("the class-logits stand-in is NCHW (BiSeNet's layout)")
        nodes += [helper.make_node("Mul", ["face", "zero"], ["z"]),
                  helper.make_node("Sub", ["z", "half"], ["other"])]
        chans = ["other"] * classes
        chans[1], chans[occluder_class] = "face", "occ"
        nodes.append(helper.make_node("Concat", chans, [output_name], axis=1))
        out_shape = [1, classes, size, size]
    else:
        raise ValueError(f"unknown stand-in kind {kind!r}")
    used = {i for n in nodes for i in n.input}
    inits = [t for t in inits if t.name in used]
    graph = helper.make_graph(nodes, "occluder_standin",
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_shape)], inits)
    return _save(graph, path)


def manifests_with_test_entry(folder: Path, entry_toml: str) -> Path:
    """`folder` made a manifests folder: copies of the shipped manifests plus `entry_toml` (one
    test-only [[model]] entry describing a stand-in by its own hash) in zz_test_only.toml; point
    FACSIMILE_MANIFESTS at it. The shipped manifests never list a stand-in."""
    import textwrap

    from core.runtime import registry

    folder.mkdir()
    for f in registry.manifests_dir().glob("*.toml"):
        (folder / f.name).write_text(f.read_text())
    (folder / "zz_test_only.toml").write_text(textwrap.dedent(entry_toml))
    return folder
