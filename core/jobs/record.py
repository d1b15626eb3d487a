"""The durable record of finished frames: an append-only JSON-lines log, fsynced per entry.

A kill -9 can at worst tear the last line; a torn line is ignored on reading, and the
frame it described is simply rendered again.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from core.errors import FacsimileError
from core.jobs.spec import is_whole


class JobRecord:
    """progress.jsonl in the job folder: one line per finished frame or chunk."""

    def __init__(self, job_dir: str | Path) -> None:
        self.dir = Path(job_dir)
        self.path = self.dir / "progress.jsonl"
        self._lock = threading.Lock()

    def entries(self) -> list[dict]:
        """Every complete entry; a torn trailing line is skipped."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(e, dict):  # a hand-edited or damaged line is not an entry (it was a KeyError)
                out.append(e)
        return out

    def done_frames(self) -> set[int]:
        return {e["frame"] for e in self.entries() if e.get("type") == "frame" and is_whole(e.get("frame"))}

    def done_chunks(self) -> dict[int, dict]:
        return {e["chunk"]: e for e in self.entries() if e.get("type") == "chunk" and is_whole(e.get("chunk"))}

    def append(self, entry: dict) -> None:
        """Append one entry and make it durable before returning."""
        if not self.dir.is_dir():
            # job folders live in OUTPUT_FOLDER/.facsimile-jobs/ID: never re-create a vanished output folder
            output_folder = self.dir.parent.parent
            if not output_folder.is_dir():
                raise FacsimileError(f"the output folder {output_folder} vanished during the render "
                                     "(moved, deleted or unmounted?); restore it and run again")
            self.dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
