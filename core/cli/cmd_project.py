"""`facsimile project ACTION PATH ...`: create, inspect and edit a project from the command line.

Every action that the studio can do to produce data: plates and shots (manual range, cut
detection, CMX 3600 EDL / OTIO), analysis and AU curve extraction, keys, gains, presets,
identity assignment, render settings, evaluated curves out, recovery. Edits go through the
core commands (core.project.workflow) and end with one atomic save; an edit is refused while
an autosave newer than the last save exists (see `facsimile project recover`).
Each action prints a short summary, or JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.cli.cmd_analyze import _pixel_aspect
from core.errors import FacsimileError, ProjectError, UserCancelled

log = logging.getLogger("facsimile.project")


def _range(text: str) -> tuple[int, int]:
    """'A-B' inclusive plate frames (a single 'A' is one frame)."""
    try:
        if "-" in text[1:]:
            a, b = text.split("-", 1)
            first, last = int(a), int(b)
        else:
            first = last = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame range; give A-B, e.g. 10-120") from exc
    if first < 0 or last < first:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= A <= B")
    return first, last


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("project", help="create, inspect and edit a project (NAME.facsimile)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    edit = argparse.ArgumentParser(add_help=False, parents=[common])
    edit.add_argument("--ignore-autosave", action="store_true",
                      help="edit the saved version although a newer autosave exists (it is kept as a backup)")

    def add(name: str, help_: str, func: Callable[[argparse.Namespace], int], parents: list) -> argparse.ArgumentParser:
        ap = acts.add_parser(name, help=help_, description=help_, parents=parents)
        ap.add_argument("path", metavar="PATH", help="the project folder (NAME.facsimile)")
        ap.set_defaults(func=func)
        return ap

    a = add("create", "create a project folder, optionally with plates", _create, [common])
    a.add_argument("--name", help="project name (with an existing folder PATH: creates PATH/NAME.facsimile)")
    a.add_argument("--plate", action="append", default=[], metavar="FILE",
                   help="a plate (video or image sequence shot.####.exr); repeat for more")
    a.add_argument("--no-shot", action="store_true", help="do not add a shot covering a single plate")
    a.add_argument("--colorspace", metavar="NAME",
                   help="the plates' colour space when their files do not say it (a camera log plate: "
                        "'ARRI LogC3 (EI800)'); see `facsimile project plate`")
    a.add_argument("--pixel-aspect", type=_pixel_aspect, metavar="P",
                   help="the plates' pixel aspect when their files do not say it (an untagged anamorphic plate: "
                        "2 for a 2x squeeze); faces are then measured desqueezed and renders tagged with it")

    a = add("info", "plates, shots and warnings of a project", _info, [common])
    a.add_argument("--no-hash", action="store_true", help="do not re-hash plate files to spot changed media")

    a = add("plate", "say what a plate's files do not: its colour space (a camera log plate) or pixel aspect "
                     "(an untagged anamorphic)", _plate, [edit])
    a.add_argument("--plate", dest="plate_id", help="plate id (optional when the project has one plate)")
    a.add_argument("--colorspace", metavar="NAME",
                   help="the plate's OCIO colour space, e.g. 'ARRI LogC3 (EI800)' or 'S-Log3 S-Gamut3'; 'auto': as "
                        "its files say (sRGB for 8/16-bit, the EXR's tag or linear Rec.709 for float)")
    a.add_argument("--pixel-aspect", type=_pixel_aspect, metavar="P", help="pixel aspect (2 for a 2x anamorphic)")

    a = add("relink", "point plates at their files' new place (moved, renamed, or a drive mounted elsewhere)",
            _relink, [edit])
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--plate", nargs=2, metavar=("ID", "FILE"),
                   help="plate id and its file now (a video or a sequence pattern like shot.####.exr)")
    g.add_argument("--folder", nargs=2, metavar=("OLD", "NEW"),
                   help="every missing plate under folder OLD is found at the same place under NEW")
    a.add_argument("--force", action="store_true",
                   help="accept a file whose frame count, size or rate differ from the plate's (then analyse "
                        "its shots again)")

    a = add("shots", "add shots to a plate: by range, cut detection or an edit decision list", _shots, [edit])
    a.add_argument("--plate", help="plate id (optional when the project has one plate)")
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--range", type=_range, metavar="A-B", help="inclusive plate frames")
    g.add_argument("--detect-cuts", action="store_true", help="one shot per scene found by cut detection")
    g.add_argument("--edl", metavar="FILE", help="a CMX 3600 .edl or an .otio matched by source timecode")
    a.add_argument("--name", help="shot name (with --range)")
    a.add_argument("--handles", type=int, default=0, help="extra frames analysed each side (default 0)")
    a.add_argument("--threshold", type=float, default=None, help="cut detection threshold (with --detect-cuts; "
                   "default 27)")
    a.add_argument("--min-scene-len", type=int, default=None, help="shortest scene in frames (with --detect-cuts; "
                   "default 15)")

    a = add("trim", "change a shot's in/out frames (and handles); keys stay on their plate frames", _trim, [edit])
    a.add_argument("--shot", required=True, metavar="S")
    a.add_argument("--range", type=_range, required=True, metavar="A-B", help="inclusive plate frames")
    a.add_argument("--handles", type=int)

    a = add("remove-shot", "remove a shot (the previous save stays in backups/)", _remove_shot, [edit])
    a.add_argument("--shot", required=True, metavar="S")

    a = add("export-otio", "write the shot list as OpenTimelineIO (.otio, or .edl)", _export_otio, [common])
    a.add_argument("out", metavar="OUT", help="output .otio (or .edl) file")
    a.add_argument("--overwrite", action="store_true", help="replace an existing OUT (default: refuse)")

    a = add("analyze", "analyse shots (faces, landmarks, pose) and extract their AU curves", _analyze, [edit])
    a.add_argument("--shot", action="append", default=[], metavar="S", help="shot id or name; repeat for more")
    a.add_argument("--all", action="store_true", help="every shot of the project (default when it has one)")
    a.add_argument("--max-faces", type=int, default=8, help="most faces tracked at once (default 8)")
    a.add_argument("--no-refine", dest="refine", action="store_false",
                   help="keep the landmark network's own positions: skip the optical-flow refinement "
                        "(analysis about 3x faster; AU curves then read weaker)")
    a.add_argument("--extract-only", action="store_true",
                   help="re-extract AU curves from the stored analysis without analysing again")

    a = add("calibrate", "choose how a face's AU curves are measured: its neutral frame (or the automatic "
                         "neutral) and the curve filter; re-solved from the stored analysis, edits kept", _calibrate,
            [edit])
    a.add_argument("--shot", required=True, metavar="S")
    a.add_argument("--track", type=int, help="face track (default: the shot's render track; --filter: every face "
                                             "unless given)")
    a.add_argument("--neutral", metavar="FRAME|auto",
                   help="plate frame where the performer is at rest, or 'auto' (per region, estimated from the shot)")
    a.add_argument("--filter", choices=["one_euro", "savgol", "none"],
                   help="temporal filter of the curves (from the kept per-frame solve)")

    a = add("key", "set a key on a curve (an edit layer)", _key, [edit])
    a.add_argument("--shot", required=True, metavar="S")
    a.add_argument("--track", type=int, help="face track (default: the shot's render track)")
    a.add_argument("--curve", required=True, help="curve name, e.g. AU12")
    a.add_argument("--frame", type=int, required=True, help="plate frame")
    v = a.add_mutually_exclusive_group(required=True)
    v.add_argument("--value", type=float,
                   help="what the curve reads at the frame (an AU 0..5), after the layers and its gain, as the "
                        "studio's graph shows it; the key on the layer that does so is worked out")
    v.add_argument("--layer-value", type=float, metavar="VALUE",
                   help="the key's own value on its layer instead: on the additive Edit layer, what is added to "
                        "the curve (-5..5 for an AU)")
    a.add_argument("--layer", default="Edit", help="edit layer (created when missing; default Edit)")
    a.add_argument("--interp", default="bezier", choices=["bezier", "linear", "constant"])

    a = add("gain", "set an AU's gain (0..2, both sides); with --frame, key an animated gain", _gain, [edit])
    a.add_argument("--shot", required=True, metavar="S")
    a.add_argument("--track", type=int)
    a.add_argument("--au", "--curve", dest="au", required=True, help="AU number (12) or curve name (AU12, AU12L)")
    a.add_argument("--gain", "--value", dest="gain", type=float, help="the gain, 0..2 (1 = as performed)")
    a.add_argument("--frame", type=int, help="plate frame: set a gain key there (the gain becomes animated)")
    a.add_argument("--delete-keys", action="store_true",
                   help="delete the gain keys (on --frame only, else all: the static gain applies again)")

    a = add("preset", "apply a micro-expression preset JSON (gains, smoothing)", _preset, [edit])
    a.add_argument("preset", metavar="FILE.json",
                   help='{"enable_smooth": true, "au_gain": {"AU12": 0.8, "4": 1.2}}: gains 0..2 per AU (12, "12" '
                        'or "AU12"; 43 is the blink curve AU45)')
    a.add_argument("--shot", required=True, metavar="S")
    a.add_argument("--track", type=int)

    a = add("assign", "assign an identity template from the library to a shot", _assign, [edit])
    a.add_argument("--shot", required=True, metavar="S")
    a.add_argument("--template", required=True, help="template id, id prefix or name")
    a.add_argument("--library", help="library folder (default: the project's, else the user's)")

    a = add("set", "change a shot's render settings: key=value ...", _set, [edit])
    a.add_argument("--shot", required=True, metavar="S")
    a.add_argument("assignments", nargs="+", metavar="KEY=VALUE", help="e.g. mode=swap blend=gaussian")

    a = add("curves", "evaluated curves (base and edited) per frame, as CSV or JSON", _curves, [common])
    a.add_argument("--shot", required=True, metavar="S")
    a.add_argument("--track", type=int)
    a.add_argument("--frames", type=_range, metavar="A-B", help="plate frames (default: the analysed range)")
    a.add_argument("-o", "--out", help="curves.csv or curves.json (default: CSV on stdout)")
    a.add_argument("--overwrite", action="store_true", help="replace an existing --out file (default: refuse)")

    a = add("recover", "list or restore the autosave or a backup", _recover, [common])
    a.add_argument("--use", nargs="+", metavar="WHAT", help="'autosave' or 'backup N' (1 = newest)")

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


# ---------------------------------------------------------------------- output helpers
def _emit(args: argparse.Namespace, data: Any, lines: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=1, default=str))
    else:
        for line in lines:
            print(line)


def _warn(msg: str) -> None:
    print(f"facsimile: warning: {msg}", file=sys.stderr)


def _open(args: argparse.Namespace) -> Any:
    from core.project.workflow import open_project

    return open_project(args.path, ignore_autosave=getattr(args, "ignore_autosave", False))


def _shot_of(project: Any, key: str) -> Any:
    from core.project.workflow import resolve_shot

    return resolve_shot(project, key)


def _save(project: Any) -> str:
    from core.project.workflow import save_project

    return str(save_project(project))


# ---------------------------------------------------------------------- actions
def _create(args: argparse.Namespace) -> int:
    from core.project.workflow import create_project

    proj = create_project(args.path, name=args.name, plates=args.plate, whole_plate_shot=not args.no_shot,
                          pixel_aspect=args.pixel_aspect, colorspace=args.colorspace)
    lines = [f"created {proj.path} ({proj.name}): {len(proj.plates)} plate(s), {len(proj.shots)} shot(s)"]
    lines += [f"  plate {pl.id}: {pl.frame_count} frames {pl.width}x{pl.height} @ {float(pl.fps):.3f} fps"
              + (f", pixel aspect {pl.pixel_aspect:.4g}" if pl.pixel_aspect != 1.0 else "")
              for pl in proj.plates.values()]
    _emit(args, {"path": str(proj.path), "name": proj.name, "plates": list(proj.plates),
                 "shots": [s.id for s in proj.shots]}, lines)
    return 0


def _info(args: argparse.Namespace) -> int:
    from core.cli import said_by_command
    from core.project import Project
    from core.project.workflow import project_folder, project_info

    with said_by_command():  # what loading hands back (a plate found beside a moved project) is in the warnings
        proj = Project.load(project_folder(args.path, must_exist=True))
    info = project_info(proj, check_hash=not args.no_hash)
    saved = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(proj.saved_at)) if proj.saved_at else "never"
    lines = [f"{info['name']}  ({info['path']}, saved {saved})", f"plates ({len(info['plates'])}):"]
    for pl in info["plates"]:
        lines.append(f"  {pl['id']}: {pl['frames']} frames, {pl['width']}x{pl['height']}, {pl['fps_float']:.3f} fps"
                     f"{' VFR' if pl['vfr'] else ''}"
                     + (f", pixel aspect {pl['pixel_aspect']:.4g}" if pl["pixel_aspect"] != 1.0 else "")
                     + (f", colour space {pl['colorspace']}" if pl["colorspace"] else "")
                     + f", TC {pl['timecode']}  {pl['path']}"
                     + ("  [MISSING]" if pl["missing"] else ""))
    lines.append(f"shots ({len(info['shots'])}):")
    for s in info["shots"]:
        edited = [t for t, e in s["curves_edited"].items() if e]
        lines.append(
            f"  {s['id']} {s['name']!r}: plate {s['plate']} {s['frame_in']}-{s['frame_out']} ({s['length']} fr, "
            f"TC {s['timecode_in']}), handles {s['handles']}, "
            f"{'analysed' if s['analysed'] else 'not analysed'}, tracks {s['tracks'] or '-'}, "
            f"identity {s['identity'] or '-'}, curves {'edited (track ' + ', '.join(edited) + ')' if edited else 'as extracted' if s['tracks'] else '-'}"
            + (f", render {json.dumps(s['render_settings'])}" if s["render_settings"] else ""))
    for w in info["warnings"]:
        lines.append(f"warning: {w}")
    _emit(args, info, lines)
    return 0


def _check_shots_options(args: argparse.Namespace) -> None:
    """Refuse options the chosen way of adding shots would ignore (--name names one --range shot;
    --threshold / --min-scene-len tune --detect-cuts) and handles below 0."""
    if args.name is not None and not args.range:
        raise FacsimileError("--name names the one shot of --range: leave it out with --detect-cuts or --edl "
                             "(they name their shots)")
    tuning = [o for o, v in (("--threshold", args.threshold), ("--min-scene-len", args.min_scene_len)) if v is not None]
    if tuning and not args.detect_cuts:
        many = len(tuning) > 1
        raise FacsimileError(f"{' and '.join(tuning)} {'tune' if many else 'tunes'} --detect-cuts: leave "
                             f"{'them' if many else 'it'} out with --range or --edl")
    if args.handles < 0:
        raise ProjectError(f"--handles {args.handles}: give 0 or more frames")


def _check_handles(proj: Any, args: argparse.Namespace) -> None:
    """Handles as long as the plate fit no shot (an error); handles the plate lacks frames for
    around a --range shot are clipped when rendered (a warning)."""
    if not args.handles:
        return
    plates = [proj.plates[args.plate]] if args.plate in proj.plates else list(proj.plates.values())
    longest = max((p.frame_count for p in plates), default=0)
    if longest and args.handles >= longest:
        raise ProjectError(f"--handles {args.handles} is as long as the plate itself ({longest} frames): give fewer")
    if args.range and len(plates) == 1:
        n, (a, b) = plates[0].frame_count, args.range
        if a - args.handles < 0 or b + args.handles > n - 1:
            _warn(f"plate {plates[0].id} has only {max(a, 0)} head / {max(n - 1 - b, 0)} tail frame(s) around "
                  f"{a}-{b} for --handles {args.handles}: renders clip them to the plate")


def _shots(args: argparse.Namespace) -> int:
    from core.project.workflow import add_shot_range, add_shots_from_cut_detection, add_shots_from_cut_list

    _check_shots_options(args)
    proj = _open(args)
    _check_handles(proj, args)
    problems: list[str] = []
    if args.range:
        shots = [add_shot_range(proj, args.plate, args.range[0], args.range[1], name=args.name,
                                handles=args.handles)]
    elif args.detect_cuts:
        shots = add_shots_from_cut_detection(proj, args.plate,
                                             threshold=27.0 if args.threshold is None else args.threshold,
                                             min_scene_len=15 if args.min_scene_len is None else args.min_scene_len,
                                             handles=args.handles)
    else:
        shots, problems = add_shots_from_cut_list(proj, args.edl, plate_id=args.plate, handles=args.handles)
    for pr in problems:
        _warn(f"not imported: {pr}")
    from core.project.editorial import AlreadyAShot

    again = [pr for pr in problems if isinstance(pr, AlreadyAShot)]
    if not shots and not args.detect_cuts and (not problems or len(again) < len(problems)):
        # said before any "added 0 shot(s)"; a cut list whose every event is a shot already is no error
        raise ProjectError("no shot was added" + (f" ({len(problems)} event(s) not added: see above)" if problems else ""))
    if shots:
        _save(proj)
    lines = [f"added {len(shots)} shot(s) to {proj.path}" if shots else
             "every scene found is a shot of the project already: nothing added" if args.detect_cuts else
             "every event is a shot of the project already: nothing added"]
    lines += [f"  {s.id} {s.name!r}: {s.plate_id} {s.frame_in}-{s.frame_out} (TC {s.timecode}), handles {s.handles}"
              for s in shots]
    _emit(args, {"shots": [{"id": s.id, "name": s.name, "plate": s.plate_id, "frame_in": s.frame_in,
                            "frame_out": s.frame_out, "handles": s.handles, "timecode": s.timecode} for s in shots],
                 "problems": problems}, lines)
    return 0


def _plate(args: argparse.Namespace) -> int:
    from core.project.plates import KEEP, interpret_plate

    proj = _open(args)
    pid = args.plate_id or (next(iter(proj.plates)) if len(proj.plates) == 1 else None)
    if pid is None:
        raise ProjectError(f"{proj.path} has {len(proj.plates)} plates: choose one with --plate "
                           f"({', '.join(sorted(proj.plates))})")
    if args.colorspace is None and args.pixel_aspect is None:
        raise ProjectError("say what to set: --colorspace NAME and/or --pixel-aspect P")
    plate, notes = interpret_plate(proj, pid, colorspace=KEEP if args.colorspace is None else args.colorspace,
                                   pixel_aspect=KEEP if args.pixel_aspect is None else args.pixel_aspect)
    for note in notes:
        _warn(note)
    return _edit_done(args, proj, {"plate": pid, "colorspace": plate.colorspace, "pixel_aspect": plate.pixel_aspect,
                                   "notes": notes},
                      f"plate {pid}: colour space {plate.colorspace or 'as its files say'}, pixel aspect "
                      f"{plate.pixel_aspect:.4g}")


def _relink(args: argparse.Namespace) -> int:
    from core.project.workflow import relink_folder, relink_plate

    proj = _open(args)
    if args.plate:
        plate, notes = relink_plate(proj, args.plate[0], args.plate[1], force=args.force)
        relinked, not_found = [plate.id], []
    else:
        relinked, not_found = relink_folder(proj, args.folder[0], args.folder[1], force=args.force)
        notes = [f"plate {pid}: not under {args.folder[1]}; still missing" for pid in not_found]
    for note in notes:
        _warn(note)
    lines = [f"plate {pid} -> {proj.plates[pid].path}" for pid in relinked]
    return _edit_done(args, proj, {"relinked": {pid: proj.plates[pid].path for pid in relinked},
                                   "not_found": not_found, "notes": notes}, "\n".join(lines))


def _trim(args: argparse.Namespace) -> int:
    from core.project.workflow import trim_shot

    proj = _open(args)
    shot = trim_shot(proj, _shot_of(proj, args.shot), args.range[0], args.range[1], handles=args.handles)
    return _edit_done(args, proj, {"shot": shot.id, "frame_in": shot.frame_in, "frame_out": shot.frame_out,
                                   "handles": shot.handles},
                      f"{shot.name}: {shot.frame_in}-{shot.frame_out}, handles {shot.handles}")


def _remove_shot(args: argparse.Namespace) -> int:
    from core.project.workflow import remove_shot

    proj = _open(args)
    shot = _shot_of(proj, args.shot)
    remove_shot(proj, shot)
    return _edit_done(args, proj, {"removed": shot.id, "name": shot.name},
                      f"removed shot {shot.id} {shot.name!r} (undo: facsimile project recover {proj.path} "
                      "--use backup 1)")


def _export_otio(args: argparse.Namespace) -> int:
    from core.project import Project
    from core.project.editorial import export_otio
    from core.project.workflow import project_folder
    from core.util.atomic import refuse_existing

    proj = Project.load(project_folder(args.path))
    if not proj.shots:
        raise ProjectError(f"{proj.path} has no shots to export")
    if Path(args.out).suffix.lower() not in (".otio", ".edl"):
        raise ProjectError(f"{args.out}: the shot list is written as .otio (OpenTimelineIO) or .edl (CMX 3600); "
                           "give one of those")
    refuse_existing(args.out, args.overwrite)
    out = export_otio(proj, args.out)
    _emit(args, {"out": str(out), "shots": len(proj.shots)}, [f"wrote {len(proj.shots)} shot(s) to {out}"])
    return 0


def _progress_bar(desc: str) -> tuple[Any, Callable[[int, int], None]]:
    from tqdm import tqdm

    bar = tqdm(total=0, unit="frame", desc=desc, disable=None, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    return bar, progress


def _analyze(args: argparse.Namespace) -> int:
    if args.max_faces < 1:
        raise FacsimileError("--max-faces must be at least 1")
    proj = _open(args)
    if args.all:
        shots = list(proj.shots)
    elif args.shot:
        shots = [_shot_of(proj, k) for k in args.shot]
    elif len(proj.shots) == 1:
        shots = list(proj.shots)
    else:
        raise ProjectError(f"{proj.path} has {len(proj.shots)} shots: choose with --shot S (repeatable) or --all")
    if not shots:
        raise ProjectError(f"{proj.path} has no shots: add some with `facsimile project shots`")
    analyzer = None
    done: list[dict] = []
    no_curves: list[str] = []
    failed: list[str] = []
    lines: list[str] = []
    current = None
    try:
        for shot in shots:
            current = shot
            try:
                entry = _analyze_one(args, proj, shot, analyzer, no_curves)
            except (FacsimileError, ValueError) as exc:
                if isinstance(exc, UserCancelled):
                    raise
                failed.append(shot.name)  # the shot is left as it was; the others go on
                print(f"facsimile: error: shot {shot.name}: {exc}", file=sys.stderr)
                continue
            analyzer = entry.pop("_analyzer")
            done.append(entry)
            lines.append(f"{shot.id} {shot.name!r}: {entry['frames']} frame(s), {entry['faces']} face(s), "
                         + (f"curves for track(s) {entry['curves']}" if entry["curves"] is not None
                            else "NO AU curves"))
    except KeyboardInterrupt as exc:
        # every change is a whole command, so the project holds only finished shots: keep them
        if done:
            _save_analyses(proj, shots, done)
        saved = ", ".join(d["name"] for d in done) or "none"
        raise UserCancelled(f"interrupted while analysing shot {current.name!r}: it was left as it was "
                            f"(shots finished and saved: {saved})") from exc
    if done:
        _save_analyses(proj, shots, done)  # one save (one backup) for the whole run
    _emit(args, {"project": str(proj.path), "shots": done, "without_curves": no_curves, "failed": failed}, lines)
    if no_curves:
        raise ProjectError(f"AU curves could not be extracted for {len(no_curves)} shot(s) "
                           f"({', '.join(no_curves)}): the AU engine is missing; the analyses were saved")
    if failed:
        raise ProjectError(f"{len(failed)} of {len(shots)} shot(s) failed ({', '.join(failed)}); "
                           f"{len(done)} analysed and saved")
    return 0


def _save_analyses(proj: Any, shots: list, done: list[dict]) -> None:
    """Save the analysed shots, carried into another session's save made meanwhile (see
    core.project.workflow.save_analyses); a shot that session removed or re-ranged is an error."""
    from core.project.workflow import save_analyses

    finished = {d["shot"] for d in done}
    _, lost = save_analyses(proj, [s for s in shots if s.id in finished])
    if lost:
        raise ProjectError(f"the project was changed by another session while this ran: the analyses of "
                           f"{', '.join(lost)} were not saved (the shot was removed or its frames changed there); "
                           "the others were: analyse those again")


def _analyze_one(args: argparse.Namespace, proj: Any, shot: Any, analyzer: Any, no_curves: list[str]) -> dict:
    """Analyse (unless --extract-only) and extract curves of one shot; returns its summary."""
    from core.project.workflow import CurvesUnavailable, analyze_shot, extract_shot_curves

    if not args.extract_only:
        if analyzer is None:
            from core.analysis.analyzer import Analyzer

            analyzer = Analyzer(max_faces=args.max_faces, refine=args.refine)
        bar, progress = _progress_bar(f"analyse {shot.name}")
        try:
            analysis = analyze_shot(proj, shot, analyzer=analyzer, progress=progress)
        finally:
            bar.close()
    elif not shot.has_analysis:
        raise ProjectError(f"shot {shot.name!r} has no stored analysis: run without --extract-only")
    else:
        analysis = shot.analysis
    entry = {"shot": shot.id, "name": shot.name, "frames": analysis.n_frames, "faces": analysis.n_tracks,
             "curves": None, "_analyzer": analyzer}
    if analysis.n_tracks == 0:
        _warn(f"shot {shot.name}: no face found in {analysis.n_frames} frame(s); the analysis is stored, "
              "no curves were made" + (f" (the curves of track(s) {sorted(shot.curves)} from an earlier analysis "
                                       "were kept)" if shot.curves else ""))
        return entry
    try:
        res = extract_shot_curves(shot)
    except CurvesUnavailable as exc:
        no_curves.append(shot.name)
        print(f"facsimile: error: {exc}", file=sys.stderr)
        return entry
    entry["curves"] = res.tracks
    if res.removed:
        _warn(f"shot {shot.name}: track(s) {res.removed} are not in the new analysis; their curves were removed"
              f"{' (they had edits)' if res.removed_edited else ''}; the previous version stays recoverable: "
              f"`facsimile project recover {proj.path} --use backup 1` after this run")
    return entry


def _calibrate(args: argparse.Namespace) -> int:
    from core.project.workflow import calibration_summary, resolve_track, set_curve_filter, set_neutral_frame

    if args.neutral is None and args.filter is None:
        raise ProjectError("give --neutral FRAME (or auto) and/or --filter NAME")
    proj = _open(args)
    shot = _shot_of(proj, args.shot)
    if args.neutral is not None:
        text = args.neutral.strip().lower()
        if text == "auto":
            frame = None
        else:
            try:
                frame = int(text)
            except ValueError:
                raise ProjectError(f"--neutral takes a plate frame number or 'auto', got {args.neutral!r}") from None
        set_neutral_frame(shot, frame, track=args.track)
    tracks = [resolve_track(shot, args.track)] if args.track is not None or args.filter is None else sorted(shot.curves)
    if args.filter is not None:
        set_curve_filter(shot, args.filter, track=args.track)
    lines = [f"{shot.name} face {t}: {calibration_summary(shot.curves[t])}" for t in tracks]
    data = {"shot": shot.id, "faces": {str(t): shot.curves[t].extraction for t in tracks}}
    _save(proj)
    _emit(args, data, lines)
    return 0


def _edit_done(args: argparse.Namespace, proj: Any, data: dict, line: str) -> int:
    _save(proj)
    _emit(args, data, [line])
    return 0


def _key(args: argparse.Namespace) -> int:
    from core.project.workflow import key_value, set_key

    proj = _open(args)
    shot = _shot_of(proj, args.shot)
    if args.value is not None:
        track, name, key = key_value(shot, args.curve, args.frame, args.value, layer=args.layer, interp=args.interp,
                                     track=args.track)
        said = f"{name} reads {args.value:g} at frame {args.frame} (key {key:+.4g} on layer {args.layer}, {args.interp})"
    else:
        track, name = set_key(shot, args.curve, args.frame, args.layer_value, layer=args.layer, interp=args.interp,
                              track=args.track)
        key = args.layer_value
        said = f"key {name} {key:+g} at frame {args.frame} on layer {args.layer} ({args.interp})"
    reads = float(shot.curves[track].evaluate(name, [args.frame])[0])
    return _edit_done(args, proj, {"shot": shot.id, "track": track, "curve": name, "frame": args.frame,
                                   "value": reads if math.isfinite(reads) else None, "layer_value": key,
                                   "layer": args.layer, "interp": args.interp},
                      f"{shot.name} track {track}: {said}")


def _gain(args: argparse.Namespace) -> int:
    from core.curves import GAIN_WARN
    from core.project.workflow import set_gain

    if args.delete_keys:
        if args.gain is not None:
            raise ProjectError("--delete-keys takes no --gain/--value")
        return _gain_delete(args)
    if args.gain is None:
        raise ProjectError("give the gain with --gain (or --value), e.g. --value 1.3")
    proj = _open(args)
    shot = _shot_of(proj, args.shot)
    names = set_gain(shot, args.au, args.gain, track=args.track, frame=args.frame)
    if args.gain > GAIN_WARN:
        _warn(f"gain {args.gain:g} is above {GAIN_WARN} and may look non-physiological")
    cs = shot.curves[_track_of(shot, args.track)]
    keyed = [n for n in names if cs.has_gain_keys(n)]
    if args.frame is None and keyed:
        _warn(f"{', '.join(keyed)} have gain keys, which replace the static gain until they are deleted "
              f"(`facsimile project gain {args.path} --shot {args.shot} --au {args.au} --delete-keys`)")
    data = {"shot": shot.id, "curves": names, "gain": args.gain, "frame": args.frame}
    if args.frame is None:
        return _edit_done(args, proj, data, f"{shot.name}: gain {args.gain:g} on {', '.join(names)}")
    return _edit_done(args, proj, data, f"{shot.name}: gain key {args.gain:g} at frame {args.frame} on "
                                        f"{', '.join(names)}")


def _track_of(shot: Any, track: int | None) -> int:
    from core.project.workflow import resolve_track

    return resolve_track(shot, track)


def _gain_delete(args: argparse.Namespace) -> int:
    from core.project.workflow import delete_gain_keys

    proj = _open(args)
    shot = _shot_of(proj, args.shot)
    frames = None if args.frame is None else [args.frame]
    names = delete_gain_keys(shot, args.au, frames, track=args.track)
    where = "all gain keys" if frames is None else f"the gain key at frame {args.frame}"
    return _edit_done(args, proj, {"shot": shot.id, "curves": names, "deleted": frames or "all"},
                      f"{shot.name}: deleted {where} of {', '.join(names)}")


def _preset(args: argparse.Namespace) -> int:
    from core.project.workflow import apply_preset

    proj = _open(args)
    shot = _shot_of(proj, args.shot)
    p = apply_preset(shot, Path(args.preset), track=args.track)
    return _edit_done(args, proj, {"shot": shot.id, "preset": {k: v for k, v in p.items()}},
                      f"{shot.name}: applied preset {args.preset} ({json.dumps(p)})")


def _assign(args: argparse.Namespace) -> int:
    from core.project.workflow import assign_identity

    proj = _open(args)
    shot = _shot_of(proj, args.shot)
    t = assign_identity(proj, shot, args.template, library=args.library)
    return _edit_done(args, proj, {"shot": shot.id, "identity": t.id, "name": t.name},
                      f"{shot.name}: identity {t.name} ({t.id})")


def _set(args: argparse.Namespace) -> int:
    from core.project.workflow import parse_assignments, set_render_settings

    proj = _open(args)
    shot = _shot_of(proj, args.shot)
    try:
        settings = set_render_settings(proj, shot, parse_assignments(args.assignments))
    except FacsimileError as exc:
        if type(exc) is not FacsimileError:
            raise
        raise ProjectError(str(exc)) from exc  # a value that does not fit (mode=swapp): exit 4, as foo=bar
    return _edit_done(args, proj, {"shot": shot.id, "render_settings": settings},
                      f"{shot.name}: render settings {json.dumps(settings)}")


def _curves(args: argparse.Namespace) -> int:
    from core.project import Project
    from core.project.workflow import curve_table, project_folder, write_curves

    proj = Project.load(project_folder(args.path))
    shot = _shot_of(proj, args.shot)
    table = curve_table(proj, shot, track=args.track, frames=args.frames)
    if args.out:
        from core.util.atomic import refuse_existing

        refuse_existing(args.out, args.overwrite)
        out = write_curves(table, args.out)
        info = {"out": str(out), "shot": shot.id, "track": table.track, "frames": int(table.frames.size),
                "curves": table.names}
        _emit(args, info, [f"wrote {len(table.names)} curve(s) x {table.frames.size} frame(s) of {shot.name} "
                           f"track {table.track} to {out}"])
    elif args.json:
        print(json.dumps(table.to_json()))
    else:
        sys.stdout.write(table.csv_text())
    return 0


def _recover(args: argparse.Namespace) -> int:
    from core.project.workflow import project_folder, recover_project, recovery_options

    folder = project_folder(args.path)
    if not args.use:
        auto, backs = recovery_options(folder)
        lines = []
        if auto:
            lines.append(f"autosave: {auto.describe()}")
            lines.append(f"  restore it: facsimile project recover {folder} --use autosave")
        else:
            lines.append("no autosave newer than the last save")
        for i, b in enumerate(backs, start=1):
            lines.append(f"backup {i}: {b.describe()}")
        if backs:
            lines.append(f"  restore one: facsimile project recover {folder} --use backup N")
        _emit(args, {"autosave": None if auto is None else {"path": str(auto.path), "saved_at": auto.saved_at},
                     "backups": [{"n": i, "path": str(b.path), "saved_at": b.saved_at}
                                 for i, b in enumerate(backs, start=1)]}, lines)
        return 0
    use = args.use
    if use[0] == "autosave" and len(use) == 1:
        what: str | int = "autosave"
    elif use[0] == "backup" and len(use) == 2:
        what = use[1]
    elif len(use) == 1 and use[0].startswith("backup") and use[0][6:].lstrip(":=").isdigit():
        what = use[0][6:].lstrip(":=")
    else:
        raise ProjectError(f"--use expects 'autosave' or 'backup N', got {' '.join(use)!r}")
    proj, cand = recover_project(folder, what)
    _emit(args, {"path": str(proj.path), "recovered_from": str(cand.path), "kind": cand.kind},
          [f"restored {cand.describe()} as the saved state of {proj.path} (the replaced version is backup 1)"])
    return 0
