"""Bad output paths and a full disk: a clear one-line error, non-zero exit, nothing half-written
under a final name (a failed .mov leaves nothing; a failed sequence only complete frames).

Tests run as root in CI containers, where chmod does not stop writes: the read-only case then
uses a read-only tmpfs mount, and the full-disk case a 2 MiB tmpfs. Where mounting is not
allowed, the read-only test is skipped with the reason and the full-disk test injects ENOSPC
at the writer's I/O step instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import OpenEXR
import pytest

from core.cli import main
from core.errors import MediaError
from core.media.writers import open_writer

W, H = 256, 256


@pytest.fixture(scope="module")
def noise_plate(tmp_path_factory) -> Path:
    """16 frames of 256x256 noise (big ProRes / EXR frames, to fill a small disk fast)."""
    path = tmp_path_factory.mktemp("noise") / "noise.mov"
    rng = np.random.default_rng(7)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=24, options={"crf": "30", "preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        for _ in range(16):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), format="rgb24")
            for p in v.encode(f.reformat(format="yuv420p")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


def _umount(path: Path) -> None:
    with contextlib.suppress(Exception):
        subprocess.run(["umount", str(path)], capture_output=True, check=False)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("facsimile: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("output", ["out.mov", "out.####.exr"])
def test_missing_output_folder(noise_plate, tmp_path, capsys, output):
    target = tmp_path / "not_there" / output
    assert main(["convert", str(noise_plate), str(target), "--frames", "0-1"]) == 3
    line = _one_error_line(capsys)
    assert "does not exist" in line and "not_there" in line
    assert not (tmp_path / "not_there").exists()


@pytest.mark.parametrize("output", ["out.mov", "out.####.png"])
def test_output_under_a_regular_file(noise_plate, tmp_path, capsys, output):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    assert main(["convert", str(noise_plate), str(blocker / output), "--frames", "0"]) == 3
    assert "is a file, not a folder" in _one_error_line(capsys)
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.parametrize("output", ["out.mov", "out.####.exr"])
def test_unwritable_output_folder(noise_plate, tmp_path, capsys, output):
    folder = tmp_path / "locked"
    mounted = False
    if os.geteuid() == 0:
        mounted = _mount_tmpfs(folder, "ro,size=1m")
        if not mounted:
            pytest.skip("running as root (chmod does not stop root) and a read-only tmpfs cannot be mounted here")
    else:
        folder.mkdir()
        folder.chmod(0o555)
    try:
        assert main(["convert", str(noise_plate), str(folder / output), "--frames", "0-1"]) == 3
        line = _one_error_line(capsys)
        assert "permission denied" in line or "read-only" in line
        assert os.listdir(folder) == []
    finally:
        if mounted:
            _umount(folder)
        else:
            folder.chmod(0o755)


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """(folder, real): a 2 MiB tmpfs when it can be mounted (real=True); else a plain folder
    with ENOSPC injected at the writers' I/O step after 2 frames (real=False)."""
    folder = tmp_path / "small"
    if _mount_tmpfs(folder, "size=2m"):
        yield folder, True
        _umount(folder)
        return
    import core.media.prores as prores

    calls = {"n": 0}
    fill = prores._fill_plane

    def failing_fill(plane, values):
        calls["n"] += 1
        if calls["n"] > 2 * 4:  # 4 planes a frame: the third frame fails
            raise OSError(errno.ENOSPC, "No space left on device")
        fill(plane, values)

    monkeypatch.setattr(prores, "_fill_plane", failing_fill)
    real_file = OpenEXR.File
    writes = {"n": 0}

    class FullDiskFile:
        def __init__(self, *args):
            self._f = real_file(*args)

        def write(self, path):
            writes["n"] += 1
            if writes["n"] > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self._f.write(path)

    monkeypatch.setattr(OpenEXR, "File", FullDiskFile)
    yield folder, False


def test_full_disk_during_prores_export_leaves_nothing(noise_plate, small_disk, capsys):
    folder, real = small_disk
    target = folder / "big.mov"
    assert main(["convert", str(noise_plate), str(target)]) == 3
    line = _one_error_line(capsys)
    assert "disk is full" in line and "nothing was written" in line
    assert os.listdir(folder) == [], "a partial movie was left behind"


def test_full_disk_during_exr_export_keeps_only_complete_frames(noise_plate, small_disk, capsys):
    folder, real = small_disk
    assert main(["convert", str(noise_plate), str(folder / "big.####.exr"), "--compression", "zip"]) == 3
    line = _one_error_line(capsys)
    assert "disk is full" in line
    names = sorted(os.listdir(folder))
    assert names, "at least one frame fits on the disk"
    assert all(n.startswith("big.") and n.endswith(".exr") and ".partial" not in n for n in names), names
    numbers = [int(n.split(".")[1]) for n in names]
    assert numbers == list(range(1001, 1001 + len(numbers)))
    assert f"frames 1001-{numbers[-1]} of 1001-1016 are complete" in line or \
        (len(numbers) == 1 and "frames 1001 of 1001-1016 are complete" in line)
    for n in names:  # every frame left is a whole, readable EXR
        assert OpenEXR.File(str(folder / n)).channels()["RGBA"].pixels.shape == (H, W, 4)


def test_folder_vanishes_during_sequence(tmp_path):
    folder = tmp_path / "renders"
    folder.mkdir()
    w = open_writer(folder / "v.####.exr", width=8, height=8, fps=Fraction(24))
    w.write(np.zeros((8, 8, 3), np.uint8))
    shutil.rmtree(folder)
    with pytest.raises(MediaError, match="does not exist"):
        w.write(np.zeros((8, 8, 3), np.uint8))
    assert w.frames_written == [1001]


def test_folder_vanishes_before_movie_close(tmp_path):
    folder = tmp_path / "renders"
    folder.mkdir()
    w = open_writer(folder / "v.mov", width=16, height=16, fps=Fraction(24))
    w.write(np.zeros((16, 16, 3), np.uint8))
    shutil.rmtree(folder)
    with pytest.raises(MediaError):
        w.close()
    assert not folder.exists()
