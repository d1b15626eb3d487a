"""Export presets end to end through `facsimile render --preset`, read back with OpenEXR,
PyAV and OpenCV; the sidecar JSON and curves CSV; numbering and handles.

The project is a 5-frame astronaut plate with one analysed shot (plate frames 1-3, one
handle), extracted AU curves and an edit key (AU12 = 3 at frame 2). Each preset renders
plate frames 1-2.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import av
import cv2
import numpy as np
import OpenEXR
import pytest

from core import __version__
from core.cli import main
from core.delivery.presets import PRESETS, get_preset
from core.delivery.sidecar import curves_csv_path, file_sha256, sidecar_path
from core.errors import FacsimileError

FRAMES = "1-2"
PRORES_TAGS = {"prores4444": "ap4h", "prores4444xq": "ap4x", "prores422hq": "apch"}
EXR_COMPRESSION = {"piz": OpenEXR.PIZ_COMPRESSION, "zip": OpenEXR.ZIP_COMPRESSION, "dwaa": OpenEXR.DWAA_COMPRESSION}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    from core.demo import make_plate
    from core.project import Plate, Project
    from core.project.workflow import analyze_shot, extract_shot_curves, set_key

    d = tmp_path_factory.mktemp("presets")
    plate_path = make_plate(d / "plate.mp4", frames=5)
    proj = Project.create(d / "p.facsimile", name="p")
    plate = proj.add_plate(Plate.from_media(plate_path))
    shot = proj.new_shot(plate.id, 1, 3, name="sh010", handles=1)
    analyze_shot(proj, shot)
    extract_shot_curves(shot)
    set_key(shot, "AU12", 2, 3.0)
    proj.save()
    return d / "p.facsimile"


@pytest.fixture(scope="module")
def render(project, tmp_path_factory):
    """render(preset) -> output path; each preset renders once per module (through the CLI)."""
    cache: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("renders")

    def _render(name: str) -> Path:
        if name not in cache:
            folder = root / name
            folder.mkdir()
            assert main(["render", str(project), "--preset", name, "--frames", FRAMES, "--chunk", "1",
                         "--out", str(folder) + "/"]) == 0
            pre = get_preset(name)
            stem = f"sh010_{pre.output}"
            cache[name] = folder / (f"{stem}.mov" if pre.format == "prores" else f"{stem}.####{pre.extension}")
        return cache[name]

    return _render


def _exr(path: Path) -> tuple[dict, dict]:
    with OpenEXR.File(str(path)) as f:
        return dict(f.header()), {k: np.array(v.pixels) for k, v in f.channels().items()}


def _sequence(pattern: Path) -> list[Path]:
    return sorted(pattern.parent.glob(pattern.name.replace("####", "[0-9][0-9][0-9][0-9]")))


def _mov(path: Path) -> tuple[dict, str, str, list[np.ndarray]]:
    """(metadata, codec tag, pixel format, decoded frames as 16-bit RGB(A))."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tag, pix = s.codec_context.codec_tag, s.codec_context.pix_fmt
        frames = [f.to_ndarray(format="rgba64le" if "a" in pix.split("p")[0] else "rgb48le") for f in c.decode(s)]
        return dict(c.metadata), tag, pix, frames


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_renders_and_reads_back(name, render):
    pre = get_preset(name)
    out = render(name)
    doc = json.loads(sidecar_path(out).read_text())
    assert doc["delivery"]["preset"] == name and doc["delivery"]["output"] == pre.output
    assert doc["settings"]["output"] == pre.output
    alpha = doc["alpha"]
    assert alpha == doc["delivery"]["alpha"] and alpha["convention"] in ("straight", "premultiplied", "none")
    if pre.format == "exr":
        files = _sequence(out)
        assert [f.name for f in files] == [f"sh010_{pre.output}.1001.exr", f"sh010_{pre.output}.1002.exr"]
        header, ch = _exr(files[0])
        assert set(ch) == {"RGBA", "mask.Y"}
        dtype = np.float16 if pre.pixel_type == "half" else np.float32
        assert ch["RGBA"].dtype == dtype and ch["mask.Y"].dtype == dtype
        assert header["compression"] == EXR_COMPRESSION[pre.compression]
        assert str(header["facsimile/synthetic"]) == "true"
        rgba, matte = ch["RGBA"].astype(np.float32), ch["mask.Y"].astype(np.float32)
        assert matte.max() > 0.9 and matte.min() == 0.0
        if pre.output == "matte":
            assert header["colorspace"] == "Raw" and alpha["convention"] == "none"
            assert np.allclose(rgba[..., 0], rgba[..., 1]) and np.allclose(rgba[..., 0], rgba[..., 2])
            np.testing.assert_allclose(rgba[..., 0], matte, atol=1 / 255 + 1e-3)  # data: no transform
            assert np.all(rgba[..., 3] == 1)
        else:
            assert header["colorspace"] == pre.colorspace and doc["colourspace"] == pre.colorspace
            assert alpha["convention"] == "premultiplied"
            if pre.output == "comp":
                assert np.all(rgba[..., 3] == 1)
            else:  # patch: alpha = matte, colour premultiplied (0 where alpha is 0)
                np.testing.assert_allclose(rgba[..., 3], matte, atol=1e-3)  # 16-bit alpha from the renderer
                assert np.all(rgba[..., :3][rgba[..., 3] == 0] == 0)
                comp_h, comp_ch = _exr(_sequence(render(name.replace("-patch", "-comp")))[0])
                comp = comp_ch["RGBA"].astype(np.float32)
                inside = rgba[..., 3] > 0.05
                np.testing.assert_allclose(rgba[..., :3][inside] / rgba[..., 3:][inside], comp[..., :3][inside],
                                           atol=0.02, rtol=0.02)
        assert doc["delivery"]["numbers"] == {"first": 1001, "last": 1002} and doc["start_number"] == 1001
    elif pre.format == "png":
        files = _sequence(out)
        assert [f.name for f in files] == [f"sh010_{pre.output}.1001.png", f"sh010_{pre.output}.1002.png"]
        img = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
        assert img.dtype == np.uint16
        assert img.shape[2] == (4 if pre.output == "patch" else 3)
        if pre.output == "patch":
            assert alpha["convention"] == "straight"
            comp = cv2.imread(str(_sequence(render("png-comp"))[0]), cv2.IMREAD_UNCHANGED).astype(np.float32)
            a = img[..., 3].astype(np.float32) / 65535
            inside = a > 0.5
            assert a.min() == 0 and a.max() > 0.99
            # straight alpha: the colour is the comp's colour, not darkened by alpha (premultiplied
            # storage would be off by (1 - a) * colour, up to half). The renderer hands over an 8-bit
            # premultiplied patch, so dividing it out costs a few code values at the edge.
            err = np.abs(img[..., :3].astype(np.float32)[inside] - comp[inside]) / 65535
            assert err.mean() < 1 / 255 and err.max() < 8 / 255
        if pre.output == "matte":
            assert np.array_equal(img[..., 0], img[..., 1]) and img.max() > 60000
    else:
        meta, tag, pix, frames = _mov(out)
        assert tag == PRORES_TAGS[pre.codec] and len(frames) == 2
        assert meta["facsimile/synthetic"] == "true" and meta["facsimile/renderId"] == doc["render_id"]
        # FFmpeg's decoder reports 4444 as 12-bit 4:4:4 + alpha (the stream holds 10-bit planes)
        assert pix == "yuv422p10le" if pre.codec == "prores422hq" else pix in ("yuva444p10le", "yuva444p12le")
        f0 = frames[0].astype(np.float32) / 65535
        if pre.codec == "prores422hq":
            assert alpha["convention"] == "none"
        elif pre.output == "patch":
            assert alpha["convention"] == "straight"
            a = f0[..., 3]
            assert a.min() < 0.01 and a.max() > 0.99
            _, _, _, comp = _mov(render(name.replace("-patch", "-comp")))
            c0 = comp[0].astype(np.float32) / 65535
            inside = a > 0.5
            assert np.abs(f0[..., :3][inside] - c0[..., :3][inside]).mean() < 0.01  # straight, not darkened
        else:
            assert f0[..., 3].min() > 0.99  # comp and matte: opaque
        if pre.output == "matte":
            assert np.abs(f0[..., 0] - f0[..., 1]).max() < 0.01 and f0[..., 0].max() > 0.9


