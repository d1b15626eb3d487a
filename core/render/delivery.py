"""Run a render job and deliver it: frames, then the sidecar JSON and the curves CSV.

Shared by `facsimile render`, the studio's render queue and the demo.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from core.errors import FacsimileError, MediaError
from core.jobs.run import finalize, run_job
from core.jobs.spec import JobSpec, sequence_path
from core.util.report import HANDED_BACK

log = logging.getLogger(__name__)


def _models_used(ctx) -> list[dict]:
    """Which models made the analysis and the render, and on which runtime provider (for the sidecar)."""
    meta = getattr(ctx.analysis, "meta", {}) or {}
    analysis = {k: meta[k] for k in ("detector", "landmarker", "embedder", "detect_every", "max_faces") if k in meta}
    models = [{"stage": "analysis", "detail": analysis or "embedded MediaPipe/dlib",
               "provider": "CPU (MediaPipe TFLite, dlib)"}]
    # the AU bases: the render moves the mesh by their synthesis; the curves were solved with
    # the version their extraction recorded (None: extracted before it was recorded)
    from core.facs.model import MODEL_FILE, model_version

    curves = getattr(ctx, "curves", None)
    solved = ((getattr(curves, "extraction", None) or {}).get("calibration") or {}).get("au_model")
    models.append({"stage": "au_model", "file": f"resources/{MODEL_FILE}", "version": model_version(),
                   "curves_solved_with": solved})
    restore = {"stage": "restoration", "status": ctx.renderer.restore_status}
    restorer = ctx.renderer.restorer
    if restorer is not None:
        runner = getattr(restorer, "runner", None)
        manifest = getattr(restorer, "manifest", None)
        restore["model"] = ctx.settings.restore
        restore["provider"] = getattr(runner, "provider", None)
        if manifest is not None:
            restore["sha256"] = getattr(manifest, "sha256", None)
    models.append(restore)
    occlusion = {"stage": "occlusion", "status": ctx.renderer.occlusion_status}
    occluder = ctx.renderer.occluder
    if occluder is not None:
        manifest = getattr(occluder, "manifest", None)
        occlusion["model"] = ctx.renderer.occlusion_model
        occlusion["provider"] = getattr(getattr(occluder, "runner", None), "provider", None)
        if manifest is not None:
            occlusion["sha256"] = getattr(manifest, "sha256", None)
            occlusion["file"] = getattr(manifest, "file", None)
    models.append(occlusion)
    try:
        import onnxruntime as ort

        models.append({"stage": "runtime", "onnxruntime": ort.__version__,
                       "available_providers": ort.get_available_providers()})
    except ImportError:  # pragma: no cover - onnxruntime is a core dependency
        pass
    return models


def _delivery_info(spec: JobSpec, settings) -> dict:
    """The "delivery" block of the sidecar: format, colour, numbering, handles, preset."""
    from core.delivery.presets import alpha_convention, output_format

    w = spec.writer
    fmt = output_format(spec.output)
    info = {"format": fmt, "preset": w.get("preset"), "output": settings.output, "pattern": spec.output}
    if fmt == "prores":
        info["codec"] = w.get("codec", "prores4444")
        info["colourspace"] = w.get("colorspace") or "Rec.709 (BT.709, limited range), plate code values"
    elif fmt == "exr":
        from core.media.colour import DEFAULT_LINEAR_COLORSPACE

        info.update({"pixel_type": w.get("pixel_type", "half"), "compression": w.get("compression", "piz"),
                     "colourspace": w.get("colorspace") or DEFAULT_LINEAR_COLORSPACE,
                     "channels": ["R", "G", "B", "A", "mask.Y"]})
    else:
        info.update({"bit_depth": 16, "colourspace": w.get("colorspace") or "sRGB - Texture (plate encoding)"})
    if spec.sequence:
        handles = w.get("handles") or {}
        info["numbers"] = {"first": spec.output_number(spec.first), "last": spec.output_number(spec.last)}
        if handles:
            info["numbers"]["cut_in"] = spec.output_number(handles["frame_in"])
            info["numbers"]["cut_out"] = spec.output_number(handles["frame_out"])
        info["start_number"] = spec.start_number
    if w.get("handles"):
        info["handles"] = w["handles"]
    info["alpha"] = alpha_convention(fmt, w.get("codec", "prores4444"), settings.output, bool(w.get("plate_alpha")))
    return info


def parting_notes(curves, first: int, last: int) -> list[str]:
    """Where the render cannot part the lips as AU25 is keyed (core.render.retarget.parting_shortfall),
    one note per direction with the frames, so an artist is not surprised by the re-analysed curve."""
    from core.curves.curveset import frame_ranges
    from core.render.retarget import PARTING_ADVICE, parting_shortfall

    if curves is None:
        return []
    c0, c1 = curves.frame_range
    frames = np.arange(max(first, c0), min(last, c1) + 1)
    names = [n for n in curves.base if n.startswith("AU")]
    if not len(frames) or "AU25" not in names:
        return []
    base = {n: np.asarray(curves.base[n], np.float64)[frames - c0] for n in names}
    edit = {n: np.asarray(curves.evaluate(n, frames), np.float64) for n in names}
    changed = np.zeros(len(frames), bool)
    for n in names:
        changed |= ~np.isclose(edit[n], base[n], atol=1e-6, equal_nan=True)
    missed: dict[str, list[tuple[int, float, float]]] = {"short": [], "apart": []}
    for i in np.flatnonzero(changed):
        r = parting_shortfall({n: base[n][i] for n in names}, {n: edit[n][i] for n in names})
        if r is not None:
            missed[r[0]].append((int(frames[i]), r[1], r[2]))
    notes = []
    if missed["short"]:
        short = missed["short"]
        notes.append(f"AU25 (lips part) asks for up to {max(a for _, a, _ in short):.1f} but renders at most "
                     f"{max(g for _, _, g in short):.1f} on frames {frame_ranges(f for f, _, _ in short)}: "
                     f"{PARTING_ADVICE['short']}")
    if missed["apart"]:
        apart = missed["apart"]
        notes.append(f"AU25 (lips part) asks for as little as {min(a for _, a, _ in apart):.1f} but renders up to "
                     f"{max(g for _, _, g in apart):.1f} on frames {frame_ranges(f for f, _, _ in apart)}: "
                     f"{PARTING_ADVICE['apart']}")
    return notes


def shot_fingerprint(project, shot, template: dict | None = None) -> str:
    """sha256 (16 hex digits) of what a shot's render is made from besides the render's own
    arguments: its curves (every layer, key and gain), analysis, range, settings and identity,
    the plate's record (hash, colour space, pixel aspect), the AU model, and a swap's template.
    A render job's id carries it (JobSpec.content): a render after an edit is a new job."""
    import hashlib
    import json

    from core.facs.model import model_version

    def plain(o):  # arrays in the curves' state come as bytes
        return hashlib.sha256(o).hexdigest() if isinstance(o, bytes) else str(o)

    plate = project.plate_of(shot)
    blob = json.dumps({"shot": shot.state(), "plate": plate.to_dict(), "au_model": model_version(),
                       "template": template}, sort_keys=True, default=plain)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def template_fingerprint(template) -> dict | None:
    """What of an identity template a swap render is made from: its id and the bytes of its
    texture and neutral mesh. Not its name or consent record: renaming it or renewing the consent
    must not turn an interrupted render into a new one (consent is checked on its own when a job
    runs: ShotRenderContext)."""
    import hashlib

    if template is None:
        return None

    def digest(name: str) -> str | None:
        try:
            return hashlib.sha256((Path(template.path) / name).read_bytes()).hexdigest()
        except OSError:
            return None

    return {"id": template.id, "texture": digest("texture.png"), "mesh": digest("neutral_mesh.npy")}


