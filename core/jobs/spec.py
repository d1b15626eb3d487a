"""What a render job is: inputs, frames, output, settings; plain JSON so a farm can ship it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from core.errors import FacsimileError, MediaError
from core.media.writers import frame_path, is_sequence_pattern
from core.util.atomic import atomic_write_text


def is_sequence(output: str) -> bool:
    """True when `output` names an image sequence (`out.####.exr`, `out.%04d.png`)."""
    return is_sequence_pattern(output)


def sequence_path(pattern: str, number: int) -> Path:
    """The file name of frame `number` in a `####` / `%04d` pattern."""
    return frame_path(pattern, number)


def is_whole(v: object) -> bool:
    """An int that is not a bool (what JSON gives for a whole number in a job file or its log)."""
    return isinstance(v, int) and not isinstance(v, bool)


MAX_FRAMES = 10_000_000  # frames in one job: a day of 120 fps is under 10.4 million


@dataclass
class JobSpec:
    """A render or convert job. `frames` are 0-based plate frame indices, inclusive range."""

    job_id: str
    kind: str  # "convert" | "render"
    source: str  # plate path (convert) or project folder (render)
    output: str  # absolute .mov path or sequence pattern
    first: int
    last: int
    chunk_size: int = 24
    shot: str | None = None
    writer: dict = field(default_factory=dict)  # codec, colorspace, compression, start_number, attributes
    settings: dict = field(default_factory=dict)  # renderer settings
    max_retries: int = 2
    # a fingerprint of what the pictures are made from beyond the arguments (a render: the shot's
    # curves, analysis, settings and plate record): part of the id, so a job made after an edit
    # is a new job, not a resume of the old one (whose frames show the old performance)
    content: str = ""

    @classmethod
    def create(cls, kind: str, source: str, output: str, frames: tuple[int, int], **kw) -> JobSpec:
        """A spec whose id is derived from its content, so the same job resumes the same record."""
        output = str(Path(output).absolute())
        source = str(Path(source).absolute())
        first, last = int(frames[0]), int(frames[1])
        if last < first:
            raise FacsimileError(f"empty frame range {first}-{last}")
        chunk = kw.get("chunk_size", 24)
        if not is_whole(chunk) or chunk < 1:
            # a job written with it could never be loaded again (validate refuses it): refuse it here
            raise FacsimileError(f"chunk size must be a whole number of frames, at least 1; got {chunk!r}")
        body = json.dumps({"kind": kind, "source": source, "output": output, "first": first, "last": last,
                           **{k: kw.get(k) for k in ("shot", "writer", "settings", "chunk_size")},
                           **({"content": kw["content"]} if kw.get("content") else {})},
                          sort_keys=True, default=str)
        job_id = hashlib.sha256(body.encode()).hexdigest()[:16]
        return cls(job_id=job_id, kind=kind, source=source, output=output, first=first, last=last, **kw)

    @property
    def frames(self) -> list[int]:
        return list(range(self.first, self.last + 1))

    @property
    def sequence(self) -> bool:
        return is_sequence(self.output)

    def chunks(self) -> list[tuple[int, int]]:
        """Inclusive (first, last) plate-frame ranges of each chunk."""
        n = max(1, int(self.chunk_size))
        return [(a, min(a + n - 1, self.last)) for a in range(self.first, self.last + 1, n)]

    @property
    def start_number(self) -> int:
        return int(self.writer.get("start_number", 1001))

    def output_number(self, frame: int) -> int:
        """Sequence number of plate frame `frame` in the output."""
        return self.start_number + (frame - self.first)

    @property
    def job_dir(self) -> Path:
        out = Path(self.output)
        return out.parent / ".facsimile-jobs" / self.job_id

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> JobSpec:
        """A spec from its JSON, every field checked (a hand-edited or damaged job file says what
        is wrong instead of rendering a nonsense range or failing deep inside a chunk)."""
        if not isinstance(data, dict):
            raise FacsimileError("job file is not a valid job description: not a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        missing = sorted(k for k in ("job_id", "kind", "source", "output", "first", "last") if k not in data)
        if unknown or missing:
            raise FacsimileError("job file is not a valid job description: "
                                 + "; ".join(([f"unknown field(s) {', '.join(unknown)}"] if unknown else [])
                                             + ([f"missing {', '.join(missing)}"] if missing else [])))
        spec = cls(**data)
        spec.validate()
        return spec

    def validate(self) -> None:
        """Raise FacsimileError naming the first field that cannot be right."""
        def bad(what: str) -> FacsimileError:
            return FacsimileError(f"job file is not a valid job description: {what}")

        for name in ("job_id", "kind", "source", "output"):  # the kind's producer is found when it runs
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise bad(f"{name} must be a non-empty string")
        if not is_whole(self.first) or not is_whole(self.last) or self.first < 0 or self.last < self.first:
            raise bad(f"frames {self.first!r}-{self.last!r} (whole plate frame numbers, first <= last)")
        if self.last - self.first >= MAX_FRAMES:  # a damaged number: listing its frames would not end
            raise bad(f"frames {self.first}-{self.last} ({self.last - self.first + 1} frames; at most {MAX_FRAMES})")
        if not is_whole(self.chunk_size) or self.chunk_size < 1:
            raise bad(f"chunk_size {self.chunk_size!r} (a whole number of frames, at least 1)")
        if not is_whole(self.max_retries) or self.max_retries < 0:
            raise bad(f"max_retries {self.max_retries!r}")
        if not isinstance(self.writer, dict) or not isinstance(self.settings, dict):
            raise bad("writer and settings must be JSON objects")
        sn = self.writer.get("start_number", 1001)
        if not is_whole(sn) or sn < 0:
            raise bad(f"writer.start_number {sn!r} (a whole number, 0 or more)")
        if self.kind == "render" and not self.shot:
            raise bad("a render job names its shot")

    def save(self, path: str | Path | None = None) -> Path:
        """Write job.json (atomically) into the job folder (made when missing: it is ours), or to
        `path`, whose folder must exist: a mistyped folder is an error naming it, as for every
        other output, not a new folder made silently."""
        if path:
            target = Path(path)
            if not target.parent.is_dir():
                raise MediaError(f"cannot write {target}: the folder {target.parent} does not exist "
                                     "(create it first)")
        else:
            target = self.job_dir / "job.json"
            target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, json.dumps(self.to_json(), indent=2))
        return target

    @classmethod
    def load(cls, path: str | Path) -> JobSpec:
        """The job in the JSON file `path`; a missing, unreadable or non-job file (a plate given by
        mistake: binary, not UTF-8) is a one-line FacsimileError, never an internal error."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except IsADirectoryError as exc:
            raise FacsimileError(f"cannot read job file {path}: it is a folder (give its job.json)") from exc
        except OSError as exc:
            raise FacsimileError(f"cannot read job file {path}: {exc.strerror or exc}") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise FacsimileError(f"{path} is not a job file (not JSON text; a job file is the JSON that "
                                 "`facsimile render --job-only` writes)") from exc
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, ValueError, RecursionError) as exc:
            raise FacsimileError(f"{path} is not a job file (not valid JSON: {exc})") from exc
        return cls.from_json(data)