def test_watermark_and_tags_on_presets(render):
    """Comp renders carry the render id in the pixels in every format; the matte pass is tagged
    but not watermarked. (The ProRes 4444 comp case is also test_render_pipeline's
    test_render_shot_delivers_tagged_watermarked_mov_with_sidecar.)"""
    from core.delivery.provenance import verify

    for name in ("exr-acescg-comp", "exr32-lin709-comp", "prores4444xq-comp", "prores422hq-comp"):
        report = verify(render(name))
        assert report["verified"] and report["watermark"]["matches_render_id"], (name, report)
    report = verify(render("exr-lin709-matte"))
    assert report["synthetic_tag"] and not report["watermark"]["present"]


@pytest.mark.parametrize("suffix", [".mov", ".####.exr"])
def test_watermark_of_a_patch_survives_prores_and_exr(suffix, tmp_path):
    """A face-sized RGBA patch (a 320 px disc; black, alpha 0 outside): the watermark is read
    from the opaque part after ProRes 4444 (straight) or EXR (premultiplied, linear) encoding.
    On a small face (the 512 px astronaut test plate, about 60 px opaque) there are too few
    blocks to carry the 64-bit payload; see docs/delivery.md."""
    from fractions import Fraction

    from skimage.data import astronaut

    from core.delivery.provenance import provenance_tags, verify
    from core.delivery.sidecar import write_sidecar
    from core.delivery.watermark import embed
    from core.media.writers import open_writer

    rid = "0123456789abcdef0123456789abcdef"
    img = astronaut()
    yy, xx = np.mgrid[0:512, 0:512]
    disc = ((yy - 256) ** 2 + (xx - 256) ** 2) < 160 ** 2
    edge = np.clip((165 ** 2 - ((yy - 256) ** 2 + (xx - 256) ** 2)) / (165 ** 2 - 160 ** 2), 0, 1)
    alpha = np.where(disc, 1.0, edge)
    marked = embed(img, rid).astype(np.float32) / 255
    rgba = np.concatenate([marked * (alpha[..., None] > 0), alpha[..., None]], axis=2).astype(np.float32)
    out = tmp_path / f"patch{suffix}"
    with open_writer(out, width=512, height=512, fps=Fraction(24), attributes=provenance_tags(rid)) as w:
        for _ in range(2):
            w.write(rgba)
    write_sidecar(out, {"render_id": rid})
    report = verify(out)
    assert report["watermark"]["present"] and report["watermark"]["matches_render_id"], report
    assert report["verified"]