def existing_output(spec: JobSpec) -> str:
    """What of a job's output is already on disk ("" if nothing): the movie, or the frames of
    the pattern (any number: frames an earlier, longer render left are part of what a reader of
    the sequence sees)."""
    from core.media.reader import sequence_files

    if not spec.sequence:
        return "a file" if Path(spec.output).exists() else ""
    files = sequence_files(spec.output)
    return f"{len(files)} frame(s) of the sequence" if files else ""


def _output_job(spec: JobSpec) -> str | None:
    """The job id the output's sidecar names (None: no output, or no readable sidecar)."""
    from core.delivery.sidecar import read_sidecar

    if not existing_output(spec):
        return None
    try:
        doc = read_sidecar(spec.output)
    except (OSError, ValueError):
        return None
    return str(doc["job_id"]) if isinstance(doc, dict) and doc.get("job_id") else None


def run_render_job(spec: JobSpec, engine: str = "local", address: str | None = None, template: dict | None = None,
                   progress_bar: bool = False, progress: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool] | None = None, finalize_only: bool = False,
                   on_note: Callable[[str], None] | None = None) -> dict:
    """Render `spec` (resumable) and write its sidecars. Returns {"output", "sidecar", "csv", "notes"}.
    One job at a time writes an output (core.jobs.lock), sidecars included.

    template: the identity template's summary for the sidecar (default: the shot's, in swap mode).
    finalize_only: the frames were rendered chunk by chunk (a farm's `job run --chunk N`): check
    them, join a movie's chunks and write the sidecars (`facsimile job finalize`).
    on_note: called with each note as soon as it is known, before any frame renders (the
    command line says them there; the notes also come back in the result and the sidecar)."""
    from core.jobs.lock import output_lock

    with output_lock(spec.output, spec.job_id):
        return _run_render_job(spec, engine, address, template, progress_bar, progress, cancel, finalize_only,
                               on_note)


