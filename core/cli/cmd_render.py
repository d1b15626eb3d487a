"""`facsimile render PROJECT --out OUT`: render a shot to ProRes or an EXR/PNG sequence.

The render is a resumable job (core.jobs): run the same command again after a crash or a
kill and only the missing frames render. Every deliverable is tagged as synthetic media,
watermarked with its render id and gets a sidecar JSON and a curves CSV beside it.
"""

from __future__ import annotations

import argparse
import logging
import sys

from core.errors import FacsimileError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a shot (edit or swap mode) to .mov or an image sequence")
    p.add_argument("project", help="NAME.facsimile project folder")
    p.add_argument("--shot", help="shot id or name (default: the first shot)")
    p.add_argument("--out", required=True, help="out.mov (ProRes) or out.####.exr / .png / .tif")
    p.add_argument("--frames", help="plate frames A-B, inclusive (default: the shot's range with handles)")
    p.add_argument("--mode", choices=["edit", "swap"], help="edit: performer's own face; swap: the template's")
    p.add_argument("--template", help="identity template id for swap mode (default: the shot's assignment)")
    p.add_argument("--output", choices=["comp", "patch", "matte"], help="full frame, face patch (RGBA) or matte")
    p.add_argument("--blend", choices=["poisson", "gaussian", "none"])
    p.add_argument("--colour", choices=["reinhard", "histogram", "none"])
    p.add_argument("--restore", help="restoration model id (e.g. gpen_bfr_512) or off")
    p.add_argument("--restore-strength", type=float)
    p.add_argument("--identity-strength", type=float, help="swap mode: 0 performer's face shape .. 1 template's")
    p.add_argument("--track", type=int, help="face track to render (default: the shot's setting, else 0)")
    p.add_argument("--codec", default="prores4444", choices=["prores4444", "prores4444xq", "prores422hq"])
    p.add_argument("--colorspace", help="EXR output colour space (default Linear Rec.709 (sRGB); e.g. ACEScg)")
    p.add_argument("--compression", default="piz", choices=["piz", "zip", "dwaa"])
    p.add_argument("--start-number", type=int, default=1001, help="first number of a sequence (default 1001)")
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (default: a local cluster)")
    p.add_argument("--chunk", type=int, default=24, help="frames per chunk (farm task)")
    p.add_argument("--override-consent", metavar="REASON",
                   help="render a template that has no valid consent record; the reason is recorded")
    p.add_argument("--job-only", metavar="JOB_JSON", help="write the job description and stop (for a farm)")
    p.set_defaults(func=_render)


def _frames(text: str | None, default: tuple[int, int]) -> tuple[int, int]:
    if not text:
        return default
    try:
        a, _, b = text.partition("-")
        first, last = int(a), int(b or a)
    except ValueError:
        raise FacsimileError(f"--frames expects A-B (e.g. 0-99), got {text!r}") from None
    if last < first:
        raise FacsimileError(f"--frames {text}: the last frame is before the first")
    return first, last


def _find_shot(project, key: str | None):
    if not key:
        if not project.shots:
            raise FacsimileError("the project has no shots")
        return project.shots[0]
    for s in project.shots:
        if key in (s.id, s.name):
            return s
    raise FacsimileError(f"no shot {key!r} in the project (shots: {', '.join(s.name for s in project.shots)})")


def _render(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.delivery.provenance import provenance_tags
    from core.delivery.sidecar import new_render_id
    from core.jobs.spec import JobSpec
    from core.project import Project
    from core.render.renderer import RenderSettings

    project = Project.load(args.project)
    shot = _find_shot(project, args.shot)
    plate = project.plate_of(shot)
    settings = dict(shot.render_settings or {})
    for key in ("mode", "output", "blend", "colour", "restore", "restore_strength", "identity_strength", "track"):
        value = getattr(args, key)
        if value is not None:
            settings[key] = value
    rs = RenderSettings.from_json(settings)
    consent = None
    template_info = None
    if rs.mode == "swap":
        from core.identity.consent import check_consent
        from core.identity.library import Library

        template_id = args.template or shot.identity
        if not template_id:
            raise FacsimileError("swap mode needs an identity template: --template ID or assign one to the shot")
        template = Library(project.library_path).get(template_id)
        consent = check_consent(template, override=bool(args.override_consent), reason=args.override_consent or "")
        template_info = template.summary()
        if template_id != shot.identity:
            shot.identity = template_id
            project.save()
    first, last = _frames(args.frames, shot.range_with_handles)
    out = str(Path(args.out).absolute())
    tc = plate.timecode_for_frame(first) if plate.timecode else None
    writer = {"codec": args.codec, "compression": args.compression, "start_number": args.start_number,
              "timecode": tc}
    if args.colorspace:
        writer["colorspace"] = args.colorspace
    if rs.output == "patch":
        writer["premultiplied"] = True
    job_settings = rs.to_json()
    spec = JobSpec.create("render", str(Path(args.project).absolute()), out, (first, last), shot=shot.id,
                          writer=writer, settings=job_settings, chunk_size=args.chunk)
    existing = spec.job_dir / "job.json"
    if existing.exists():
        spec = JobSpec.load(existing)  # resume: keep the render id of the interrupted run
        log.info("resuming render job %s", spec.job_id)
    else:
        render_id = new_render_id()
        spec.settings = {**job_settings, "render_id": render_id, "consent": consent}
        spec.writer = {**writer, "attributes": provenance_tags(render_id)}
    if args.job_only:
        spec.save()
        print(spec.save(args.job_only))
        return 0
    from core.render.delivery import run_render_job

    result = run_render_job(spec, engine=args.engine, address=args.address, template=template_info,
                            progress_bar=sys.stderr.isatty())
    print(result["output"])
    for line in result["notes"]:
        print(f"note: {line}", file=sys.stderr)
    return 0
