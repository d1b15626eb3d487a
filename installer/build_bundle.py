"""Build the self-contained desktop bundle of Facsimile (PyInstaller one-folder mode).

    .venv/bin/python installer/build_bundle.py --out dist/

writes `dist/facsimile/` with the executable `dist/facsimile/facsimile` (the whole `facsimile`
command line, `facsimile studio` included) and everything it needs at run time under
`dist/facsimile/_internal/`: Python, the libraries, MediaPipe's .tflite/.binarypb models,
face_recognition_models' dlib .dat models, Qt with its offscreen, xcb and wayland platform
plugins, and Facsimile's own `resources/` and `models/` folders (found by core/paths.py through
sys._MEIPASS). The bundle is checked after the build (required files present, `--version`
runs); `installer/install_desktop_entry.sh dist/facsimile` then adds it to the desktop menu.

Ray (the farm executor) is left out: a farm node installs the Python package with the farm
extra instead. Needs the `bundle` extra: `.venv/bin/pip install -e '.[bundle]'`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
NAME = "facsimile"
if str(REPO) not in sys.path:  # run as a script: make the checkout's `core` importable
    sys.path.insert(0, str(REPO))

# Big optional packages that are importable in the dev virtualenv but not used by the desktop app.
EXCLUDES = [
    "ray", "torch", "tensorflow", "jax", "jaxlib", "IPython", "jupyter", "notebook", "pytest", "_pytest",
    "hypothesis", "pytestqt", "xdist", "ruff", "PyInstaller", "tkinter", "_tkinter", "cupy", "tensorrt",
    "matplotlib.backends.backend_tkagg", "matplotlib.tests", "numpy.tests", "scipy.tests", "skimage.tests",
    "sounddevice",
]

# Files whose absence makes the bundle useless: checked after every build (relative to _internal/).
REQUIRED = [
    "resources/facs/catalogue.json",
    "resources/icons/facsimile.png",
    "models/embedded.toml",
    "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
    "mediapipe/modules/face_detection/face_detection_short_range_cpu.binarypb",
    "mediapipe/modules/face_landmark/face_landmark_with_attention.tflite",
    "mediapipe/modules/face_landmark/face_landmark_front_cpu.binarypb",
    "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
    "face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
    "face_recognition_models/models/shape_predictor_68_face_landmarks.dat",
    "PySide6/Qt/plugins/platforms/libqoffscreen.so",
    "PySide6/Qt/plugins/platforms/libqxcb.so",
]


def pyinstaller_args(out: Path, work: Path) -> list[str]:
    """The PyInstaller command-line arguments for the one-folder bundle."""
    sep = os.pathsep
    args = [
        str(HERE / "facsimile_main.py"),
        "--name", NAME, "--onedir", "--noconfirm", "--console", "--log-level", "WARN",
        "--distpath", str(out), "--workpath", str(work), "--specpath", str(work),
        "--paths", str(REPO),
        "--additional-hooks-dir", str(HERE / "hooks"),
        "--icon", str(REPO / "resources" / "icons" / "facsimile.png"),
        "--add-data", f"{REPO / 'resources'}{sep}resources",
        "--add-data", f"{REPO / 'models'}{sep}models",
        # the CLI discovers core/cli/cmd_*.py at run time, and the studio imports its panels lazily
        "--collect-submodules", "core", "--collect-submodules", "studio",
        "--collect-data", "pyqtgraph",
        "--hidden-import", "PySide6.QtSvg", "--hidden-import", "PySide6.QtOpenGL",
        "--hidden-import", "PySide6.QtOpenGLWidgets",
    ]
    for mod in EXCLUDES:
        args += ["--exclude-module", mod]
    return args


def check_bundle(bundle: Path) -> list[str]:
    """Problems with a built bundle (missing required files, executable that does not start)."""
    problems = []
    internal = bundle / "_internal"
    for rel in REQUIRED:
        if not (internal / rel).is_file():
            problems.append(f"missing {internal / rel}")
    exe = bundle / NAME
    if not exe.is_file():
        problems.append(f"missing executable {exe}")
    else:
        res = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=300)
        if res.returncode != 0 or "facsimile" not in res.stdout:
            problems.append(f"{exe} --version failed (exit {res.returncode}): {res.stderr.strip()[-500:]}")
    return problems


def folder_size(path: Path) -> int:
    """Total bytes of the files under path (links not followed)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def archive(bundle: Path) -> Path:
    """Pack the bundle folder as OUT/facsimile-VERSION-linux-ARCH.tar.gz (written atomically)."""
    import platform
    import tarfile

    from core import __version__
    from core.util.atomic import atomic_path

    target = bundle.parent / f"{NAME}-{__version__}-{sys.platform}-{platform.machine()}.tar.gz"
    with atomic_path(target) as tmp, tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=NAME)
    return target


def build(out: Path, work: Path | None = None, clean: bool = False) -> dict:
    """Build the bundle into out/facsimile; return a summary (path, seconds, bytes). Raises on failure."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError as exc:
        raise SystemExit("PyInstaller is not installed in this Python: .venv/bin/pip install pyinstaller") from exc
    out = out.resolve()
    work = (work or out.parent / "build" / "pyinstaller").resolve()
    out.mkdir(parents=True, exist_ok=True)
    if clean and work.exists():
        shutil.rmtree(work)
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "PyInstaller", *pyinstaller_args(out, work)]
    if clean:
        cmd.append("--clean")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run(cmd, cwd=REPO, env=env)
    if res.returncode != 0:
        raise SystemExit(f"PyInstaller failed with exit code {res.returncode} (see its log above)")
    bundle = out / NAME
    problems = check_bundle(bundle)
    if problems:
        raise SystemExit("the bundle is incomplete:\n  " + "\n  ".join(problems))
    return {"bundle": str(bundle), "executable": str(bundle / NAME), "seconds": round(time.monotonic() - t0, 1),
            "bytes": folder_size(bundle)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the Facsimile desktop bundle (PyInstaller one-folder).")
    ap.add_argument("--out", type=Path, default=REPO / "dist", help="output folder (the bundle is OUT/facsimile)")
    ap.add_argument("--work", type=Path, default=None, help="PyInstaller work folder (default OUT/../build/pyinstaller)")
    ap.add_argument("--clean", action="store_true", help="drop PyInstaller's cache and build from scratch")
    ap.add_argument("--archive", action="store_true", help="also pack the bundle as a .tar.gz beside it")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)
    summary = build(args.out, args.work, args.clean)
    if args.archive:
        path = archive(Path(summary["bundle"]))
        summary.update(archive=str(path), archive_bytes=path.stat().st_size)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"built {summary['bundle']} in {summary['seconds']} s, {summary['bytes'] / 2**20:.0f} MiB")
        if args.archive:
            print(f"archive {summary['archive']}: {summary['archive_bytes'] / 2**20:.0f} MiB")
        print(f"run it: {summary['executable']} doctor   |   desktop menu: installer/install_desktop_entry.sh "
              f"{summary['bundle']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