def test_sidecar_records_inputs_models_curves_and_csv(project, render):
    out = render("exr-acescg-comp")
    doc = json.loads(sidecar_path(out).read_text())
    from core.project import Project

    proj = Project.load(project)
    shot = proj.shots[0]
    plate = proj.plate_of(shot)
    assert doc["facsimile_sidecar"] == 1 and doc["synthetic_media"] is True
    assert re.fullmatch(r"[0-9a-f]{32}", doc["render_id"])
    assert doc["software"]["name"] == "facsimile" and doc["software"]["version"] == __version__
    assert doc["shot"] == "sh010" and doc["shot_range"] == {"frame_in": 1, "frame_out": 3, "handles": 1}
    assert doc["frames"] == {"first": 1, "last": 2, "fps": "24/1"}
    assert doc["inputs"]["plate"]["sha256"] == file_sha256(plate.path)
    assert doc["inputs"]["project"]["sha256"] == file_sha256(project / "project.json")
    assert doc["settings"]["mode"] == "edit" and doc["settings"]["blend"] == "poisson"
    stages = {m["stage"]: m for m in doc["models"]}
    assert stages["analysis"]["detail"]["detector"] and stages["analysis"]["provider"]
    assert stages["restoration"]["status"] == "off" and stages["occlusion"]["status"].startswith("off")
    assert "CPUExecutionProvider" in stages["runtime"]["available_providers"]
    assert doc["identity_template"] is None and doc["consent"] is None
    assert doc["delivery"]["compression"] == "piz" and doc["delivery"]["pixel_type"] == "half"
    assert doc["colourspace"] == "ACEScg"
    # evaluated curves, one value per rendered frame, with the edit key; confidences per frame
    cs = shot.curves[0]
    assert set(doc["curves"]) == {n for n in cs.names if n.startswith("AU")}
    expected = cs.evaluate("AU12", np.array([1, 2]))
    assert doc["curves"]["AU12"] == pytest.approx(list(expected), abs=1e-3)
    assert doc["confidence"] == pytest.approx(list(np.asarray(cs.confidence)[1:3]), abs=1e-4)
    rows = list(csv.DictReader(curves_csv_path(out).open()))
    assert [r["frame"] for r in rows] == ["2", "3"]  # OpenFace counts frames from 1
    assert rows[0]["timestamp"] == f"{1 / 24:.6f}"  # 3 decimals were up to 0.5 ms off at 29.97
    assert float(rows[1]["AU12_r"]) == pytest.approx(float(expected[1]), abs=0.01)
    assert float(rows[0]["confidence"]) == pytest.approx(float(cs.confidence[1]), abs=1e-3)
    assert {"AU01_r", "AU12_r", "success"} <= set(rows[0])
    from core.facs.openface import read_openface_csv

    assert read_openface_csv(curves_csv_path(out))["faces"][0]["AU12"] == pytest.approx(
        [float(r["AU12_r"]) for r in rows])  # the sidecar CSV reads back with import-au