def _run_render_job(spec: JobSpec, engine: str, address: str | None, template: dict | None, progress_bar: bool,
                    progress: Callable[[int, int], None] | None, cancel: Callable[[], bool] | None,
                    finalize_only: bool, on_note: Callable[[str], None] | None) -> dict:
    from core.delivery.sidecar import build_sidecar, write_curves_csv, write_sidecar
    from core.project.model import DOC_NAME
    from core.project.plates import check_plate
    from core.render.job import ShotRenderContext

    settings = dict(spec.settings)
    render_id = settings.pop("render_id", None)
    consent = settings.pop("consent", None)
    template_id = settings.pop("template", None)
    ctx = ShotRenderContext(spec.source, spec.shot, settings, content=spec.content, template_id=template_id,
                            consent=consent)
    try:
        if template is None and ctx.template is not None:
            template = ctx.template.summary()
        notes = []
        if ctx.renderer.restore_status.startswith("off") and ctx.settings.restore != "off":
            notes.append(f"restoration is OFF: {ctx.renderer.restore_status[5:]}")
        if ctx.renderer.occluder is None:
            why = ctx.renderer.occlusion_status.removeprefix("off: ")
            notes.append(f"no occlusion model ran: a hand or object in front of the face is not kept from the plate "
                         f"({why})")
        else:
            log.info("occlusion model %s ran (%s): what covers the face on the plate is kept from the plate",
                     ctx.renderer.occlusion_model, getattr(ctx.renderer.occluder.runner, "provider", "?"))
        if ctx.settings.output == "patch" and spec.writer.get("codec") == "prores422hq" and not spec.sequence:
            notes.append("ProRes 422 HQ has no alpha: this patch carries no matte (use prores4444 or EXR)")
        notes += _vfr_notes(ctx.reader.info, spec)
        notes += parting_notes(ctx.curves, spec.first, spec.last)
        notes += _unanalysed_frames(ctx.shot.name, [ctx.curves.frame_range] if ctx.curves is not None else [],
                                    spec.first, spec.last)
        plate_check = check_plate(ctx.project.plate_of(ctx.shot), ctx.reader)
        if plate_check.state != "ok":
            notes.append(plate_check.message)
        if ctx.shot.plate_id in ctx.project.relocated:
            notes.append(f"plate {ctx.shot.plate_id} was not at {ctx.project.relocated[ctx.shot.plate_id]}; the same "
                         f"file was found beside the moved project and rendered from {ctx.reader.info.path}")
        for note in notes:
            log.warning(note, extra=HANDED_BACK)
            if on_note is not None:
                on_note(note)
        bar = None
        if progress_bar and progress is None:
            from tqdm import tqdm

            bar = tqdm(total=spec.last - spec.first + 1, unit="frame", desc="render")

            def progress(n: int, total: int) -> None:  # noqa: ARG001
                bar.update(n)
        try:
            out = finalize(spec) if finalize_only else run_job(spec, engine=engine, address=address, progress=progress,
                                                                cancel=cancel)
        finally:
            if bar is not None:
                bar.close()
        # the new frames are published: an earlier render's sidecars no longer describe them (a
        # cancelled or failed render leaves the earlier delivery whole, sidecars included)
        _drop_stale_sidecars(spec.output, render_id)
        for stale in spec.writer.get("replace", []):  # --overwrite: frames of the earlier render outside this one
            Path(stale).unlink(missing_ok=True)
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
        delivery = _delivery_info(spec, ctx.settings)
        inputs = {"plate": plate.path, "project": str(Path(spec.source) / DOC_NAME)}
        if template and template.get("path"):
            inputs["identity_template"] = template["path"]
        doc = build_sidecar(
            render_id=render_id or "", output=str(out), inputs=inputs,
            frames=(spec.first, spec.last), settings=ctx.settings.to_json(), models=_models_used(ctx),
            template=template, consent=consent, curves=curves, confidence=confidence,
            fps=f"{Fraction(ctx.fps).numerator}/{Fraction(ctx.fps).denominator}",
            alpha=delivery["alpha"], colourspace=delivery["colourspace"],
            shot=ctx.shot.name, extra={"job_id": spec.job_id, "notes": notes, "delivery": delivery,
                                       "shot_range": {"frame_in": ctx.shot.frame_in, "frame_out": ctx.shot.frame_out,
                                                      "handles": ctx.shot.handles},
                                       "start_number": spec.start_number if spec.sequence else None},
        )
        sidecar = write_sidecar(out, doc)
        # a variable-frame-rate plate's frames at their own times, as its analysis and the .mov have them
        times = (np.array([ctx.reader.frame_time(int(f)) for f in frames])
                 if getattr(ctx.reader.info, "vfr", False) else None)
        csv_path = write_curves_csv(out, frames, float(ctx.fps), curves, confidence, times) if curves else None
    finally:
        ctx.close()
    if not out.exists() and not spec.sequence:
        raise FacsimileError(f"the render finished but {out} is missing")
    return {"output": str(out), "sidecar": str(sidecar), "csv": str(csv_path) if csv_path else None, "notes": notes}


