"""The render primitives composed on real faces: template texture -> plate face (swap).

warp (texture mesh -> plate mesh, eye/mouth fill) -> hull mask -> Reinhard colour match ->
Poisson blend. Writes the plate, a plain paste and the blend side by side to test_output/.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.identity.library import align_face
from core.render import blend, colour, masks, warp


def test_swap_composition_has_no_visible_seam(shared_media, output_dir):
    from skimage.data import astronaut

    from core.analysis.analyzer import Analyzer
    from core.analysis.image import load_image

    an = Analyzer()
    src = astronaut()
    tex, tex_pts = align_face(src, an.analyze_image(src, embed=False)[0].landmarks, 1024)
    plate = load_image(shared_media("stills", "obama.jpg"))
    plate_pts = an.analyze_image(plate, embed=False)[0].landmarks

    p, tris = warp.fill_mesh(tex_pts)
    q, _ = warp.fill_mesh(plate_pts)
    face, valid = warp.warp_image(tex, p, q, tris, out_shape=plate.shape)
    hull = masks.region_mask(plate_pts, plate.shape)
    assert valid[hull > 0.99].mean() > 0.99  # the warped texture covers the whole hull
    matched = colour.match_colour(face, hull, plate, hull)
    stats_plate, stats_matched = colour.lab_stats(plate, hull), colour.lab_stats(matched, hull)
    assert np.abs(stats_plate.mean - stats_matched.mean).max() < 2.0
    out = blend.blend(matched, plate, hull, "poisson")
    pasted = blend.blend(matched, plate, hull, "none")
    assert out.dtype == np.uint8 and out.shape == plate.shape
    e_paste, e_pois = blend.seam_energy(pasted, hull), blend.seam_energy(out, hull)
    assert e_pois < 0.5 * e_paste, (e_pois, e_paste)
    x0, y0, x1, y1 = warp.points_roi(plate_pts, plate.shape, margin=60)
    sheet = np.hstack([plate[y0:y1, x0:x1], pasted[y0:y1, x0:x1], out[y0:y1, x0:x1]])
    cv2.imwrite(str(output_dir / "plate_paste_poisson.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def test_swap_edit_moves_the_plate_seen_through_the_mouth(output_dir):
    """Swap mode keeps the plate's mouth interior: an edit that moves the lips moves it too
    (the teeth follow the lips); elsewhere outside the matte the plate stays bit-exact."""
    from skimage.data import astronaut

    from core.api import MemoryTemplate, get_face_analyser
    from core.render.renderer import Renderer, RenderSettings

    plate = astronaut()
    face = get_face_analyser().get_faces(plate)[0]
    tpl_img = np.ascontiguousarray(plate[:, ::-1])
    tpl = MemoryTemplate(tpl_img, get_face_analyser().get_faces(tpl_img)[0])
    lm = face.landmarks
    base = {"AU12": 1.0, "AU25": 1.0, "AU26": 0.5}
    target = {**base, "AU12": 0.0, "AU25": 3.0, "AU26": 3.0}
    r = Renderer(RenderSettings(mode="swap", colour="none"), tpl)
    res = r.render(plate, lm, base, target)
    m = r.target_mesh(lm, base, target)
    assert np.abs(m - lm)[:, 1].max() > 3, "the edit should open the mouth by a few pixels"
    p, tris = warp.fill_mesh(m)
    moved, _ = warp.warp_image(plate.astype(np.float32), warp.fill_mesh(lm)[0], p, tris, out_shape=plate.shape[:2])
    mouth = masks.region_mask(m, plate.shape[:2], masks.Regions(skin=False, brows=False, eyes=False)) > 0.99
    mouth = cv2.erode(mouth.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert mouth.sum() > 50
    err_moved = np.abs(res.image[mouth].astype(np.float32) - moved[mouth]).mean()
    err_raw = np.abs(res.image[mouth].astype(np.float32) - plate[mouth]).mean()
    print(f"mouth interior: |render - moved plate| {err_moved:.2f}, |render - raw plate| {err_raw:.2f}")
    assert err_moved < 2.0 and err_raw > 2 * err_moved, (err_moved, err_raw)
    x0, y0, x1, y1 = warp.points_roi(m, plate.shape, margin=40)
    far = np.ones(plate.shape[:2], bool)
    far[y0:y1, x0:x1] = False
    assert np.array_equal(res.image[far], plate[far])
    sheet = np.hstack([plate[y0:y1, x0:x1], res.image[y0:y1, x0:x1]])
    cv2.imwrite(str(output_dir / "swap_mouth_edit.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def test_restoration_and_occlusion_off_are_said_in_log_and_metadata(tmp_path, caplog):
    """Restoration asked for with no model installed: the stage is off, and the render's log
    (WARNING), its per-frame info and the sidecar say so; the sidecar and the log also say
    that no occlusion model ran."""
    import json
    import logging

    from core.analysis.analyzer import Analyzer
    from core.delivery.sidecar import sidecar_path
    from core.demo import make_plate
    from core.project import Plate, Project
    from core.render.delivery import render_shot
    from core.render.renderer import Renderer, RenderSettings

    with caplog.at_level(logging.WARNING):
        r = Renderer(RenderSettings(mode="edit", restore="gpen_bfr_512"))
    assert r.restorer is None and r.restore_status.startswith("off: ")
    assert any("restoration stage is OFF" in rec.getMessage() for rec in caplog.records)
    frame = np.zeros((64, 64, 3), np.uint8)
    assert Renderer(RenderSettings()).render(frame, None).info == {"face": False}

    plate_path = make_plate(tmp_path / "plate.mp4", frames=3)
    project = Project.create(tmp_path / "p.facsimile", name="p")
    plate = project.add_plate(Plate.from_media(plate_path))
    shot = project.new_shot(plate.id, 0, 2, name="sh")
    shot.analysis = Analyzer().analyze(str(plate_path), frames=(0, 3))
    shot.render_settings = {"mode": "edit", "restore": "gpen_bfr_512"}
    project.save()
    caplog.clear()
    out = tmp_path / "r.mov"
    with caplog.at_level(logging.WARNING):
        render_shot(str(tmp_path / "p.facsimile"), str(out), chunk=3)
    logged = " | ".join(rec.getMessage() for rec in caplog.records)
    assert "restoration is OFF" in logged and "no occlusion model ran" in logged, logged
    doc = json.loads(sidecar_path(out).read_text())
    stages = {m["stage"]: m for m in doc["models"]}
    assert stages["restoration"]["status"].startswith("off: "), stages
    assert stages["occlusion"]["status"].startswith("off"), stages


def test_restorer_keeps_a_deep_plate_deep(tmp_path):
    """The restorer network reads and writes 8-bit sRGB. Only its change comes back into the
    comp, so inside the face a 16-bit plate keeps its own precision (it was quantised to 256
    levels, multiples of 257) and a linear float plate keeps its highlights above 1 (they were
    clipped to 1). The network is a real ONNX graph (an identity stand-in) run by ONNX Runtime."""
    import skimage.data

    from core.analysis.analyzer import Analyzer
    from core.render.renderer import Renderer, RenderSettings
    from core.runtime.adapters.restore import OnnxRestorer
    from tests.onnx_standins import make_restorer_standin

    img8 = skimage.data.astronaut()
    lm = np.asarray(Analyzer(max_faces=1).analyze_image(img8, embed=False)[0].landmarks, np.float32)
    restorer = OnnxRestorer(make_restorer_standin(tmp_path / "gpen_standin.onnx", 512), model_id="gpen_bfr_512",
                            strength=1.0)
    edit = {"AU12": 3.0}

    def render(frame: np.ndarray, restore: bool):
        r = Renderer(RenderSettings(mode="edit"))
        r.restorer = restorer if restore else None
        return r.render(frame, lm, {}, edit)

    # 16-bit: a smooth ramp added to the plate so that the face has values between 8-bit levels
    ramp = np.linspace(0, 255, img8.shape[1], dtype=np.float64)[None, :, None]
    img16 = np.clip(img8.astype(np.float64) * 257 + ramp, 0, 65535).astype(np.uint16)
    out = render(img16, True)
    face = out.matte > 0.99
    assert face.sum() > 3000
    assert (out.image[face] % 257 != 0).mean() > 0.9  # not 8-bit levels
    plain = render(img16, False).image
    assert np.abs(out.image[face].astype(int) - plain[face].astype(int)).mean() < 4 * 257  # the net's small change

    # linear float with a highlight above 1 on the forehead
    lin = (img8.astype(np.float32) / 255) ** 2.2
    y, x = np.round(lm[10, :2]).astype(int)[::-1]
    lin[y + 5:y + 25, x - 10:x + 10] = 4.0
    hot = np.zeros(lin.shape[:2], bool)
    hot[y + 5:y + 25, x - 10:x + 10] = True
    out = render(lin, True)
    inside = hot & (out.matte > 0.99)
    assert inside.sum() > 100
    assert np.median(out.image[inside]) > 3.0, np.median(out.image[inside])
