"""`facsimile job run|finalize|status JOB.json`: run a job's chunks (what farm tasks call)."""

from __future__ import annotations

import argparse
import json
import sys

from core.errors import FacsimileError
from core.jobs.record import JobRecord
from core.jobs.run import (
    chunk_failure,
    completed,
    finalize,
    frames_done,
    is_fatal,
    pending_chunks,
    run_chunk,
    run_job,
)
from core.jobs.spec import JobSpec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("job", help="run, finish or inspect a render job (job.json)")
    jsub = p.add_subparsers(dest="job_command", metavar="ACTION", required=True)
    r = jsub.add_parser("run", help="render the missing frames of a job, or of one chunk")
    r.add_argument("job_file")
    r.add_argument("--chunk", type=int, help="only this chunk (farm task); no final assembly")
    r.add_argument("--engine", choices=["local", "ray"], default="local")
    r.add_argument("--address", help="Ray cluster address (default: start a local one)")
    r.set_defaults(func=_run)
    f = jsub.add_parser("finalize", help="check every frame is there and join movie chunks")
    f.add_argument("job_file")
    f.set_defaults(func=_finalize)
    s = jsub.add_parser("status", help="what is done and what is left, as JSON")
    s.add_argument("job_file")
    s.set_defaults(func=_status)


def _run(args: argparse.Namespace) -> int:
    spec = JobSpec.load(args.job_file)
    if args.chunk is not None:
        try:
            n = run_chunk(spec, args.chunk)
        except (FacsimileError, OSError) as exc:
            if not is_fatal(exc):
                raise
            raise chunk_failure(spec, args.chunk, exc) from exc  # said as the other engines say it
        print(f"chunk {args.chunk}: {n} frame(s) rendered", file=sys.stderr)
        return 0
    if spec.kind == "render":  # what `facsimile render` runs: the sidecar and curves CSV beside the output too
        from core.cli import said_by_command
        from core.cli.cmd_render import say_note
        from core.render.delivery import run_render_job

        with said_by_command():
            print(run_render_job(spec, engine=args.engine, address=args.address, on_note=say_note)["output"])
        return 0
    out = run_job(spec, engine=args.engine, address=args.address)
    print(out)
    return 0


def _finalize(args: argparse.Namespace) -> int:
    spec = JobSpec.load(args.job_file)
    if spec.kind == "render":  # a farm render's last step writes its sidecars, as a local render does
        from core.cli import said_by_command
        from core.cli.cmd_render import say_note
        from core.render.delivery import run_render_job

        with said_by_command():
            print(run_render_job(spec, finalize_only=True, on_note=say_note)["output"])
        return 0
    print(finalize(spec))
    return 0


def _status(args: argparse.Namespace) -> int:
    spec = JobSpec.load(args.job_file)
    record = JobRecord(spec.job_dir)
    left = pending_chunks(spec)
    finished = completed(spec) if not spec.sequence else (
        not left and any(e.get("type") == "complete" for e in record.entries()))
    print(json.dumps({"job_id": spec.job_id, "output": spec.output, "chunks": len(spec.chunks()),
                      "pending_chunks": left, "frames": len(spec.frames), "frames_done": frames_done(spec),
                      "complete": finished}, indent=2))
    return 0