def _vfr_notes(info, spec: JobSpec) -> list[str]:  # noqa: ANN001 - MediaInfo
    """What a render of a variable-frame-rate plate keeps of its timing, and how to conform it."""
    if not getattr(info, "vfr", False):
        return []
    from core.media.timing import suggested_rate, vfr_rates

    plate = f"the plate {Path(info.path).name} has a variable frame rate ({vfr_rates(info)})"
    out, rate = Path(spec.output), suggested_rate(info)
    conform = f"facsimile convert {out.name} {out.stem}_{rate}{out.suffix} --fps {rate}"
    if spec.sequence:
        return [f"{plate}; an image sequence holds no frame times: its frames are the plate's one for one, tagged "
                f"with the nominal {float(info.fps):.3f} fps (render a .mov to keep the plate's times)"]
    return [f"{plate}: the .mov keeps every plate frame at its own time (a variable-rate movie, frame for frame with "
            f"the plate); to deliver it at a constant rate, conform it: {conform}"]


def _unanalysed_frames(shot_name: str, ranges: list[tuple[int, int]], first: int, last: int) -> list[str]:
    """A note naming the frames first..last that have no AU curves (outside the frames the shot
    was analysed over, `ranges` of its faces' curves: they are the plate as it is); FacsimileError
    when none has any (the render would re-render nothing and still 'succeed')."""
    if not ranges:
        return []
    lo, hi = min(a for a, _ in ranges), max(b for _, b in ranges)
    if not any(a <= last and first <= b for a, b in ranges):
        raise FacsimileError(f"frames {first}-{last} are outside the frames shot {shot_name!r} was analysed over "
                             f"({lo}-{hi}): nothing would be re-rendered; render frames inside them or analyse "
                             "these frames first")
    if first < lo or last > hi:
        out = [f"{a}-{b}" for a, b in ((first, min(last, lo - 1)), (max(first, hi + 1), last)) if a <= b]
        return [f"frames {', '.join(out)} have no AU curves (outside the analysed frames {lo}-{hi}): they are the "
                "plate as it is"]
    return []


