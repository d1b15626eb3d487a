"""The desktop bundle (installer/build_bundle.py): build it, then run the frozen app for real.

Slow (about 2-4 minutes: a full PyInstaller build), so marked `slow`: `pytest -m slow
tests/test_installer.py`. The bundle is built once per session into a temp folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.bundle]

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "installer" / "build_bundle.py"
INSTALL_DESKTOP = REPO / "installer" / "install_desktop_entry.sh"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    pytest.importorskip("PyInstaller", reason="PyInstaller is not installed: .venv/bin/pip install pyinstaller")
    root = tmp_path_factory.mktemp("bundle")
    res = subprocess.run([sys.executable, str(BUILD), "--out", str(root / "dist"), "--work", str(root / "work"),
                          "--json"], capture_output=True, text=True, timeout=1800, cwd=REPO)
    assert res.returncode == 0, f"bundle build failed:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}"
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    exe = Path(summary["executable"])
    assert exe.is_file() and os.access(exe, os.X_OK)
    print(f"bundle built in {summary['seconds']} s, {summary['bytes'] / 2**20:.0f} MiB")
    return exe


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no checkout paths leak in, so the bundle must find its own data."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FACSIMILE_RESOURCES", "FACSIMILE_MANIFESTS", "FACSIMILE_MODELS", "PYTHON",
                                "VIRTUAL_ENV", "QT_"))}
    env.update(FACSIMILE_HOME=str(tmp_path / "home"), FACSIMILE_CACHE=str(tmp_path / "cache"), **extra)
    return env


def _run(exe: Path, args: list[str], tmp_path: Path, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    # run from an unrelated folder so nothing is found relative to the checkout
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path, env=_env(tmp_path, **env))


def test_bundle_doctor_is_ok_and_uses_its_own_data(bundle, tmp_path):
    res = _run(bundle, ["doctor", "--json"], tmp_path)
    report = json.loads(res.stdout)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert res.returncode == 0 and report["ok"], f"doctor failed in the bundle: {failed}\n{res.stderr[-2000:]}"
    checks = {(c["area"], c["name"]): c for c in report["checks"]}
    internal = bundle.parent / "_internal"
    assert checks[("folders", "resources")]["detail"] == str(internal / "resources")
    assert checks[("folders", "model manifests")]["detail"] == str(internal / "models")
    assert "desktop bundle" in checks[("system", "facsimile")]["detail"]
    embedded = [c for c in report["checks"] if c["area"] == "models" and c["detail"] == "embedded"]
    assert len(embedded) >= 6 and all(c["status"] == "ok" for c in embedded)
    assert not [c for c in report["checks"] if c["area"] == "models" and c["name"].startswith("verify ")]


def test_bundle_runs_the_embedded_models_on_a_real_face(bundle, tmp_path):
    """MediaPipe's .tflite/.binarypb graphs and dlib's .dat models really load inside the bundle."""
    import cv2
    from skimage.data import astronaut

    still = tmp_path / "astronaut.png"
    cv2.imwrite(str(still), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    res = _run(bundle, ["analyze", str(still), "--out", str(tmp_path / "an")], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["faces"] == 1 and summary["frames"] == 1
    data = np.load(tmp_path / "an" / "analysis.npz", allow_pickle=False)
    assert any(np.asarray(data[k]).size for k in data.files)
    res = _run(bundle, ["compare-faces", str(still), str(still)], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)["same_person"] is True


def _studio_exists(exe: Path, tmp_path: Path) -> bool:
    return _run(exe, ["studio", "--help"], tmp_path).returncode == 0


def _check_png(path: Path, size: tuple[int, int]) -> None:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, f"{path} is not a readable PNG"
    assert (img.shape[1], img.shape[0]) == size
    assert float(img[..., :3].std()) > 2.0, "the screenshot is blank"


def test_bundle_studio_screenshot_offscreen(bundle, tmp_path, output_dir):
    if not _studio_exists(bundle, tmp_path):
        pytest.skip("the bundle has no `facsimile studio` command yet")
    shot = output_dir / "bundle_studio_offscreen.png"
    shot.unlink(missing_ok=True)  # a kept file from an earlier run must not pass for this one
    res = _run(bundle, ["studio", "--screenshot", str(shot), "--size", "1280x800"], tmp_path,
               QT_QPA_PLATFORM="offscreen")
    assert res.returncode == 0, res.stderr[-3000:]
    _check_png(shot, (1280, 800))


def test_bundle_studio_screenshot_under_xvfb(bundle, tmp_path, output_dir):
    """The real X11 path (xcb platform plugin) a desktop user gets, under a virtual X server."""
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        pytest.skip("Xvfb is not installed (apt install xvfb)")
    if not _studio_exists(bundle, tmp_path):
        pytest.skip("the bundle has no `facsimile studio` command yet")
    report = json.loads(_run(bundle, ["doctor", "--json"], tmp_path, DISPLAY=":0", QT_QPA_PLATFORM="xcb").stdout)
    xcb = next(c for c in report["checks"] if c["name"] == "Qt xcb plugin")
    if xcb["status"] != "ok":
        pytest.skip(f"this machine cannot run Qt's xcb plugin: {xcb['detail']} ({xcb['fix']})")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                              pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as fh:
            display = fh.readline().strip()
        assert display, "Xvfb did not report its display number"
        shot = output_dir / "bundle_studio_xvfb.png"
        shot.unlink(missing_ok=True)
        res = _run(bundle, ["studio", "--screenshot", str(shot), "--size", "1280x800"], tmp_path,
                   DISPLAY=f":{display}", QT_QPA_PLATFORM="xcb")
        assert res.returncode == 0, res.stderr[-3000:]
        _check_png(shot, (1280, 800))
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_desktop_entry_points_at_the_bundle(bundle, tmp_path):
    prefix = tmp_path / "share"
    res = subprocess.run(["bash", str(INSTALL_DESKTOP), "--prefix", str(prefix), str(bundle.parent)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    entry = (prefix / "applications" / "facsimile.desktop").read_text()
    assert f"Exec={bundle} studio %f" in entry and f"TryExec={bundle}" in entry and "Icon=facsimile" in entry
    for size in (48, 256):
        assert (prefix / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "facsimile.png").is_file()
    assert (prefix / "icons" / "hicolor" / "scalable" / "apps" / "facsimile.svg").is_file()
