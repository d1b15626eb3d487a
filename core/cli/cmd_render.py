"""`facsimile render PROJECT --out OUT`: render a shot to ProRes or an EXR/PNG sequence.

The render is a resumable job (core.jobs): run the same command again after a crash or a
kill and only the missing frames render. Every deliverable is tagged as synthetic media,
watermarked with its render id and gets a sidecar JSON and a curves CSV beside it.
"""

from __future__ import annotations

import argparse
import sys


def _epilog() -> str:
    from core.delivery.presets import preset_table

    return ("presets (--preset NAME; explicit options override them):\n" + preset_table()
            + "\n\nexamples:\n  facsimile render shot.facsimile --preset exr-acescg-patch --out renders/\n"
              "  facsimile render shot.facsimile --preset prores4444-comp --out sh010_comp.mov\n"
              "  facsimile render shot.facsimile --preset exr32-lin709-matte --handles 8 --out m.####.exr")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a shot (edit or swap mode) to .mov or an image sequence",
                       epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("project", nargs="?", help="NAME.facsimile project folder")
    p.add_argument("--shot", help="shot id or name (default: the first shot)")
    p.add_argument("-o", "--out", help="out.mov (ProRes), out.####.exr / .png / .tif, or a folder (named from the shot)")
    p.add_argument("--preset", help="named export preset, e.g. exr-acescg-patch (see --list-presets)")
    p.add_argument("--list-presets", action="store_true", help="print the export presets and exit")
    p.add_argument("--frames", help="plate frames A-B, inclusive (default: the shot's range with handles)")
    p.add_argument("--handles", type=int, help="frames rendered before and after the shot (default: the shot's)")
    p.add_argument("--mode", choices=["edit", "swap"], help="edit: performer's own face; swap: the template's")
    p.add_argument("--template", help="identity template id for swap mode (default: the shot's assignment)")
    p.add_argument("--output", choices=["comp", "patch", "matte"], help="full frame, face patch (RGBA) or matte")
    p.add_argument("--blend", choices=["poisson", "gaussian", "none"])
    p.add_argument("--colour", choices=["reinhard", "histogram", "none"])
    p.add_argument("--restore", help="restoration model id (e.g. gpen_bfr_512) or off")
    p.add_argument("--restore-strength", type=float)
    p.add_argument("--occlusion", metavar="auto|off|MODEL",
                   help="keep what covers the face (a hand) from the plate: auto (default) uses the first installed "
                        "occluder of `facsimile models list`, off switches it off, or give an occluder model id")
    p.add_argument("--identity-strength", type=float, help="swap mode: 0 performer's face shape .. 1 template's")
    p.add_argument("--track", type=int, help="face track to render (default: the shot's setting, else 0)")
    p.add_argument("--codec", choices=["prores4444", "prores4444xq", "prores422hq"], help="ProRes profile "
                   "(default prores4444)")
    p.add_argument("--colorspace", help="EXR output colour space (default Linear Rec.709 (sRGB); e.g. ACEScg)")
    p.add_argument("--compression", choices=["piz", "zip", "dwaa"], help="EXR compression (default piz)")
    p.add_argument("--pixel-type", choices=["half", "float"], help="EXR pixel type (default half)")
    p.add_argument("--start-number", type=int, default=None, help="number of the first rendered frame of a "
                   "sequence (default 1001; the cut-in is START + handles)")
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (default: a local cluster)")
    p.add_argument("--chunk", type=int, default=24, help="frames per chunk (farm task)")
    p.add_argument("--override-consent", metavar="REASON",
                   help="render a template that has no valid consent record; the reason is recorded")
    p.add_argument("--job-only", metavar="JOB_JSON", help="write the job description and stop (for a farm); "
                   "an existing JOB_JSON is refused unless --overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output (a sequence: every frame of the pattern; with --job-only, "
                        "also JOB_JSON); default: refuse. An interrupted render of the same, unchanged shot "
                        "resumes without it")
    p.set_defaults(func=_render)


