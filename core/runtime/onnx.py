"""ONNX Runtime session factory: execution providers TensorRT -> CUDA -> CPU as available,
a TensorRT engine cache under cache_dir()/trt, one INFO line per model naming the provider
that actually runs it, and a small runner that uses IO binding on CUDA.

Environment:
  FACSIMILE_DEVICE=cpu        force the CPU provider (also `cuda`, `tensorrt`, `auto`)
  FACSIMILE_GPU=N             CUDA device id (default 0)
  FACSIMILE_TRT_FP16=1        let TensorRT build fp16 engines (off by default: colour accuracy)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ModelError
from core.paths import cache_dir

log = logging.getLogger("facsimile.runtime")

TRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - onnxruntime is a hard dependency
        raise ModelError("onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu)") from exc
    return onnxruntime


def requested_device() -> str:
    """The device asked for by FACSIMILE_DEVICE: auto (default), cpu, cuda or tensorrt."""
    value = os.environ.get("FACSIMILE_DEVICE", "auto").strip().lower() or "auto"
    if value not in ("auto", "cpu", "cuda", "tensorrt", "trt"):
        raise ModelError(f"FACSIMILE_DEVICE={value!r} is not understood: use auto, cpu, cuda or tensorrt")
    return "tensorrt" if value == "trt" else value


def trt_cache_dir() -> Path:
    """Where TensorRT engines and timing caches are kept (safe to delete; rebuilt on demand)."""
    return cache_dir() / "trt"


def provider_options(name: str) -> dict[str, Any]:
    """Options for one execution provider."""
    device_id = int(os.environ.get("FACSIMILE_GPU", "0") or 0)
    if name == TRT:
        cache = trt_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        return {
            "device_id": device_id,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache),
            "trt_fp16_enable": os.environ.get("FACSIMILE_TRT_FP16", "0") == "1",
            "trt_max_workspace_size": 4 << 30,
        }
    if name == CUDA:
        return {
            "device_id": device_id,
            "arena_extend_strategy": "kSameAsRequested",
            "cudnn_conv_algo_search": "HEURISTIC",
            "do_copy_in_default_stream": True,
        }
    return {}


def select_providers(device: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Providers in preference order (TensorRT -> CUDA -> CPU) among those this
    onnxruntime build offers, each with its options. `device` overrides FACSIMILE_DEVICE."""
    device = (device or requested_device()).lower()
    available = set(_ort().get_available_providers())
    if device == "cpu":
        order = [CPU]
    elif device == "cuda":
        order = [CUDA, CPU]
    else:  # auto / tensorrt
        order = [TRT, CUDA, CPU]
    chosen = [p for p in order if p in available or p == CPU]
    if device in ("cuda", "tensorrt") and chosen == [CPU]:
        log.warning("FACSIMILE_DEVICE=%s asked for a GPU but this onnxruntime offers only %s; using the CPU",
                    device, ", ".join(sorted(available)))
    return [(p, provider_options(p)) for p in chosen]


def create_session(path: str | os.PathLike[str], *, label: str | None = None, device: str | None = None,
                   threads: int = 0) -> Any:
    """An onnxruntime.InferenceSession for `path` on the best available provider.

    Logs one INFO line naming the model and the provider that actually runs it. A file
    that onnxruntime cannot load raises ModelError naming it."""
    ort = _ort()
    path = Path(path)
    label = label or path.name
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    providers = select_providers(device)
    try:
        session = ort.InferenceSession(
            str(path), sess_options=opts, providers=[p for p, _ in providers],
            provider_options=[o for _, o in providers],
        )
    except Exception as exc:  # onnxruntime raises several private exception types
        raise ModelError(f"cannot load model {label} from {path}: {exc}") from exc
    actual = session.get_providers()[0]
    wanted = providers[0][0]
    note = "" if actual == wanted else f" (asked for {wanted}; it fell back)"
    log.info("model %s runs on %s%s", label, actual, note)
    return session


class OnnxRunner:
    """A session plus a `run(feeds)` that uses IO binding when a GPU provider runs it
    (outputs stay on device until copied once), and a plain run on the CPU."""

    def __init__(self, session: Any, label: str = "model") -> None:
        self.session = session
        self.label = label
        self.provider = session.get_providers()[0]
        self.inputs = session.get_inputs()
        self.outputs = session.get_outputs()
        self.input_names = [i.name for i in self.inputs]
        self.output_names = [o.name for o in self.outputs]
        self.uses_io_binding = self.provider in (CUDA, TRT)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, label: str | None = None, device: str | None = None) -> OnnxRunner:
        """Create the session for `path` (see create_session) and wrap it."""
        return cls(create_session(path, label=label, device=device), label or Path(path).name)

    def run(self, feeds: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Run the model; returns the outputs (numpy, on the host) in `output_names` order."""
        names = list(output_names or self.output_names)
        try:
            if not self.uses_io_binding:
                return list(self.session.run(names, dict(feeds)))
            binding = self.session.io_binding()
            for name, value in feeds.items():
                binding.bind_cpu_input(name, np.ascontiguousarray(value))
            device_id = int(os.environ.get("FACSIMILE_GPU", "0") or 0)
            for name in names:
                binding.bind_output(name, "cuda", device_id)
            self.session.run_with_iobinding(binding)
            return list(binding.copy_outputs_to_cpu())
        except Exception as exc:
            raise ModelError(f"model {self.label} failed to run on {self.provider}: {exc}") from exc