def _drop_stale_sidecars(output: str | Path, render_id: str | None) -> None:
    """Once a render has published its frames, remove the sidecar and curves CSV of another
    render of the same output (an --overwrite) before writing its own: when writing those then
    failed (a full disk), the new movie sat beside the old render's sidecar, a matched-looking
    set that described another render."""
    from core.delivery.sidecar import curves_csv_path, read_sidecar, sidecar_path

    try:
        doc = read_sidecar(output)
    except (OSError, ValueError):
        doc = None
    if isinstance(doc, dict) and render_id and doc.get("render_id") != render_id:
        for p in (sidecar_path(output), curves_csv_path(output)):
            Path(p).unlink(missing_ok=True)


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
    """A shot by id, name (case-insensitive) or 1-based position, as every `--shot` takes it
    (core.project.workflow.resolve_shot); default: the first. ProjectError (exit 4: a shot that
    does not fit) when there is none."""
    from core.errors import ProjectError
    from core.project.workflow import resolve_shot

    if not key:
        if not project.shots:
            raise ProjectError(f"{project.path} has no shots: add some with `facsimile project shots`")
        return project.shots[0]
    return resolve_shot(project, key)


def resolve_output(out: str, shot_name: str, fmt_ext: str | None, output: str) -> str:
    """`out` itself, or, when it is an existing folder (or ends with a slash), a name in it
    made from the shot, the output and the format: ``DIR/SHOT_patch.####.exr``."""
    from pathlib import Path

    from core.media.writers import is_sequence_pattern

    if out.endswith(("/", "\\")) or Path(out).is_dir():
        ext = fmt_ext or ".mov"
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in shot_name) or "shot"
        name = f"{safe}_{output}{ext}" if ext == ".mov" else f"{safe}_{output}.####{ext}"
        return str(Path(out) / name)
    if fmt_ext is not None:
        suffix = Path(out).suffix.lower()
        if suffix != fmt_ext and not (fmt_ext == ".png" and suffix in (".tif", ".tiff")):
            raise FacsimileError(f"the preset writes {fmt_ext} files but --out is {out!r}: use a name like "
                                 + ("shot.mov" if fmt_ext == ".mov" else f"shot.####{fmt_ext}") + " or a folder")
        if fmt_ext != ".mov" and not is_sequence_pattern(out):
            raise FacsimileError(f"--out {out!r} needs a frame-number pattern, e.g. shot.####{fmt_ext}")
    suffix = Path(out).suffix.lower()
    if suffix in (".exr", ".png", ".tif", ".tiff") and not is_sequence_pattern(out):
        # a render is a sequence of frames: without ####, 'shot.exr' became a QuickTime movie named .exr
        stem = Path(out).name[: -len(suffix)]
        raise FacsimileError(f"--out {out!r} names one {suffix} file, but a render writes one per frame: use a "
                             f"frame-number pattern, e.g. {stem}.####{suffix}")
    return out


def render_shot(project_path: str, out: str, *, shot: str | None = None, frames: str | tuple[int, int] | None = None,
                overrides: dict | None = None, template: str | None = None, override_consent: str | None = None,
                codec: str | None = None, colorspace: str | None = None, compression: str | None = None,
                pixel_type: str | None = None, start_number: int = 1001, handles: int | None = None,
                preset: str | None = None, engine: str = "local", address: str | None = None, chunk: int = 24,
                job_only: str | None = None, progress_bar: bool = False, overwrite: bool = False,
                progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None,
                on_note: Callable[[str], None] | None = None) -> dict:
    """Render a shot of a project to `out` (.mov, a sequence pattern or a folder) as a resumable job.

    prepare_render describes the job (every check, the render id); run_render_job renders it and
    writes the sidecars. `job_only`: write the job description there and stop. `on_note`: see
    run_render_job.
    """
    spec = prepare_render(project_path, out, shot=shot, frames=frames, overrides=overrides, template=template,
                          override_consent=override_consent, codec=codec, colorspace=colorspace,
                          compression=compression, pixel_type=pixel_type, start_number=start_number,
                          handles=handles, preset=preset, chunk=chunk, overwrite=overwrite)
    if job_only:
        spec.save()
        return {"output": str(spec.save(job_only)), "notes": []}
    return run_render_job(spec, engine=engine, address=address, progress_bar=progress_bar, progress=progress,
                          cancel=cancel, on_note=on_note)


