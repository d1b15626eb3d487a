"""`facsimile farm export JOB.json --format openjd --out TEMPLATE`: hand a job to a farm."""

from __future__ import annotations

import argparse

from core.jobs.openjd import write_openjd_template
from core.jobs.spec import JobSpec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("farm", help="farm integration (Open Job Description export)")
    fsub = p.add_subparsers(dest="farm_command", metavar="ACTION", required=True)
    e = fsub.add_parser("export", help="write a job as a farm template")
    e.add_argument("job_file")
    e.add_argument("--format", choices=["openjd"], default="openjd")
    e.add_argument("-o", "--out", required=True, help="template path (.json or .yaml; JSON is valid YAML)")
    e.add_argument("--python", help="interpreter the workers run (default: this one)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing template (default: refuse)")
    e.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    """Write the farm template; an existing file is refused unless --overwrite, and never the job file itself."""
    from core.util.atomic import refuse_existing

    spec = JobSpec.load(args.job_file)
    refuse_existing(args.out, args.overwrite, inputs=(args.job_file,))
    print(write_openjd_template(spec, args.job_file, args.out, python=args.python))
    return 0