def test_handles_and_start_number(project, tmp_path):
    """Shot 1-3 with 2 handles on a 5-frame plate: the plate has 1 head and 1 tail frame, the
    cut-in keeps number START + handles."""
    out = tmp_path / "h.####.exr"
    assert main(["render", str(project), "--preset", "exr-lin709-comp", "--handles", "2", "--start-number", "101",
                 "--out", str(out)]) == 0
    names = [f.name for f in _sequence(out)]
    assert names == ["h.0102.exr", "h.0103.exr", "h.0104.exr", "h.0105.exr", "h.0106.exr"]
    doc = json.loads(sidecar_path(out).read_text())
    assert doc["frames"]["first"] == 0 and doc["frames"]["last"] == 4
    numbers = doc["delivery"]["numbers"]
    assert numbers == {"first": 102, "last": 106, "cut_in": 103, "cut_out": 105}
    assert doc["delivery"]["handles"] == {"requested": 2, "head": 1, "tail": 1, "frame_in": 1, "frame_out": 3}


def _consented_template(project, tmp_path):
    """(library, template): the astronaut with a consent record, in the project's library."""
    from skimage.data import astronaut

    from core.identity.consent import Consent
    from core.identity.library import Library
    from core.project import Project

    proj = Project.load(project)
    lib = Library(tmp_path / "library")
    tpl = lib.add("Eileen Collins", [astronaut()], consent=Consent(consented_by="Eileen Collins",
                                                                    use="Facsimile tests", until="2099-12-31"))
    proj.library_path = str(lib.path)
    proj.save()
    return lib, tpl


