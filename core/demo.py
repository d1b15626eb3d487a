"""The built-in demo (`make demo`): a short performance keyed on the public-domain NASA
astronaut portrait, rendered to ProRes 4444 and EXR, then re-analysed to show how well the
engine recovers what was keyed.

Steps: plate from the still (scikit-image ships it) -> project -> analysis -> AU curves ->
keys (a smile, a blink, a brow raise) on an edit layer -> render (edit mode, Poisson) ->
re-analysis of the render -> per-AU correlation and error against the keyed curves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FPS = Fraction(24)
N_FRAMES = 48
# (curve, [(frame, value), ...]) keys of the performance, on top of the extracted base.
PERFORMANCE = [
    ("AU12", [(2, 0.0), (10, 3.5), (18, 3.5), (24, 0.0)]),  # smile
    ("AU06", [(2, 0.0), (10, 2.0), (18, 2.0), (24, 0.0)]),  # cheeks with the smile
    ("AU45", [(26, 0.0), (29, 5.0), (32, 0.0)]),  # blink
    ("AU01", [(34, 0.0), (39, 3.0), (44, 3.0), (47, 0.0)]),  # brow raise (inner)
    ("AU02", [(34, 0.0), (39, 3.0), (44, 3.0), (47, 0.0)]),  # brow raise (outer)
]


def make_plate(path: Path, frames: int = N_FRAMES) -> Path:
    """A still plate of the astronaut portrait as near-lossless H.264 (crf 4, 24 fps)."""
    import av
    from skimage import data

    img = data.astronaut()
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = img.shape[1], img.shape[0], "yuv444p"
        s.options = {"crf": "4", "preset": "fast", "colorprim": "bt709", "transfer": "bt709", "colormatrix": "bt709"}
        s.codec_context.color_primaries = 1
        s.codec_context.color_trc = 1
        s.codec_context.colorspace = 1
        vf = av.VideoFrame.from_ndarray(img, format="rgb24")
        for _ in range(frames):
            for p in s.encode(vf.reformat(format="yuv444p", dst_colorspace="ITU709", dst_color_range="MPEG")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def run_demo(out_dir: str | Path, frames: int = N_FRAMES, say: Callable[[str], None] = print) -> dict:
    """Run the whole demo into `out_dir`; returns the recovery report."""
    from core.analysis.analyzer import Analyzer
    from core.curves import Interp, Key, Layer
    from core.project import Plate, Project, extract_curves
    from core.render.delivery import render_shot

    out = Path(out_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)
    say(f"1/6 plate: {frames} frames of the NASA astronaut portrait (public domain) -> {out / 'plate.mp4'}")
    plate_path = make_plate(out / "plate.mp4", frames)
    proj_path = out / "demo.facsimile"
    project = Project.create(proj_path, name="demo") if not proj_path.exists() else Project(proj_path, name="demo")
    plate = project.add_plate(Plate.from_media(plate_path))
    shot = project.new_shot(plate.id, 0, frames - 1, name="astronaut")
    say("2/6 analysis: face detection, 478 landmarks, tracking, head pose")
    analyzer = Analyzer()
    shot.analysis = analyzer.analyze(str(plate_path), frames=(0, frames))
    say("3/6 AU curves extracted from the plate")
    shot.curves = extract_curves(shot)
    cs = shot.curves[int(shot.analysis.track_ids[0])]
    layer = Layer("Performance", mode="additive")
    for name, keys in PERFORMANCE:
        curve = layer.curve(name, create=True)
        curve.set_keys([Key(f, v, interp=Interp.BEZIER) for f, v in keys])
    cs.layers.append(layer)
    shot.render_settings = {"mode": "edit", "blend": "poisson", "output": "comp"}
    project.save()
    say("4/6 keyed a smile (AU12+AU6), a blink (AU45) and a brow raise (AU1+AU2) on the 'Performance' layer")

    results = {}
    for label, target in (("ProRes 4444", out / "astronaut_performance.mov"),
                          ("EXR (PIZ, linear Rec.709)", out / "exr" / "astronaut_performance.####.exr")):
        target.parent.mkdir(parents=True, exist_ok=True)
        say(f"5/6 render ({label}) -> {target}")
        render_shot(str(proj_path), str(target), shot=shot.id)
        results[label] = str(target)
    say("6/6 re-analysing the ProRes render and comparing the recovered curves with the keys")
    report = recovery_report(project, shot, out / "astronaut_performance.mov", analyzer)
    for line in format_report(report):
        say(line)
    return {"outputs": results, "recovery": report}


def recovery_report(project, shot, render_path: Path, analyzer) -> dict:
    """Per keyed AU: Pearson r and mean absolute error between the edited curve and the
    curve the engine extracts from the rendered frames."""
    from core.facs import extract_shot

    analysis = analyzer.analyze(str(render_path))
    faces = extract_shot(analysis)
    if not faces:
        return {"error": "no face found in the render"}
    face = faces[0]
    cs = shot.curves[int(shot.analysis.track_ids[0])]
    frames = np.asarray(analysis.frame_indices)
    rows = {}
    for name, _ in PERFORMANCE:
        want = cs.evaluate(name, frames)
        got = face.filtered[:, face.names.index(name)]
        ok = np.isfinite(want) & np.isfinite(got)
        r = float(np.corrcoef(want[ok], got[ok])[0, 1]) if ok.sum() > 2 and np.std(got[ok]) > 0 else float("nan")
        rows[name] = {"pearson_r": round(r, 3), "mae": round(float(np.mean(np.abs(want[ok] - got[ok]))), 3),
                      "keyed_peak": round(float(np.nanmax(want)), 2), "recovered_peak": round(float(np.nanmax(got)), 2)}
    return rows


def format_report(report: dict) -> list[str]:
    if "error" in report:
        return [f"recovery: {report['error']}"]
    lines = [f"{'curve':<6} {'Pearson r':>10} {'MAE':>6} {'keyed peak':>11} {'recovered peak':>15}"]
    for name, row in report.items():
        lines.append(f"{name:<6} {row['pearson_r']:>10.3f} {row['mae']:>6.2f} {row['keyed_peak']:>11.2f} "
                     f"{row['recovered_peak']:>15.2f}")
    return lines
