"""`facsimile doctor`: JSON shape, failing folders give a `fail` with a fix and exit 1, models listed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from core import doctor
from core.cli import main

STATUSES = {"ok", "warn", "fail"}


def _run_json(capsys) -> tuple[int, dict]:
    rc = main(["doctor", "--json"])
    out = capsys.readouterr().out
    return rc, json.loads(out)


def _by_name(report: dict, area: str) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"] if c["area"] == area}


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("FACSIMILE_MODELS", "FACSIMILE_RESOURCES", "FACSIMILE_MANIFESTS"):
        monkeypatch.delenv(var, raising=False)


def test_json_shape_and_embedded_models(capsys, clean_env):
    rc, report = _run_json(capsys)
    assert set(report) == {"ok", "checks"}
    assert isinstance(report["ok"], bool) and report["checks"]
    for c in report["checks"]:
        assert set(c) == {"area", "name", "status", "detail", "fix"}, c
        assert c["status"] in STATUSES, c
        assert all(isinstance(c[k], str) for k in ("area", "name", "detail", "fix"))
        if c["status"] != "ok":
            assert c["fix"], f"a {c['status']} check must say how to fix it: {c}"
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert report["ok"] == (not failed)
    assert rc == (0 if report["ok"] else 1)
    assert {"system", "libraries", "models", "gpu", "folders", "studio"} <= {c["area"] for c in report["checks"]}

    # the embedded defaults (MediaPipe, dlib via face_recognition_models) ship with the install
    models = _by_name(report, "models")
    from core.runtime.registry import load_manifests

    embedded = [m.id for m in load_manifests() if m.is_embedded]
    assert any(i.startswith("mediapipe") for i in embedded) and any(i.startswith("dlib") for i in embedded)
    for model_id in embedded:
        assert models[model_id]["status"] == "ok", models[model_id]
        assert models[model_id]["detail"] == "embedded"
    assert not [n for n in models if n.startswith("verify ")], "an embedded model failed its sha256 check"
    # this checkout is healthy: the folders and the shipped data are fine
    folders = _by_name(report, "folders")
    for name in ("user data", "model store", "cache", "resources", "model manifests"):
        assert folders[name]["status"] == "ok", folders[name]


def test_home_under_a_file_is_a_fail_with_fix_and_exit_1(tmp_path, monkeypatch, capsys, clean_env):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the user data folder's parent should be")
    home = blocker / "facsimile"
    monkeypatch.setenv("FACSIMILE_HOME", str(home))
    rc, report = _run_json(capsys)
    assert rc == 1 and report["ok"] is False
    folders = _by_name(report, "folders")
    for name in ("user data", "model store"):  # the model store lives in the user data folder
        assert folders[name]["status"] == "fail", folders[name]
        assert "is a file, not a folder" in folders[name]["detail"]
        assert str(home) in folders[name]["detail"]
    assert "FACSIMILE_HOME" in folders["user data"]["fix"]
    assert "FACSIMILE_MODELS" in folders["model store"]["fix"]
    # the human-readable report says the same, with the fix under the failed line, and exits 1
    assert main(["doctor"]) == 1
    text = capsys.readouterr().out
    assert "FAIL  user data" in text and "fix: " in text and "problem(s)" in text


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="root (or Windows) ignores folder permission bits, so a read-only folder "
                           "cannot be simulated; the under-a-file test covers the failure path")
def test_read_only_home_is_a_fail(tmp_path, monkeypatch, clean_env):
    home = tmp_path / "ro_home"
    home.mkdir()
    home.chmod(0o555)
    try:
        monkeypatch.setenv("FACSIMILE_HOME", str(home))
        checks = {c.name: c for c in doctor.check_folders()}
        assert checks["user data"].status == "fail"
        assert "Permission denied" in checks["user data"].detail or "cannot write" in checks["user data"].detail
        assert "chmod" in checks["user data"].fix and "FACSIMILE_HOME" in checks["user data"].fix
    finally:
        home.chmod(0o755)


def test_doctor_creates_no_folders(tmp_path, monkeypatch, clean_env):
    home = tmp_path / "fresh" / "deeper"
    cache = tmp_path / "fresh_cache"
    monkeypatch.setenv("FACSIMILE_HOME", str(home))
    monkeypatch.setenv("FACSIMILE_CACHE", str(cache))
    checks = {c.name: c for c in doctor.check_folders()}
    assert checks["user data"].status == "ok"
    assert "created on first use" in checks["user data"].detail
    assert not home.exists() and not cache.exists() and not (tmp_path / "fresh").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".facsimile-doctor-")], "probe file left"


def test_missing_or_incomplete_shipped_folders_fail(tmp_path, monkeypatch, clean_env):
    monkeypatch.setenv("FACSIMILE_RESOURCES", str(tmp_path / "no_such_resources"))
    empty = tmp_path / "empty_models"
    empty.mkdir()
    monkeypatch.setenv("FACSIMILE_MANIFESTS", str(empty))
    checks = {c.name: c for c in doctor.check_folders()}
    assert checks["resources"].status == "fail" and "no such folder" in checks["resources"].detail
    assert "FACSIMILE_RESOURCES" in checks["resources"].fix
    assert checks["model manifests"].status == "fail" and "embedded.toml" in checks["model manifests"].detail
    assert "FACSIMILE_MANIFESTS" in checks["model manifests"].fix


def test_debian_package_names():
    assert doctor._debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert doctor._debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert doctor._debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert doctor._debian_package("libfoo.so") == "libfoo"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ldd and .so plugins are Linux only")
def test_qt_checks_name_the_xcb_plugin_and_its_libraries(monkeypatch):
    pytest.importorskip("PySide6")
    plugin = doctor.qt_platform_plugin("xcb")
    assert plugin is not None and plugin.is_file()
    missing = doctor.missing_shared_libraries(plugin)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    checks = {c.name: c for c in doctor.check_qt()}
    xcb = checks["Qt xcb plugin"]
    if missing:  # e.g. libxcb-icccm4 not installed: the studio cannot open a window on X11
        assert xcb.status == "fail" and all(m in xcb.detail for m in missing) and "apt install" in xcb.fix
    else:
        assert xcb.status == "ok" and str(plugin) == xcb.detail
    assert doctor.missing_shared_libraries(Path(sys.executable).resolve()) == []
