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
            Check("system", "facsimile", "ok", f"{__version__} on {platform.platform()}"
                  + (f" (desktop bundle in {Path(sys.executable).parent})" if _frozen() else ""))]


_LIBS = [
    ("numpy", "numpy", "fail"), ("scipy", "scipy", "fail"), ("opencv", "cv2", "fail"), ("PyAV", "av", "fail"),
    ("OpenEXR", "OpenEXR", "fail"), ("OpenColorIO", "PyOpenColorIO", "fail"), ("MediaPipe", "mediapipe", "fail"),
    ("dlib", "dlib", "fail"), ("ONNX Runtime", "onnxruntime", "fail"),
    ("PySide6", "PySide6", "warn"), ("pyqtgraph", "pyqtgraph", "warn"), ("Ray", "ray", "warn"),
    ("OpenTimelineIO", "opentimelineio", "warn"), ("PySceneDetect", "scenedetect", "warn"),
]


# Left out of the desktop bundle on purpose (installer/build_bundle.py EXCLUDES): what to say instead.
_NOT_BUNDLED = {"ray": "not in the desktop bundle: farm nodes install the package with pip install 'facsimile[farm]'"}


def check_libraries() -> list[Check]:
    out = []
    for label, module, severity in _LIBS:
        version, err = _version(module)
        if version is None and _frozen() and module in _NOT_BUNDLED:
            out.append(Check("libraries", label, "ok", _NOT_BUNDLED[module]))
        elif version is None:
            out.append(Check("libraries", label, severity, f"not importable: {err}",
                             "rebuild the desktop bundle (installer/build_bundle.py)" if _frozen() else
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


def _probe_folder(path: Path) -> Path:
    """`path` itself when it exists, else its nearest existing parent (where it would be created)."""
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe


def _writable(path: Path) -> tuple[bool, str]:
    """Can Facsimile write in `path`? Tested by creating and removing a temporary file there, or,
    when the folder does not exist yet, in the nearest existing parent (it is created on first
    use). The doctor creates nothing that stays."""
    probe = _probe_folder(path)
    if not probe.is_dir():
        return False, f"{path}: {probe} is a file, not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".facsimile-doctor-"):
            pass
    except OSError as exc:
        return False, f"{path}: cannot write in {probe}: {exc.strerror or exc}"
    return True, str(path) if probe == path else f"{path} (created on first use)"


def _frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def check_folders() -> list[Check]:
    out = []
    for label, path, env in (("user data", paths.user_data_dir(), "FACSIMILE_HOME"),
                             ("model store", paths.model_store_dir(), "FACSIMILE_MODELS"),
                             ("cache", paths.cache_dir(), "FACSIMILE_CACHE")):
        ok, detail = _writable(path)
        probe = _probe_folder(path)
        fix = "" if ok else (f"make {probe} writable for this user (chmod u+w, or chown), or set {env} "
                             "to a writable folder")
        out.append(Check("folders", label, "ok" if ok else "fail", detail, fix))
    ok, detail = _writable(Path.cwd())
    out.append(Check("folders", "current folder", "ok" if ok else "warn", detail,
                     "" if ok else "relative output paths land here: cd to a writable folder or give absolute paths"))
    reinstall = ("rebuild or reinstall the bundle (installer/build_bundle.py)" if _frozen() else
                 "run from the project checkout (or pip install -e .)")
    for label, path, env, must in (("resources", paths.resources_dir(), "FACSIMILE_RESOURCES",
                                    ("facs/catalogue.json",)),
                                   ("model manifests", paths.manifests_dir(), "FACSIMILE_MANIFESTS",
                                    ("embedded.toml",))):
        if not path.is_dir():
            out.append(Check("folders", label, "fail", f"{path}: no such folder",
                             f"{reinstall}, or set {env} to the shipped {path.name}/ folder"))
            continue
        missing = [m for m in must if not (path / m).is_file()]
        if missing:
            out.append(Check("folders", label, "fail", f"{path}: missing {', '.join(missing)}",
                             f"{reinstall}, or set {env} to a complete {path.name}/ folder"))
        elif not os.access(path, os.R_OK | os.X_OK):
            out.append(Check("folders", label, "fail", f"{path}: not readable", f"chmod -R a+rX {path}"))
        else:
            out.append(Check("folders", label, "ok", str(path)))
    return out


def _debian_package(soname: str) -> str:
    """Debian/Ubuntu package name for a shared library soname (libxcb-icccm.so.4 -> libxcb-icccm4)."""
    stem, _, version = soname.partition(".so")
    version = version.lstrip(".").split(".")[0]
    if not version:
        return stem
    return f"{stem}-{version}" if stem[-1:].isdigit() else f"{stem}{version}"


def missing_shared_libraries(library: Path) -> list[str]:
    """Sonames that `library` needs and the dynamic loader cannot find (via ldd; [] when unknown)."""
    ldd = shutil.which("ldd")
    if not ldd or not library.is_file():
        return []
    try:
        text = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return sorted({line.split("=>")[0].strip() for line in text.splitlines() if "not found" in line})


def qt_platform_plugin(name: str) -> Path | None:
    """The Qt platform plugin file for platform `name` (xcb, wayland, offscreen), or None."""
    try:
        from PySide6.QtCore import QLibraryInfo
    except ImportError:
        return None
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    found = sorted(plugins.glob(f"libq{name}.so*")) + sorted(plugins.glob(f"q{name}.dll"))
    return found[0] if found else None


def check_qt() -> list[Check]:
    platform_name = os.environ.get("QT_QPA_PLATFORM") or ("xcb" if os.environ.get("DISPLAY") else
                                                          "wayland" if os.environ.get("WAYLAND_DISPLAY") else "")
    out = []
    if not platform_name:
        out.append(Check("studio", "Qt platform", "warn", "no DISPLAY: the studio cannot open a window here",
                         "run on a desktop session, or QT_QPA_PLATFORM=offscreen for screenshots"))
    else:
        out.append(Check("studio", "Qt platform", "ok", platform_name))
    if sys.platform.startswith("linux") and _version("PySide6")[0]:
        # Qt >= 6.5 needs a few X11 libraries that minimal Linux installs lack; without them the
        # studio dies at start with "could not load the Qt platform plugin xcb".
        plugin = qt_platform_plugin("xcb")
        if plugin is None:
            out.append(Check("studio", "Qt xcb plugin", "warn", "PySide6 has no xcb platform plugin",
                             "reinstall PySide6 (pip install --force-reinstall PySide6-Essentials)"))
        else:
            missing = missing_shared_libraries(plugin)
            wanted = platform_name.startswith("xcb")
            if missing:
                pkgs = " ".join(sorted({_debian_package(m) for m in missing}))
                out.append(Check("studio", "Qt xcb plugin", "fail" if wanted else "warn",
                                 f"X11 libraries missing: {', '.join(missing)}"
                                 + ("" if wanted else " (not needed for the current platform)"),
                                 f"install them, e.g. on Debian/Ubuntu: sudo apt install {pkgs}"))
            else:
                out.append(Check("studio", "Qt xcb plugin", "ok", str(plugin)))
    return out


def run_checks() -> list[Check]:
    """Every check, in report order."""
    return (check_python() + check_libraries() + check_models() + check_gpu() + check_folders() + check_qt())
