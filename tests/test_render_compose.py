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
