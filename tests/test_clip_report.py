"""resources/facs/clip_report.py: the AU-level report on shared clips that basis and solver changes are measured with."""

from __future__ import annotations

import json

from tests.test_facs_roundtrip import resource_script


def _clip_report():
    return resource_script("clip_report")


def test_report_saves_caches_and_compares(shared_media, tmp_path, capsys):
    """On a media folder holding only d0.mp4 and the happy still: the clip is analysed once and
    cached, the numbers are saved, a second run reads the cache and reports nothing moved, and an
    edited 'before' file shows up as 'before -> after'."""
    media = tmp_path / "media"
    (media / "clips").mkdir(parents=True)
    (media / "stills").mkdir()
    (media / "clips" / "d0.mp4").symlink_to(shared_media("clips", "d0.mp4"))
    (media / "stills" / "0-f15-hao-ph.jpg").symlink_to(shared_media("stills", "0-f15-hao-ph.jpg"))
    mod = _clip_report()
    cache, saved = tmp_path / "cache", tmp_path / "before.json"
    assert mod.main(["--media", str(media), "--cache", str(cache), "--save", str(saved)]) == 0
    assert (cache / "d0.mp4.npz").exists()
    numbers = json.loads(saved.read_text())
    assert set(numbers) == {"d0.mp4 mean", "d0.mp4 p95", "d0.mp4 smile 30-60", "still 0-f15-hao-ph.jpg"}
    smile = numbers["d0.mp4 smile 30-60"]
    assert smile["AU12"] > 4.0 and numbers["d0.mp4 mean"]["AU12"] < smile["AU12"]
    assert all(0.0 <= v <= 5.0 for row in numbers.values() for v in row.values())
    happy = numbers["still 0-f15-hao-ph.jpg"]
    assert max(happy, key=happy.get) == "happy"
    capsys.readouterr()

    numbers["d0.mp4 mean"]["AU12"] += 1.0
    saved.write_text(json.dumps(numbers))
    assert mod.main(["--media", str(media), "--cache", str(cache), "--against", str(saved)]) == 0
    out = capsys.readouterr().out
    lines = {ln.split("  ")[0].strip(): ln for ln in out.splitlines() if ln.strip()}
    assert "unchanged" in lines["d0.mp4 p95"]
    assert "AU12" in lines["d0.mp4 mean"] and "->" in lines["d0.mp4 mean"]


def test_report_without_media_says_so(tmp_path, capsys):
    assert _clip_report().main(["--media", str(tmp_path)]) == 2
    assert "no shared media" in capsys.readouterr().err
