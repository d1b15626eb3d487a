"""A plate's colour space when its files do not say it: a camera log plate (ARRI LogC3, a 16-bit
PNG sequence made from the astronaut portrait through OpenColorIO) is measured and shown as a
display picture, and rendered to scene-linear EXR through its own log curve, not sRGB's."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.media.colour import convert_colorspace, display_rgb8, needs_display_transform
from core.media.reader import open_media, to_rgb8

LOGC = "ARRI LogC3 (EI800)"
N = 3


def _portrait() -> np.ndarray:
    from skimage.data import astronaut

    return astronaut()


@pytest.fixture(scope="module")
def log_plate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """shot.1001-1003.png: the portrait's sRGB code values taken to LogC3, 16-bit."""
    d = tmp_path_factory.mktemp("logc")
    log = convert_colorspace(_portrait(), "sRGB - Texture", LOGC)
    codes = np.clip(np.rint(log * 65535.0), 0, 65535).astype(np.uint16)
    for k in range(N):
        cv2.imwrite(str(d / f"shot.{1001 + k}.png"), np.ascontiguousarray(codes[:, :, ::-1]))
    return d / "shot.####.png"


def test_a_log_plate_is_shown_as_a_display_picture(log_plate: Path) -> None:
    with open_media(log_plate) as r:
        native = r.read(0)
    assert native.dtype == np.uint16 and needs_display_transform(LOGC, native.dtype)
    assert not needs_display_transform(None, native.dtype) and not needs_display_transform("sRGB - Texture", np.uint8)
    flat, shown = to_rgb8(native), display_rgb8(native, LOGC)
    ref = _portrait()
    assert np.abs(shown.astype(int) - ref.astype(int)).mean() < 1.5
    assert np.abs(flat.astype(int) - ref.astype(int)).mean() > 20  # log codes read as sRGB: a flat, grey picture
    assert flat.std() < 0.7 * ref.std()


