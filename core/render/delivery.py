"""Run a render job and deliver it: frames, then the sidecar JSON and the curves CSV.

Shared by `facsimile render`, the studio's render queue and the demo.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from core.errors import FacsimileError
from core.jobs.run import run_job
from core.jobs.spec import JobSpec

log = logging.getLogger(__name__)


def _models_used(ctx) -> list[dict]:
    """Which models made the analysis and the render (for the sidecar)."""
    meta = getattr(ctx.analysis, "meta", {}) or {}
    models = [{"stage": "analysis", **({"detail": meta} if meta else {"detail": "embedded MediaPipe/dlib"})}]
    models.append({"stage": "restoration", "status": ctx.renderer.restore_status})
    models.append({"stage": "occlusion", "status": "off: no occlusion (face-parsing) model is installed; "
                                                  "occluders in front of the face are not protected"})
    return models


def run_render_job(spec: JobSpec, engine: str = "local", address: str | None = None, template: dict | None = None,
                   progress_bar: bool = False, progress: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> dict:
    """Render `spec` (resumable) and write its sidecars. Returns {"output", "sidecar", "csv", "notes"}."""
    from core.delivery.sidecar import build_sidecar, write_curves_csv, write_sidecar
    from core.render.job import ShotRenderContext

    settings = dict(spec.settings)
    render_id = settings.pop("render_id", None)
    consent = settings.pop("consent", None)
    ctx = ShotRenderContext(spec.source, spec.shot, settings)
    notes = []
    if ctx.renderer.restore_status.startswith("off") and ctx.settings.restore != "off":
        notes.append(f"restoration is OFF: {ctx.renderer.restore_status[5:]}")
    notes.append("no occlusion model ran: a hand or object in front of the face is not kept from the plate")
    for note in notes:
        log.warning(note)
    bar = None
    if progress_bar and progress is None:
        from tqdm import tqdm

        bar = tqdm(total=spec.last - spec.first + 1, unit="frame", desc="render")

        def progress(n: int, total: int) -> None:  # noqa: ARG001
            bar.update(n)
    try:
        out = run_job(spec, engine=engine, address=address, progress=progress, cancel=cancel)
    finally:
        if bar is not None:
            bar.close()
    frames = np.arange(spec.first, spec.last + 1)
    curves = {}
    confidence = None
    if ctx.curves is not None:
        names = [n for n in ctx.curves.names if n.startswith("AU")]
        first, last = ctx.curves.frame_range
        inside = (frames >= first) & (frames <= last)
        for n in names:
            vals = np.full(len(frames), np.nan)
            vals[inside] = ctx.curves.evaluate(n, frames[inside])
            curves[n] = vals
        if ctx.curves.confidence is not None:
            confidence = np.full(len(frames), np.nan)
            confidence[inside] = np.asarray(ctx.curves.confidence)[frames[inside] - first]
    plate = ctx.project.plate_of(ctx.shot)
    doc = build_sidecar(
        render_id=render_id or "", output=str(out), inputs={"plate": plate.path, "project": str(spec.source)},
        frames=(spec.first, spec.last), settings=ctx.settings.to_json(), models=_models_used(ctx),
        template=template, consent=consent, curves=curves, confidence=confidence,
        fps=f"{Fraction(ctx.fps).numerator}/{Fraction(ctx.fps).denominator}",
        alpha=("premultiplied" if spec.sequence and spec.output.lower().endswith(".exr") else "straight")
        if ctx.settings.output == "patch" else "none (comp: opaque; matte in mask.Y for EXR)" if
        ctx.settings.output == "comp" else "matte in RGB",
        colourspace=spec.writer.get("colorspace") or ("Linear Rec.709 (sRGB)" if spec.output.lower().endswith(".exr")
                                                      else "Rec.709 (BT.709, limited range)"),
        shot=ctx.shot.name, extra={"job_id": spec.job_id, "notes": notes,
                                   "start_number": spec.start_number if spec.sequence else None},
    )
    sidecar = write_sidecar(out, doc)
    csv_path = write_curves_csv(out, frames, float(ctx.fps), curves, confidence) if curves else None
    ctx.close()
    if not out.exists() and not spec.sequence:
        raise FacsimileError(f"the render finished but {out} is missing")
    return {"output": str(out), "sidecar": str(sidecar), "csv": str(csv_path) if csv_path else None, "notes": notes}