def test_swap_sidecar_has_template_and_consent(project, tmp_path):
    from core.project import Project

    _, tpl = _consented_template(project, tmp_path)
    out = tmp_path / "swap.mov"
    assert main(["render", str(project), "--mode", "swap", "--template", tpl.id, "--frames", "2-2",
                 "--preset", "prores4444-comp", "--out", str(out)]) == 0
    doc = json.loads(sidecar_path(out).read_text())
    assert doc["identity_template"]["id"] == tpl.id and doc["identity_template"]["consent_status"] == "valid"
    assert doc["consent"]["status"] == "consented" and doc["consent"]["template_id"] == tpl.id
    assert doc["consent"]["consent"]["consented_by"] == "Eileen Collins"
    assert doc["inputs"]["identity_template"]["kind"] == "folder" and doc["inputs"]["identity_template"]["sha256"]
    assert doc["settings"]["mode"] == "swap"
    # --template is this render's: the project keeps its own assignment (none here), even after a refusal
    assert Project.load(project).shots[0].identity is None
    assert main(["render", str(project), "--mode", "swap", "--template", "Eileen Collins", "--frames", "0-999",
                 "--out", str(tmp_path / "late.mov")]) != 0
    assert Project.load(project).shots[0].identity is None


def test_list_presets_and_bad_preset_output(project, tmp_path, capsys):
    assert main(["render", "--list-presets"]) == 0
    listed = capsys.readouterr().out
    assert all(n in listed for n in PRESETS)
    with pytest.raises(FacsimileError, match="preset"):
        from core.render.delivery import render_shot

        render_shot(str(project), str(tmp_path / "x.mov"), preset="exr-acescg-comp", frames=(1, 1))
    with pytest.raises(FacsimileError, match="unknown preset"):
        get_preset("exr-nope")


def test_a_swap_job_resumes_after_a_rename_and_stops_when_consent_is_withdrawn(project, tmp_path):
    """The job's fingerprint held the template's summary (name, consent): renaming the template or
    renewing its consent turned an interrupted render into a new job that asked for --overwrite,
    and a withdrawn consent said the shot had "changed" ("run again to resume"). The fingerprint
    now holds what the render is made of (texture, mesh); consent is checked when the job runs."""
    from core.identity.consent import Consent, ConsentError
    from core.jobs.spec import JobSpec
    from core.render.delivery import prepare_render, run_render_job

    lib, tpl = _consented_template(project, tmp_path)
    out = tmp_path / "swap.mov"
    spec = prepare_render(str(project), str(out), overrides={"mode": "swap"}, template=tpl.id, frames=(1, 2))
    spec.save()
    lib.rename(tpl.id, "E. Collins")
    lib.set_consent(tpl.id, Consent(consented_by="Eileen Collins", use="Facsimile tests", until="2100-01-01"))
    again = prepare_render(str(project), str(out), overrides={"mode": "swap"}, template=tpl.id, frames=(1, 2))
    assert again.job_id == spec.job_id  # the same job: it resumes
    lib.set_consent(tpl.id, None)
    with pytest.raises(ConsentError, match="has no consent record"):
        run_render_job(JobSpec.load(spec.job_dir / "job.json"))
    assert not out.exists()


def test_the_sidecar_names_the_plates_alpha_on_a_comp():
    """A comp of a plate with alpha keeps that alpha, but the sidecar said "alpha 1 (opaque)"."""
    from core.delivery.presets import alpha_convention

    assert "alpha 1 (opaque)" in alpha_convention("exr", "", "comp")["note"]
    for fmt, codec in (("exr", ""), ("prores", "prores4444")):
        note = alpha_convention(fmt, codec, "comp", plate_alpha=True)["note"]
        assert "the plate's alpha" in note and "opaque" not in note
    assert "not in it" in alpha_convention("prores", "prores422hq", "comp", plate_alpha=True)["note"]