def test_project_of_a_log_plate_analyses_and_renders_through_its_log(tmp_path: Path, log_plate: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    import OpenEXR

    from core.analysis.analyzer import Analyzer
    from core.cli import main
    from core.project import Project, UndoStack
    from core.project import workflow as wf
    from core.project.plates import interpret_plate
    from core.render.delivery import render_shot

    assert main(["project", "create", str(tmp_path / "logc"), "--plate", str(log_plate), "--colorspace",
                 "arri logc3 (ei800)", "--json"]) == 0
    capsys.readouterr()
    proj = Project.load(tmp_path / "logc.facsimile")
    assert proj.plates["shot"].colorspace == LOGC
    analysis = wf.analyze_shot(proj, proj.shots[0], max_faces=1)
    ref = Analyzer(max_faces=1).analyze([_portrait()] * N)
    err = np.linalg.norm(analysis.landmarks[0, 0, :, :2] - ref.landmarks[0, 0, :, :2], axis=1).mean()
    assert err < 2.0, err
    wf.extract_shot_curves(proj.shots[0])
    proj.save()
    (tmp_path / "r").mkdir()
    render_shot(str(proj.path), str(tmp_path / "r" / "lin.####.exr"), frames=(0, 0))
    with OpenEXR.File(str(tmp_path / "r" / "lin.1001.exr")) as f:
        rgb = np.asarray(f.channels()["RGBA"].pixels, np.float32)[..., :3]
        assert f.header()["colorspace"] == "Linear Rec.709 (sRGB)"
    truth = convert_colorspace(_portrait(), "sRGB - Texture", "Linear Rec.709 (sRGB)")
    corner = (slice(0, 60), slice(0, 60))  # away from the face: the plate, with the render's watermark in it
    assert np.abs(rgb[corner] - truth[corner]).mean() < 0.004
    assert (np.abs(rgb[corner] - truth[corner]) <= 0.05 * truth[corner] + 0.004).all()
    # read as sRGB (the automatic reading), the same plate's linear values are far off
    stack = UndoStack()
    _plate, notes = interpret_plate(proj, "shot", colorspace="auto", stack=stack)
    assert proj.plates["shot"].colorspace is None and any("analysed" in n for n in notes)
    proj.save()
    render_shot(str(proj.path), str(tmp_path / "r" / "srgb.####.exr"), frames=(0, 0))
    with OpenEXR.File(str(tmp_path / "r" / "srgb.1001.exr")) as f:
        wrong = np.asarray(f.channels()["RGBA"].pixels, np.float32)[..., :3]
    assert np.abs(wrong[corner] - truth[corner]).mean() > 0.05
    stack.undo()
    assert proj.plates["shot"].colorspace == LOGC
    # the analysis records the reading it measured on: going back to it makes nothing stale (the
    # note said "analysed on the plate read the other way" for any change)
    assert proj.shots[0].analysis.meta["colorspace"] == LOGC
    interpret_plate(proj, "shot", colorspace="auto", stack=stack)
    _plate, notes = interpret_plate(proj, "shot", colorspace=LOGC, stack=stack)
    assert not any("analysed" in n for n in notes), notes
    stack.undo()
    stack.undo()
    # the CLI sets it too, and says so in project info
    assert main(["project", "plate", str(proj.path), "--colorspace", "S-Log3 S-Gamut3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["colorspace"] == "S-Log3 S-Gamut3"
    assert wf.project_info(Project.load(proj.path), check_hash=False)["plates"][0]["colorspace"] == "S-Log3 S-Gamut3"
    assert main(["project", "plate", str(proj.path), "--colorspace", "LogC9"]) != 0
    assert "unknown colour space" in capsys.readouterr().err


def test_a_swap_on_a_log_plate_puts_the_template_in_the_plates_encoding(tmp_path: Path) -> None:
    """The template's sRGB texture goes into the log plate's encoding: the swapped face, shown as a
    display picture, is the same as the swap on the sRGB plate (to a few levels); pasted as sRGB
    codes onto log ones, it is not."""
    from core.analysis.analyzer import Analyzer
    from core.identity.library import Library
    from core.render.renderer import Renderer, RenderSettings

    ref = _portrait()
    log16 = np.clip(np.rint(convert_colorspace(ref, "sRGB - Texture", LOGC) * 65535.0), 0, 65535).astype(np.uint16)
    template = Library(tmp_path / "lib").add("astronaut", [ref])
    lm = Analyzer(max_faces=1).analyze_image(ref, embed=False)[0].landmarks
    settings = RenderSettings(mode="swap", colour="none")
    base, target = {"AU12": 0.0}, {"AU12": 3.0}
    on_srgb = Renderer(settings, template).render(ref, lm, base, target)
    on_log = Renderer(settings, template, plate_colorspace=LOGC).render(log16, lm, base, target)
    naive = Renderer(settings, template).render(log16, lm, base, target)
    inside = on_srgb.matte > 0.5
    assert inside.sum() > 3000

    def seen(img: np.ndarray) -> np.ndarray:
        return display_rgb8(img, LOGC).astype(np.float32)

    good = np.abs(seen(on_log.image) - on_srgb.image.astype(np.float32))[inside].mean()
    bad = np.abs(seen(naive.image) - on_srgb.image.astype(np.float32))[inside].mean()
    print("swap on the log plate vs on the sRGB plate, mean level difference in the face:", good, "naive:", bad)
    assert good < 3.0 and bad > 15.0


def test_the_restorer_sees_a_log_plate_as_a_display_picture_and_gives_back_only_its_change(tmp_path: Path) -> None:
    """An identity restorer (a real ONNX graph) on a log plate changes the face by its 8-bit
    rounding of the display picture only: the result, shown, is the render without restoration."""
    from core.analysis.analyzer import Analyzer
    from core.render.renderer import Renderer, RenderSettings
    from core.runtime.adapters.restore import OnnxRestorer
    from tests.onnx_standins import make_restorer_standin

    ref = _portrait()
    log16 = np.clip(np.rint(convert_colorspace(ref, "sRGB - Texture", LOGC) * 65535.0), 0, 65535).astype(np.uint16)
    lm = np.asarray(Analyzer(max_faces=1).analyze_image(ref, embed=False)[0].landmarks, np.float32)
    restorer = OnnxRestorer(make_restorer_standin(tmp_path / "gpen_standin.onnx", 512), model_id="gpen_bfr_512",
                            strength=1.0)

    def render(plate: np.ndarray, restore: bool, cs: str | None):
        r = Renderer(RenderSettings(mode="edit"), plate_colorspace=cs)
        r.restorer = restorer if restore else None
        return r.render(plate, lm, {}, {"AU12": 3.0})

    restored, plain = render(log16, True, LOGC), render(log16, False, LOGC)
    face = restored.matte > 0.99
    assert face.sum() > 3000
    diff = np.abs(display_rgb8(restored.image, LOGC).astype(int) - display_rgb8(plain.image, LOGC).astype(int))
    # the same stand-in on the sRGB plate: its crop and paste-back resample the face a little
    own = np.abs(render(ref, True, None).image.astype(int) - render(ref, False, None).image.astype(int))
    print("identity restorer, mean level change in the face: log plate", diff[face].mean(), "sRGB plate",
          own[face].mean())
    assert diff[face].mean() < own[face].mean() + 0.3


def test_exr_renders_name_their_primaries_and_exr_plates_are_read_by_theirs(tmp_path: Path) -> None:
    """An EXR says its primaries the standard way (colorInteropID) and the old way
    (chromaticities); an EXR plate that says its primaries only that way is read in that space."""
    from fractions import Fraction

    import OpenEXR

    from core.media.colour import plate_colorspace
    from core.media.reader import probe
    from core.media.writers import open_writer
    from tests.mediagen import write_exr

    for space, interop in (("ACEScg", "lin_ap1_scene"), ("Linear Rec.709 (sRGB)", "lin_rec709_scene")):
        out = tmp_path / f"{interop}.####.exr"
        w = open_writer(out, width=8, height=4, fps=Fraction(24), colorspace=space)
        w.write(np.zeros((4, 8, 3), np.uint8))
        w.close()
        with OpenEXR.File(str(tmp_path / f"{interop}.1001.exr")) as f:
            h = f.header()
            assert h["colorInteropID"] == interop and h["colorspace"] == space
            assert np.allclose(h["chromaticities"], OpenEXR.colorInteropIDToChromaticities(interop))
        info = probe(tmp_path / f"{interop}.1001.exr")
        assert plate_colorspace(info, np.float32)[0] == space
    # a plate with AP1 chromaticities and no colorspace attribute (as another tool may write it)
    plate = tmp_path / "ap1.exr"
    write_exr(plate, np.full((4, 8, 3), 0.18, np.float32))
    with OpenEXR.File(str(plate)) as f:
        header, channels = dict(f.header()), {k: v.pixels for k, v in f.channels().items()}
    header["chromaticities"] = OpenEXR.colorInteropIDToChromaticities("lin_ap1_scene")
    OpenEXR.File(header, channels).write(str(plate))
    assert plate_colorspace(probe(plate), np.float32)[0] == "ACEScg"
    assert plate_colorspace(probe(tmp_path / "ap1.exr"), np.float32, "Linear Rec.709 (sRGB)")[0] == \
        "Linear Rec.709 (sRGB)"


def test_an_hdr_plate_is_read_as_its_rec2100_encoding_and_renders_keep_it(tmp_path: Path) -> None:
    """An HLG phone clip (10-bit, BT.2020, HLG, as an iPhone records) is read in Rec.2100 HLG, not as
    sRGB codes: a ProRes export keeps its code values and is tagged HLG/BT.2020 (it was tagged
    BT.709, so players showed the HDR codes as SDR), and an EXR export holds its linear light."""
    import OpenEXR

    from core.cli import main
    from core.media.colour import plate_colorspace
    from core.media.reader import probe
    from tests.mediagen import make_video

    ramp = np.tile(np.linspace(0, 255, 128, dtype=np.uint8)[None, :, None], (96, 1, 3))
    ramp[:, :, 1] = ramp[:, :, 1] // 2
    plate = make_video(tmp_path / "hlg.mov", 3, 128, 96, fps=25, pix_fmt="yuv420p10le", image=lambda i: ramp,
                       color={"colorspace": 9, "color_range": 1, "color_primaries": 9, "color_trc": 18})
    info = probe(plate)
    assert plate_colorspace(info, np.uint16)[0] == "Rec.2100-HLG - Display"
    assert main(["convert", str(plate), str(tmp_path / "out.mov")]) == 0
    out = probe(tmp_path / "out.mov")
    assert (out.color_primaries, out.color_transfer, out.color_matrix) == ("bt2020", "arib-std-b67", "bt2020nc")
    with open_media(plate) as a, open_media(tmp_path / "out.mov") as b:
        src, dst = a.read(1).astype(np.float64), b.read(1)[..., :3].astype(np.float64)
    assert np.abs(src - dst).mean() < 0.004 * 65535  # the codes pass through (4:2:0 -> 4:4:4 aside)
    assert main(["convert", str(plate), str(tmp_path / "lin.####.exr")]) == 0
    with OpenEXR.File(str(tmp_path / "lin.1001.exr")) as f:
        lin = np.asarray(f.channels()["RGBA"].pixels, np.float32)[..., :3]
    with open_media(plate) as a:
        expect = convert_colorspace(a.read(0), "Rec.2100-HLG - Display", "Linear Rec.709 (sRGB)")
    assert np.abs(lin - expect).mean() < 0.01
    assert np.abs(lin - convert_colorspace(ramp, "sRGB - Texture", "Linear Rec.709 (sRGB)")).mean() > 0.05


def test_an_hdr_plate_is_tone_mapped_for_the_viewer_and_the_face_tools(tmp_path: Path) -> None:
    """A PQ (HDR10) master puts a face at 80-200 nits and its reference white at 203 (BT.2408).
    Converted to sRGB as it is, every level above 100 nits clipped to white: the studio showed a
    blown-out face and MediaPipe measured one. Now the picture for eyes and face tools is the
    ACES round trip (the HDR output transform inverted, then the SDR one), read automatically
    from the file's transfer tag by the analyser, the studio's frame cache and the render."""
    import skimage.data

    from core.analysis.analyzer import Analyzer
    from core.media.colour import display_colorspace, from_display
    from core.media.reader import probe
    from studio.frames import FrameCache
    from tests.mediagen import make_video

    sdr = cv2.resize(skimage.data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    pq = from_display(sdr.astype(np.float32) / 255.0, "Rec.2100-PQ - Display")  # its HDR master
    codes = np.round(np.clip(pq, 0.0, 1.0) * 65535).astype(np.uint16)
    plate = make_video(tmp_path / "hdr10.mov", 2, 256, 256, fps=25, pix_fmt="yuv420p10le", image=lambda i: codes,
                       color={"colorspace": 9, "color_range": 1, "color_primaries": 9, "color_trc": 16})
    info = probe(plate)
    assert display_colorspace(info) == "Rec.2100-PQ - Display"
    assert display_colorspace(probe(make_video(tmp_path / "sdr.mp4", 1, 64, 64))) is None  # plain video: as before
    with open_media(plate) as r:
        raw = r.read(0)
    shown = display_rgb8(raw, "Rec.2100-PQ - Display")
    face = (slice(30, 120), slice(90, 170))  # the astronaut's face at this size
    untonemapped = np.clip(convert_colorspace(raw, "Rec.2100-PQ - Display", "sRGB - Texture"), 0, 1)
    clipped_before = float((untonemapped[face] >= 0.995).mean())
    clipped_now = float((shown[face] >= 254).mean())
    err = np.abs(shown.astype(np.float64) - sdr).mean()
    print(f"\nPQ face: clipped {clipped_before:.0%} un-tone-mapped, {clipped_now:.0%} now; mean error against "
          f"the SDR original {err:.1f}/255")
    assert clipped_before > 0.2 and clipped_now < 0.02
    assert err < 6.0  # 10-bit 4:2:0 coding aside, the SDR picture comes back
    # each consumer reads the tag itself: the studio's frame cache and the analyser
    from studio.frames import open_reader

    cache = FrameCache(open_reader(plate))
    assert cache.known_display_colorspace is None  # not known before a frame is read (the UI thread asks this)
    np.testing.assert_array_equal(cache.get(0), shown)
    from core.media.colour import display_note

    assert display_note(cache.known_display_colorspace) == "Rec.2100-PQ shown tone mapped to SDR (ACES)"
    hdr = Analyzer(max_faces=1).analyze(str(plate))
    ref = Analyzer(max_faces=1).analyze([sdr, sdr])
    assert hdr.present[:, 0].all()
    iod = np.linalg.norm(ref.landmarks[0, 0, 33, :2] - ref.landmarks[0, 0, 263, :2])
    drift = np.linalg.norm(hdr.landmarks[0, 0, :468, :2] - ref.landmarks[0, 0, :468, :2], axis=1).mean() / iod
    assert drift < 0.03, drift


def test_display_pictures_go_back_into_an_hdr_encoding_exactly() -> None:
    """The restorer works on the display picture and only its change goes back into the plate's
    encoding (core.render.renderer): the tone mapping must invert within the SDR range. The HDR
    direction is a baked 65^3 cube (core.media.colour._display_processor): on a natural picture
    within one 8-bit code of exact, on random saturated colours within 0.002 on average."""
    import skimage.data

    from core.media.colour import from_display, to_display

    natural = cv2.resize(skimage.data.astronaut(), (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    saturated = np.random.default_rng(1).uniform(0.02, 0.95, (16, 16, 3)).astype(np.float32)
    for cs in ("Rec.2100-PQ - Display", "Rec.2100-HLG - Display", "ARRI LogC3 (EI800)"):
        assert np.abs(to_display(from_display(natural, cs), cs) - natural).max() < 1.0 / 255, cs
        assert np.abs(to_display(from_display(saturated, cs), cs) - saturated).mean() < 0.002, cs
    ramp = np.linspace(0.0, 0.75, 64, dtype=np.float32)[None, :, None].repeat(3, axis=2)  # PQ codes, 0-1000 nits
    shown = to_display(ramp, "Rec.2100-PQ - Display")[0, :, 1]
    mid = (ramp[0, :, 1] > 0.15) & (ramp[0, :, 1] < 0.7)  # 1-600 nits
    assert (np.diff(shown) >= 0).all() and (np.diff(shown)[mid[1:]] > 0).all()  # monotonic
    assert shown[-1] > 0.97  # its highlights roll off to white
