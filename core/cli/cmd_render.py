"""`facsimile render PROJECT --out OUT`: render a shot to ProRes or an EXR/PNG sequence.

The render is a resumable job (core.jobs): run the same command again after a crash or a
kill and only the missing frames render. Every deliverable is tagged as synthetic media,
watermarked with its render id and gets a sidecar JSON and a curves CSV beside it.
"""

from __future__ import annotations

import argparse
import sys


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


def _render(args: argparse.Namespace) -> int:
    from core.render.delivery import render_shot

    overrides = {k: getattr(args, k) for k in ("mode", "output", "blend", "colour", "restore", "restore_strength",
                                               "identity_strength", "track") if getattr(args, k) is not None}
    result = render_shot(args.project, args.out, shot=args.shot, frames=args.frames, overrides=overrides,
                         template=args.template, override_consent=args.override_consent, codec=args.codec,
                         colorspace=args.colorspace, compression=args.compression, start_number=args.start_number,
                         engine=args.engine, address=args.address, chunk=args.chunk, job_only=args.job_only,
                         progress_bar=sys.stderr.isatty())
    print(result["output"])
    for line in result.get("notes", []):
        print(f"note: {line}", file=sys.stderr)
    return 0