def prepare_render(project_path: str, out: str, *, shot: str | None = None,
                   frames: str | tuple[int, int] | None = None, overrides: dict | None = None,
                   template: str | None = None, override_consent: str | None = None, codec: str | None = None,
                   colorspace: str | None = None, compression: str | None = None, pixel_type: str | None = None,
                   start_number: int = 1001, handles: int | None = None, preset: str | None = None,
                   chunk: int = 24, overwrite: bool = False) -> JobSpec:
    """The resumable render job of a shot (core.jobs.JobSpec), checked and ready for run_render_job:
    what `facsimile render` and the studio's render queue both run.

    `preset` (core.delivery.presets) sets format, colour space, pixel type, compression and
    output; explicit arguments override it. Without `frames` the render covers the shot's
    range with `handles` frames before and after (default: the shot's own handles), clipped
    to the plate; the cut-in frame is always numbered `start_number + handles`.

    Running it again with the same arguments on the same shot resumes the same job (same render
    id); after an edit of the shot (curves, analysis, settings, plate) it is a new job, and an
    existing output (a movie, or any frame of the pattern) is refused unless `overwrite`: then it
    is replaced, and a sequence's frames outside the new range are removed once it is done. A swap
    render needs a template with a valid consent record, or `override_consent` (a reason,
    recorded in the metadata). Raises FacsimileError on anything that would stop the render.
    """
    from pathlib import Path

    from core.delivery.presets import MATTE_COLORSPACE, get_preset, output_format
    from core.delivery.provenance import provenance_tags
    from core.delivery.sidecar import new_render_id
    from core.project import Project
    from core.render.renderer import RenderSettings

    pre = get_preset(preset) if preset else None
    overrides = dict(overrides or {})
    if pre is not None:
        overrides.setdefault("output", pre.output)
        codec = codec or (pre.codec if pre.format == "prores" else None)
        colorspace = colorspace or pre.colorspace
        compression = compression or pre.compression
        pixel_type = pixel_type or pre.pixel_type
    codec, compression, pixel_type = codec or "prores4444", compression or "piz", pixel_type or "half"
    if pixel_type not in ("half", "float"):
        raise FacsimileError(f"EXR pixel type must be half or float (got {pixel_type!r})")
    if handles is not None and handles < 0:
        raise FacsimileError(f"handles must be >= 0 (got {handles})")
    project = Project.load(project_path)
    sh = find_shot(project, shot)
    plate = project.plate_of(sh)
    rs = RenderSettings.from_json({**(sh.render_settings or {}), **overrides})
    from core.runtime.registry import get_manifest

    for model_id in (rs.restore, rs.occlusion):
        if model_id not in ("off", "auto", "", None):
            get_manifest(model_id)  # a mistyped id is refused here (it rendered without the stage, exit 0)
    out = resolve_output(out, sh.name, pre.extension if pre else None, rs.output)
    fmt = output_format(out)
    consent = None
    if rs.mode == "swap":
        from core.identity.consent import check_consent
        from core.identity.library import Library

        template_id = template or sh.identity
        if not template_id:
            raise FacsimileError("swap mode needs an identity template: --template ID or assign one to the shot")
        tpl = Library(project.library_path).get(template_id)
        consent = check_consent(tpl, override=bool(override_consent), reason=override_consent or "")
        # a --template is this render's only: the project is not written (`project assign` does that),
        # and the job carries the template's id, not a name another template may share later
    handle_info = None
    if isinstance(frames, tuple) or frames:
        first, last = frames if isinstance(frames, tuple) else parse_frames(frames, sh.range_with_handles)
        number_offset = 0
    else:
        h = sh.handles if handles is None else int(handles)
        want_first, want_last = sh.frame_in - h, sh.frame_out + h
        first, last = max(0, want_first), min(plate.frame_count - 1, want_last) if plate.frame_count else want_last
        number_offset = first - want_first  # the cut-in keeps its number when the plate lacks head frames
        handle_info = {"requested": h, "head": sh.frame_in - first, "tail": last - sh.frame_out,
                       "frame_in": sh.frame_in, "frame_out": sh.frame_out}
        if handle_info["head"] < h or handle_info["tail"] < h:
            log.warning("the plate has only %d head / %d tail frames for %d handles", handle_info["head"],
                        handle_info["tail"], h)
    if plate.frame_count and (first < 0 or last >= plate.frame_count):
        raise FacsimileError(f"frames {first}-{last} are outside the plate (frames 0-{plate.frame_count - 1})")
    # refused here too, so `render --job-only` writes no farm job that would pass the plate through
    _unanalysed_frames(sh.name, [cs.frame_range for cs in sh.curves.values()], first, last)
    if fmt == "prores" and codec == "prores422hq" and plate.width % 2:
        # said now, not by every chunk with "run again to resume", which could only fail the same way
        raise MediaError(f"ProRes 422 needs an even width; plate {plate.id} is {plate.width} pixels wide: use "
                         "ProRes 4444 (--codec prores4444) or an EXR sequence")
    target = str(Path(out).absolute())
    writer = {"codec": codec, "start_number": int(start_number) + number_offset, "timecode": None}
    if fmt == "exr":
        writer.update({"compression": compression, "pixel_type": pixel_type})
    if colorspace:
        writer["colorspace"] = colorspace
    # the plate's colour space: a linear (float) plate must not be read as sRGB by the writer
    from core.media.colour import plate_colorspace
    from core.media.timing import nominal_offset
    from core.project.plates import open_fitting_plate

    with open_fitting_plate(plate, f"render shot {sh.name}") as reader:
        # the plate's colour space as the project says (a camera log plate), else as its files say
        in_cs, plate_premultiplied = plate_colorspace(reader.info, reader.read(first).dtype, plate.colorspace)
        plate_alpha = bool(reader.info.has_alpha)
        if plate.timecode:  # by time on a VFR plate, as convert and the studio's convert job count it
            writer["timecode"] = plate.timecode_for_frame(nominal_offset(reader, first, plate.fps))
    writer["input_colorspace"] = in_cs
    if plate_alpha:
        writer["plate_alpha"] = True  # for the sidecar's alpha note (a comp keeps the plate's alpha)
    if plate.pixel_aspect != 1.0:
        writer["pixel_aspect"] = plate.pixel_aspect  # the render keeps the plate's pixel grid, tagged as the plate
    if rs.output == "patch":
        writer["premultiplied"] = True
    elif plate_premultiplied:
        writer["premultiplied"] = True  # the comp keeps the plate's (EXR) alpha convention
    if rs.output == "matte" and fmt == "exr":
        # a matte is data: no colour transform (sRGB decoding would bend its ramp)
        writer["colorspace"] = writer["input_colorspace"] = MATTE_COLORSPACE
    if pre is not None:
        writer["preset"] = pre.name
    if handle_info is not None:
        writer["handles"] = handle_info
    job_settings = rs.to_json()
    if rs.mode == "swap" and tpl.id != sh.identity:
        job_settings["template"] = tpl.id
    content = shot_fingerprint(project, sh, template_fingerprint(tpl) if rs.mode == "swap" else None)
    spec = JobSpec.create("render", str(Path(project_path).absolute()), target, (first, last), shot=sh.id,
                          writer=writer, settings=job_settings, chunk_size=chunk, content=content)
    existing = spec.job_dir / "job.json"
    if existing.exists():
        # the same render was made or started before; its output may since be another render's
        # (the same command run again after an --overwrite with other settings)
        owner = _output_job(spec)
        if owner is not None and owner != spec.job_id:
            if not overwrite:
                raise MediaError(f"{spec.output} is now another render's (job {owner}), made after this job ran: pass "
                                 "--overwrite to render this one again, or choose another name")
            import shutil

            shutil.rmtree(spec.job_dir, ignore_errors=True)  # a new run of it, with a new render id
    if existing.exists():
        spec = JobSpec.load(existing)  # resume: keep the render id of the interrupted run
        log.info("resuming render job %s", spec.job_id)
    else:
        taken = existing_output(spec)
        if taken and not overwrite:
            raise MediaError(f"{spec.output} already exists ({taken}): pass --overwrite to replace it, or "
                             "choose another name")
        if taken and spec.sequence:  # the frames of the pattern this render does not write go once it succeeds
            from core.media.reader import sequence_files

            written = {sequence_path(spec.output, spec.output_number(f)) for f in spec.frames}
            writer["replace"] = [str(p) for p in sequence_files(spec.output) if p not in written]
        render_id = new_render_id()
        spec.settings = {**job_settings, "render_id": render_id, "consent": consent}
        spec.writer = {**writer, "attributes": provenance_tags(render_id)}
    return spec