def _listing(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _check_format_options(args: argparse.Namespace) -> None:
    """Refuse options the output's format would ignore (--codec for an image sequence; --compression,
    --pixel-type, --start-number for a .mov; a scene-linear --colorspace for ProRes), before any
    job starts: a render that quietly drops them delivers what was not asked for."""
    from pathlib import Path

    from core.delivery.presets import get_preset, output_format
    from core.errors import MediaError

    out = Path(args.out)
    if out.suffix.lower() in (".mov", ".exr", ".png", ".tif", ".tiff"):
        fmt = output_format(str(out))
    elif args.preset:
        fmt = get_preset(args.preset).format
    else:
        return  # a folder without a preset: the format is settled where the name is made
    if args.start_number is not None and args.start_number < 0:
        raise MediaError(f"--start-number {args.start_number}: frame numbers start at 0")
    if fmt == "prores":
        given = [o for o, v in (("--compression", args.compression), ("--pixel-type", args.pixel_type),
                                ("--start-number", args.start_number)) if v is not None]
        if given:
            raise MediaError(f"{_listing(given)} {'apply' if len(given) > 1 else 'applies'} to image sequences, not "
                             f"to a ProRes .mov: leave {'them' if len(given) > 1 else 'it'} out, or render "
                             "name.####.exr")
        if args.colorspace:
            from core.media.colour import is_linear, resolve_colorspace

            name = resolve_colorspace(args.colorspace)
            if is_linear(name):
                raise MediaError(f"'{name}' is scene-linear: a ProRes deliverable needs a display-referred colour "
                                 "space such as 'sRGB - Texture' or 'Gamma 2.4 Rec.709 - Texture' (render "
                                 "name.####.exr for linear)")
        return
    if args.codec is not None:
        raise MediaError(f"--codec {args.codec} is a ProRes profile: it does not apply to an image sequence "
                         f"({fmt.upper()}); leave it out, or render a .mov")
    if fmt != "exr":
        given = [o for o, v in (("--compression", args.compression), ("--pixel-type", args.pixel_type))
                 if v is not None]
        if given:
            raise MediaError(f"{_listing(given)} {'apply' if len(given) > 1 else 'applies'} to EXR only, not to a "
                             f"{fmt.upper()} sequence")


def _check_shot_and_frames(args: argparse.Namespace) -> None:
    """A --shot the project has not got, or --frames outside its plate, is a ProjectError (exit 4,
    as docs/cli.md's table says), said before the render job is prepared."""
    from core.errors import ProjectError
    from core.project import Project
    from core.render.delivery import find_shot, parse_frames

    project = Project.load(args.project)
    shot = find_shot(project, args.shot)
    if args.frames:
        first, last = parse_frames(args.frames, shot.range_with_handles)
        n = project.plate_of(shot).frame_count
        if n and (first < 0 or last >= n):
            raise ProjectError(f"--frames {first}-{last} is outside the plate of shot {shot.name!r} "
                               f"(frames 0-{n - 1})")


def _render(args: argparse.Namespace) -> int:
    from core.errors import FacsimileError

    if args.list_presets:
        from core.delivery.presets import preset_table

        print(preset_table())
        return 0
    if not args.project or not args.out:
        raise FacsimileError("render needs a PROJECT and --out (or --list-presets)")
    _check_format_options(args)
    from core.cli import said_by_command

    with said_by_command():  # a moved plate is said once, in the render's notes, not at each load
        _check_shot_and_frames(args)
    if args.job_only:
        from pathlib import Path

        from core.errors import MediaError
        from core.util.atomic import refuse_existing

        refuse_existing(args.job_only, args.overwrite, inputs=(args.project,))
        if not Path(args.job_only).parent.is_dir():
            raise MediaError(f"cannot write {args.job_only}: the folder {Path(args.job_only).parent} does not exist "
                             "(create it first)")
    from core.render.delivery import render_shot

    overrides = {k: getattr(args, k) for k in ("mode", "output", "blend", "colour", "restore", "restore_strength",
                                               "occlusion", "identity_strength", "track") if getattr(args, k) is not None}
    with said_by_command():  # each note once, as it is known (before the frames): not again as a log line
        result = render_shot(args.project, args.out, shot=args.shot, frames=args.frames, overrides=overrides,
                             template=args.template, override_consent=args.override_consent, codec=args.codec,
                             colorspace=args.colorspace, compression=args.compression, pixel_type=args.pixel_type,
                             start_number=1001 if args.start_number is None else args.start_number,
                             handles=args.handles, preset=args.preset,
                             engine=args.engine, address=args.address, chunk=args.chunk, job_only=args.job_only,
                             overwrite=args.overwrite, progress_bar=sys.stderr.isatty(), on_note=say_note)
    print(result["output"])
    return 0


def say_note(note: str) -> None:
    """A render's note on stderr (`job run` and `job finalize` of a render say them the same way)."""
    print(f"note: {note}", file=sys.stderr, flush=True)
