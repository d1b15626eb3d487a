"""Shared fixtures: the shared test media (skipped with a reason when absent), output folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_MEDIA = Path(os.environ.get("FACSIMILE_SHARED_MEDIA", REPO.parent / "shared" / "media"))
TEST_OUTPUT = REPO / "test_output"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def shared_media_path(*parts: str) -> Path:
    """A file under ../shared/media; the calling test is skipped when it is absent."""
    path = SHARED_MEDIA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test media not available: {path} (see ../shared/media/MEDIA.md)")
    return path


@pytest.fixture
def shared_media():
    """Callable fixture: shared_media('clips', 'd0.mp4') -> Path, or skip."""
    return shared_media_path


@pytest.fixture
def output_dir(request) -> Path:
    """A per-test folder under test_output/ kept after the run (contact sheets, renders to look at)."""
    name = request.node.nodeid.replace("/", "_").replace("::", "__").replace("[", "_").replace("]", "")
    path = TEST_OUTPUT / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep tests away from the real user's model store, library and caches."""
    home = tmp_path_factory.mktemp("fhome")
    monkeypatch.setenv("FACSIMILE_HOME", str(home))
    monkeypatch.setenv("FACSIMILE_CACHE", str(home / "cache"))


# ---------------------------------------------------------------------- the studio's test window
# Shared by the studio test modules that need no plate of their own (tests.test_studio builds it):
# a 40-frame H.264 astronaut plate per module, a project on it and its main window, offscreen.
@pytest.fixture(scope="module")
def studio_plate(tmp_path_factory) -> Path:
    from tests.test_studio import make_plate

    return make_plate(tmp_path_factory.mktemp("plate") / "astro.mp4", n=40)


@pytest.fixture
def studio_project(tmp_path, studio_plate) -> Path:
    from tests.test_studio import make_project

    return make_project(tmp_path, studio_plate)


@pytest.fixture
def studio_win(qtbot, studio_project):
    from tests.test_studio import open_window

    with open_window(qtbot, studio_project) as w:
        yield w
