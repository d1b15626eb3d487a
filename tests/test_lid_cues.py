"""resources/facs/lid_cues.py: lid and iris cues on eyes checked by eye (downward looks against closures)."""

from __future__ import annotations

import csv

import numpy as np

from tests.test_facs_roundtrip import resource_script


def test_lid_cues_without_analyses_says_so(tmp_path, capsys):
    assert resource_script("lid_cues").main(["--cache", str(tmp_path)]) == 2
    assert "none of the checked frames" in capsys.readouterr().err


def test_lid_cues_reads_the_checked_frames_by_plate_number(shared_media, tmp_path, capsys):
    """d0.mp4 frames 40..77 (its blink, shut at 65-66 by eye): the rows are the checked frames, found
    through the analysis's plate frame numbers, with every cue measured."""
    from core.analysis.analyzer import Analyzer
    from core.media.reader import open_media

    with open_media(shared_media("clips", "d0.mp4")) as reader:
        analysis = Analyzer(max_faces=1).analyze(reader, frames=(40, 78))
    cache = tmp_path / "cache"
    cache.mkdir()
    analysis.save(cache / "d0.mp4.npz")
    tsv = tmp_path / "cues.tsv"
    assert resource_script("lid_cues").main(["--cache", str(cache), "--tsv", str(tsv)]) == 0
    rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
    assert sorted((r["eye"], int(r["frame"])) for r in rows) == [("L", 65), ("L", 66), ("R", 65), ("R", 66)]
    assert all(r["label"] == "shut" and r["clip"] == "d0.mp4" for r in rows)
    assert all(np.isfinite(float(v)) for r in rows for k, v in r.items() if k not in ("label", "clip", "eye", "eye_open"))
    # shut: the lids read mostly closed (MediaPipe never closes them all the way)
    assert max(float(r["gap/rest"]) for r in rows) < 0.5
    assert "0 look-down and 4 shut eye-frames" in capsys.readouterr().out
