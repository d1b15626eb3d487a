"""Render jobs: a frame range split into chunks, a durable record of finished frames, and
executors (in-process or on a Ray cluster) that only render what is missing.

    spec = JobSpec.create(kind="convert", source="plate.mov", output="out.####.exr", frames=(0, 99))
    run_job(spec)                      # local; resumable after a crash or kill -9
    run_job(spec, engine="ray")        # Ray cluster (ray.init(address=...))

A job's state lives beside its output in `.facsimile-jobs/<job_id>/` (job.json, progress.jsonl,
chunk movies); `finalize` joins ProRes chunks by remuxing (bit-identical packets) into the
final file under its real name only when every frame is there.
"""

from core.jobs.run import run_job
from core.jobs.spec import JobSpec

__all__ = ["JobSpec", "run_job"]
