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


def parse_frames(text: str | None, default: tuple[int, int]) -> tuple[int, int]:
    """'A-B' (inclusive plate frames) or the default range."""
    if not text:
        return default
    try:
        a, _, b = str(text).partition("-")
        first, last = int(a), int(b or a)
    except ValueError:
        raise FacsimileError(f"frames: expected A-B (e.g. 0-99), got {text!r}") from None
    if last < first:
        raise FacsimileError(f"frames {text}: the last frame is before the first")
    return first, last


def find_shot(project, key: str | None):
    """A shot by id or name (default: the first)."""
    if not key:
        if not project.shots:
            raise FacsimileError("the project has no shots")
        return project.shots[0]
    for s in project.shots:
        if key in (s.id, s.name):
            return s
    raise FacsimileError(f"no shot {key!r} in the project (shots: {', '.join(s.name for s in project.shots)})")


def render_shot(project_path: str, out: str, *, shot: str | None = None, frames: str | tuple[int, int] | None = None,
                overrides: dict | None = None, template: str | None = None, override_consent: str | None = None,
                codec: str = "prores4444", colorspace: str | None = None, compression: str = "piz",
                start_number: int = 1001, engine: str = "local", address: str | None = None, chunk: int = 24,
                job_only: str | None = None, progress_bar: bool = False,
                progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None) -> dict:
    """Render a shot of a project to `out` (.mov or a sequence pattern) as a resumable job.

    Running it again with the same arguments resumes the same job (same render id). A swap
    render needs a template with a valid consent record, or `override_consent` (a reason,
    recorded in the metadata). `job_only`: write the job description there and stop.
    """
    from pathlib import Path

    from core.delivery.provenance import provenance_tags
    from core.delivery.sidecar import new_render_id
    from core.project import Project
    from core.render.renderer import RenderSettings

    project = Project.load(project_path)
    sh = find_shot(project, shot)
    plate = project.plate_of(sh)
    rs = RenderSettings.from_json({**(sh.render_settings or {}), **(overrides or {})})
    consent = None
    template_info = None
    if rs.mode == "swap":
        from core.identity.consent import check_consent
        from core.identity.library import Library

        template_id = template or sh.identity
        if not template_id:
            raise FacsimileError("swap mode needs an identity template: --template ID or assign one to the shot")
        tpl = Library(project.library_path).get(template_id)
        consent = check_consent(tpl, override=bool(override_consent), reason=override_consent or "")
        template_info = tpl.summary()
        if template_id != sh.identity:
            sh.identity = template_id
            project.save()
    first, last = frames if isinstance(frames, tuple) else parse_frames(frames, sh.range_with_handles)
    target = str(Path(out).absolute())
    tc = plate.timecode_for_frame(first) if plate.timecode else None
    writer = {"codec": codec, "compression": compression, "start_number": start_number, "timecode": tc}
    if colorspace:
        writer["colorspace"] = colorspace
    if rs.output == "patch":
        writer["premultiplied"] = True
    job_settings = rs.to_json()
    spec = JobSpec.create("render", str(Path(project_path).absolute()), target, (first, last), shot=sh.id,
                          writer=writer, settings=job_settings, chunk_size=chunk)
    existing = spec.job_dir / "job.json"
    if existing.exists():
        spec = JobSpec.load(existing)  # resume: keep the render id of the interrupted run
        log.info("resuming render job %s", spec.job_id)
    else:
        render_id = new_render_id()
        spec.settings = {**job_settings, "render_id": render_id, "consent": consent}
        spec.writer = {**writer, "attributes": provenance_tags(render_id)}
    if job_only:
        spec.save()
        return {"output": str(spec.save(job_only)), "notes": []}
    return run_render_job(spec, engine=engine, address=address, template=template_info, progress_bar=progress_bar,
                          progress=progress, cancel=cancel)
