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


def _check_python(python: str) -> None:
    """--python must name an interpreter: a relative path or an empty name resolves nowhere
    predictable on a worker, and a file that is not executable fails every task. An absolute path
    not on this machine may exist on the workers (another mount), so it is only warned about."""
    import logging
    import os
    import shutil
    from pathlib import Path

    from core.errors import FacsimileError

    p = Path(python)
    if not python.strip() or (not p.is_absolute() and os.sep in python):
        raise FacsimileError(f"--python {python!r}: give an absolute path (or a command name on the workers' PATH)")
    if p.is_absolute():
        if p.is_dir():
            raise FacsimileError(f"--python {python}: is a folder, not an interpreter")
        if p.exists() and not os.access(p, os.X_OK):
            raise FacsimileError(f"--python {python}: the file is not executable")
        if not p.exists():
            logging.getLogger("facsimile.farm").warning(
                "--python %s does not exist on this machine: the workers must have it at that path", python)
    elif shutil.which(python) is None:
        logging.getLogger("facsimile.farm").warning(
            "--python %s is not on this machine's PATH: the workers must have it on theirs", python)


def _export(args: argparse.Namespace) -> int:
    """Write the farm template; an existing file is refused unless --overwrite, and never the job file itself."""
    from core.util.atomic import refuse_existing

    spec = JobSpec.load(args.job_file)
    refuse_existing(args.out, args.overwrite, inputs=(args.job_file,))
    if args.python is not None:
        _check_python(args.python)
    print(write_openjd_template(spec, args.job_file, args.out, python=args.python))
    return 0
