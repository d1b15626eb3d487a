"""Array backends for the render stages: numpy (CPU) and CuPy (GPU, optional).

Stage code is written against an array namespace `xp` (numpy or cupy) obtained with
`xp_for(array)` or `get_backend(name)`, so one implementation runs on both. CuPy is imported
lazily and never required. Stages take and return arrays of the caller's backend.

Operations that have no CuPy path yet and go through OpenCV on the CPU (arrays are moved
to the host and back with `to_numpy` / `from_numpy`):
- warp: triangle rasterisation (cv2.fillConvexPoly) and `cv2.remap`;
- masks: polygon fill, Gaussian blur and distance transform;
- colour: LAB conversion (cv2.cvtColor) and cv2.meanStdDev;
- blend: the Poisson solve uses `cupyx.scipy.fft.dstn` when the input is a CuPy array and
  scipy.fft otherwise; its gradient/divergence arithmetic is pure `xp`.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from core.errors import FacsimileError

BACKENDS = ("numpy", "cupy")


def _cupy() -> types.ModuleType | None:
    try:
        import cupy  # noqa: F401  (optional GPU backend)
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return cupy


def cupy_available() -> bool:
    """Whether CuPy imports and sees a CUDA device."""
    cp = _cupy()
    if cp is None:
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001
        return False


def get_backend(name: str = "numpy") -> types.ModuleType:
    """The array namespace called `name` ('numpy' or 'cupy'); a clear error when CuPy is missing."""
    if name == "numpy":
        return np
    if name == "cupy":
        cp = _cupy()
        if cp is None or not cupy_available():
            raise FacsimileError(
                "GPU render backend 'cupy' is not available (CuPy not installed or no CUDA device); "
                "install cupy-cuda12x on a machine with an NVIDIA GPU or use the 'numpy' backend"
            )
        return cp
    raise FacsimileError(f"unknown render backend {name!r}; choose one of {', '.join(BACKENDS)}")


def xp_for(array: Any) -> types.ModuleType:
    """The array namespace an array belongs to (cupy for cupy arrays, numpy otherwise)."""
    mod = type(array).__module__
    if mod.startswith("cupy"):
        return get_backend("cupy")
    return np


def is_gpu(array: Any) -> bool:
    """True for a CuPy array."""
    return type(array).__module__.startswith("cupy")


def to_numpy(array: Any) -> np.ndarray:
    """A host (numpy) copy or view of any backend's array."""
    if is_gpu(array):
        return array.get()
    return np.asarray(array)


def like(host: np.ndarray, reference: Any) -> Any:
    """`host` moved to the backend of `reference` (no copy when both are numpy)."""
    if is_gpu(reference):
        return get_backend("cupy").asarray(host)
    return host


def to_float(img: np.ndarray) -> tuple[np.ndarray, float]:
    """Pixels as float32 0..1 (uint8/uint16) or as they are (float), and the scale back."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0, 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0, 65535.0
    return img.astype(np.float32), 1.0


def from_float(img: np.ndarray, scale: float, dtype: np.dtype) -> np.ndarray:
    """Inverse of to_float: rounded and clipped to the integer range, or cast for float types."""
    if np.dtype(dtype).kind == "f":
        return img.astype(dtype)
    return np.clip(np.round(img * scale), 0, scale).astype(dtype)
