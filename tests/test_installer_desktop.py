"""Fast installer checks: the desktop entry script, the shipped .desktop file and the app icon."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "installer" / "install_desktop_entry.sh"
ICONS = REPO / "resources" / "icons"


def _install(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def _fake_exe(tmp_path: Path, name: str = "facsimile") -> Path:
    """A real executable to point the entry at (the entry only records its path)."""
    exe = tmp_path / "my apps" / name
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return exe


def _desktop_fields(text: str) -> dict[str, str]:
    lines = text.splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line and not line.startswith("#"))


def test_install_and_uninstall_with_prefix(tmp_path):
    exe = _fake_exe(tmp_path)
    prefix = tmp_path / "share"
    res = _install("--prefix", str(prefix), str(exe))
    assert res.returncode == 0, res.stderr
    entry = prefix / "applications" / "facsimile.desktop"
    fields = _desktop_fields(entry.read_text())
    assert fields["Exec"] == f'"{exe}" studio %f'  # quoted: the path has a space
    assert fields["TryExec"] == str(exe)
    assert fields["Type"] == "Application" and fields["Name"] == "Facsimile" and fields["Icon"] == "facsimile"
    assert fields["Terminal"] == "false" and fields["Categories"].endswith(";")
    for size in (16, 32, 48, 64, 128, 256, 512):
        assert (prefix / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "facsimile.png").is_file()
    assert (prefix / "icons" / "hicolor" / "scalable" / "apps" / "facsimile.svg").is_file()
    assert not [p for p in (prefix / "applications").iterdir() if p.name.startswith(".facsimile")]

    res = _install("--prefix", str(prefix), "--uninstall")
    assert res.returncode == 0, res.stderr
    assert not entry.exists()
    assert not list((prefix / "icons").rglob("facsimile.*"))


def test_bundle_folder_is_accepted(tmp_path):
    exe = _fake_exe(tmp_path)
    res = _install(f"--prefix={tmp_path / 'share'}", str(exe.parent))
    assert res.returncode == 0, res.stderr
    assert f"TryExec={exe}" in (tmp_path / "share" / "applications" / "facsimile.desktop").read_text()


def test_bad_arguments_are_clear_errors(tmp_path):
    res = _install("--prefix", str(tmp_path), "--bogus")
    assert res.returncode == 2 and "unknown option --bogus" in res.stderr
    res = _install("--prefix", str(tmp_path), str(tmp_path / "missing" / "facsimile"))
    assert res.returncode == 1 and "not an executable" in res.stderr
    assert not (tmp_path / "applications" / "facsimile.desktop").exists()


def test_shipped_desktop_file_is_valid():
    text = (REPO / "resources" / "facsimile.desktop").read_text()
    fields = _desktop_fields(text)
    assert fields["Exec"].startswith("facsimile studio")
    validate = shutil.which("desktop-file-validate")
    if validate:
        res = subprocess.run([validate, str(REPO / "resources" / "facsimile.desktop")], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


def test_icons_are_current_and_well_formed(tmp_path):
    """The shipped icons are exactly what installer/make_icon.py draws, at the sizes it promises."""
    from PIL import Image

    spec = importlib.util.spec_from_file_location("make_icon", REPO / "installer" / "make_icon.py")
    make_icon = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_icon)
    assert (ICONS / "facsimile.svg").read_text(encoding="utf-8") == make_icon.svg_text(), \
        "resources/icons is stale: run .venv/bin/python installer/make_icon.py"
    for size in make_icon.SIZES:
        img = Image.open(ICONS / f"facsimile-{size}.png")
        assert img.size == (size, size) and img.mode == "RGBA"
        alpha = img.getchannel("A")
        assert alpha.getpixel((0, 0)) == 0 and alpha.getpixel((size // 2, size // 2)) == 255  # rounded square
    with Image.open(ICONS / "facsimile.png") as img:
        assert img.size == (256, 256)
    pytest.importorskip("PySide6.QtSvg")
    from PySide6.QtSvg import QSvgRenderer

    assert QSvgRenderer(str(ICONS / "facsimile.svg")).isValid()
