"""`facsimile doctor`: what this installation has, what is missing, and how to fix each problem."""

from __future__ import annotations

import importlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from core import __version__, paths


@dataclass
class Check:
    """One line of the doctor's report."""

    area: str
    name: str
    status: str  # "ok" | "warn" | "fail"
    detail: str
    fix: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def _version(module: str) -> tuple[str | None, str]:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - report any import failure
        return None, f"{type(exc).__name__}: {exc}"
    return str(getattr(mod, "__version__", getattr(mod, "VERSION", "installed"))), ""


def check_python() -> list[Check]:
    ok = sys.version_info[:2] >= (3, 11)
    return [Check("system", "python", "ok" if ok else "fail", f"{platform.python_version()} ({sys.executable})",
                  "" if ok else "use Python 3.11 or newer"),
            Check("system", "facsimile", "ok", f"{__version__} on {platform.platform()}")]


_LIBS = [
    ("numpy", "numpy", "fail"), ("scipy", "scipy", "fail"), ("opencv", "cv2", "fail"), ("PyAV", "av", "fail"),
    ("OpenEXR", "OpenEXR", "fail"), ("OpenColorIO", "PyOpenColorIO", "fail"), ("MediaPipe", "mediapipe", "fail"),
    ("dlib", "dlib", "fail"), ("ONNX Runtime", "onnxruntime", "fail"), ("PyWavelets", "pywt", "fail"),
    ("PySide6", "PySide6", "warn"), ("pyqtgraph", "pyqtgraph", "warn"), ("Ray", "ray", "warn"),
    ("OpenTimelineIO", "opentimelineio", "warn"), ("PySceneDetect", "scenedetect", "warn"),
]


def check_libraries() -> list[Check]:
    out = []
    for label, module, severity in _LIBS:
        version, err = _version(module)
        if version is None:
            out.append(Check("libraries", label, severity, f"not importable: {err}",
                             "run `make install` (or pip install -e '.[test,farm]') in the project folder"))
        else:
            out.append(Check("libraries", label, "ok", version))
    try:
        import cv2

        if not hasattr(cv2, "ximgproc"):
            out.append(Check("libraries", "opencv build", "fail", "cv2 is not the contrib build (MediaPipe needs it)",
                             "pip uninstall -y opencv-python && pip install --force-reinstall opencv-contrib-python"))
    except ImportError:
        pass
    try:
        import av

        have = set(av.codecs_available)
        for codec in ("prores_ks", "h264"):
            if codec not in have:
                out.append(Check("libraries", f"codec {codec}", "fail", "missing from PyAV's FFmpeg",
                                 "reinstall PyAV from PyPI (its wheels bundle FFmpeg with ProRes)"))
    except ImportError:
        pass
    return out


def check_models() -> list[Check]:
    out = []
    try:
        from core.runtime.registry import ModelStore, load_manifests

        store = ModelStore()
        for m in load_manifests():
            status = store.status(m)
            if status in ("embedded", "installed", "verified"):
                out.append(Check("models", m.id, "ok", status))
            else:
                level = "warn"
                out.append(Check("models", m.id, level, status,
                                 f"optional production model: `facsimile models install DIR` with {', '.join(sorted(m.file_names())) or m.id}"))
        for result in store.verify_all():
            if not result.ok:
                out.append(Check("models", f"verify {result.model_id}", "fail", result.message,
                                 "replace the file with the published one, or remove it"))
    except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not crash
        out.append(Check("models", "registry", "fail", f"{type(exc).__name__}: {exc}", "check models/*.toml"))
    return out


def check_gpu() -> list[Check]:
    out = []
    try:
        import onnxruntime as ort

        providers = ort.get_available_providers()
        out.append(Check("gpu", "onnxruntime providers", "ok", ", ".join(providers)))
    except ImportError:
        providers = []
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            text = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                                  capture_output=True, text=True, timeout=10).stdout.strip()
            out.append(Check("gpu", "NVIDIA GPU", "ok", text or "present"))
        except (OSError, subprocess.TimeoutExpired) as exc:
            out.append(Check("gpu", "NVIDIA GPU", "warn", f"nvidia-smi failed: {exc}"))
        if "CUDAExecutionProvider" not in providers:
            out.append(Check("gpu", "CUDA provider", "warn", "a GPU is present but ONNX Runtime has no CUDA provider",
                             "make install-gpu (swaps onnxruntime for onnxruntime-gpu)"))
        version, _ = _version("cupy")
        out.append(Check("gpu", "CuPy", "ok" if version else "warn", version or "not installed",
                         "" if version else "make install-gpu"))
    else:
        out.append(Check("gpu", "GPU", "ok", "none found: the CPU render path is used"))
    return out


def _writable(path: Path) -> tuple[bool, str]:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
        return True, str(path)
    except OSError as exc:
        return False, f"{path}: {exc.strerror or exc}"


def check_folders() -> list[Check]:
    out = []
    for label, path in (("user data", paths.user_data_dir()), ("model store", paths.model_store_dir()),
                        ("cache", paths.cache_dir()), ("current folder", Path.cwd())):
        ok, detail = _writable(path)
        out.append(Check("folders", label, "ok" if ok else "fail", detail,
                         "" if ok else "make it writable or point FACSIMILE_HOME / FACSIMILE_CACHE elsewhere"))
    for label, path in (("resources", paths.resources_dir()), ("model manifests", paths.manifests_dir())):
        out.append(Check("folders", label, "ok" if path.is_dir() else "fail", str(path),
                         "" if path.is_dir() else "run from the project checkout or set FACSIMILE_RESOURCES"))
    return out


def check_qt() -> list[Check]:
    platform_name = os.environ.get("QT_QPA_PLATFORM") or ("xcb" if os.environ.get("DISPLAY") else
                                                          "wayland" if os.environ.get("WAYLAND_DISPLAY") else "")
    if not platform_name:
        return [Check("studio", "Qt platform", "warn", "no DISPLAY: the studio cannot open a window here",
                      "run on a desktop session, or QT_QPA_PLATFORM=offscreen for screenshots")]
    return [Check("studio", "Qt platform", "ok", platform_name)]


def run_checks() -> list[Check]:
    """Every check, in report order."""
    return (check_python() + check_libraries() + check_models() + check_gpu() + check_folders() + check_qt())
