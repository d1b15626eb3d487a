"""Export a job as an Open Job Description template (jobtemplate-2023-09).

Studios on AWS Deadline Cloud (or anything that speaks OpenJD) submit it as is; `openjd run`
executes it locally. One task per chunk runs `facsimile job run JOB --chunk N`; a final step
joins the output (`facsimile job finalize JOB`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from core.jobs.spec import JobSpec
from core.util.atomic import atomic_write_text


def openjd_template(spec: JobSpec, job_file: str | Path, python: str | None = None,
                    template_dir: str | Path = ".") -> dict:
    """The template as a dict. `python` is the interpreter workers run (default: this one).

    OpenJD requires a PATH default to be relative to the template's folder.
    """
    py = python or sys.executable
    n = len(spec.chunks())
    base = [str(Path(py)), "-m", "core", "job"]
    return {
        "specificationVersion": "jobtemplate-2023-09",
        "name": f"Facsimile {spec.kind} {Path(spec.output).name}",
        "parameterDefinitions": [
            {"name": "JobFile", "type": "PATH", "objectType": "FILE", "dataFlow": "IN",
             "default": os.path.relpath(Path(job_file).absolute(), Path(template_dir).absolute()), "description": "Facsimile job description (job.json)"},
        ],
        "steps": [
            {
                "name": "Render",
                "parameterSpace": {"taskParameterDefinitions": [
                    {"name": "Chunk", "type": "INT", "range": f"0-{n - 1}"},
                ]},
                "script": {"actions": {"onRun": {
                    "command": base[0],
                    "args": base[1:] + ["run", "{{Param.JobFile}}", "--chunk", "{{Task.Param.Chunk}}"],
                }}},
            },
            {
                "name": "Assemble",
                "dependencies": [{"dependsOn": "Render"}],
                "script": {"actions": {"onRun": {
                    "command": base[0],
                    "args": base[1:] + ["finalize", "{{Param.JobFile}}"],
                }}},
            },
        ],
    }


def write_openjd_template(spec: JobSpec, job_file: str | Path, out: str | Path, python: str | None = None) -> Path:
    """Write the template as JSON (valid YAML too) atomically; returns its path."""
    out = Path(out)
    atomic_write_text(out, json.dumps(openjd_template(spec, job_file, python, out.parent), indent=2))
    return out
