"""The plate export job (`convert`) as the studio's queue runs it: the same colour, alpha and
timecode handling as `facsimile convert`, in a resumable core.jobs job."""

from __future__ import annotations

from pathlib import Path

from core.errors import FacsimileError
from core.jobs.spec import JobSpec


def prepare_convert(source: str | Path, output: str | Path, frames: tuple[int, int] | None = None, *,
                    codec: str | None = None, colorspace: str | None = None, input_colorspace: str | None = None,
                    start_number: int = 1001, chunk: int = 24, pixel_aspect: float | None = None) -> JobSpec:
    """The convert job of plate frames `frames` (0-based, inclusive; default all) to `output` (.mov or a
    sequence pattern): the plate's colour space and alpha convention (float frames are linear and
    premultiplied, integer ones display-referred), its timecode moved on to the first frame, and
    the source named in the file's metadata. `input_colorspace` and `pixel_aspect` say what the
    plate's files do not (a project's plate record)."""
    from core.media.colour import plate_colorspace
    from core.media.reader import open_media
    from core.media.timing import nominal_offset
    from core.media.writers import plate_timecode_at

    with open_media(source) as reader:
        info = reader.info
        first, last = frames if frames is not None else (0, info.frame_count - 1)
        if not 0 <= first <= last < info.frame_count:
            raise FacsimileError(f"frames {first}-{last} are outside the plate (frames 0-{info.frame_count - 1})")
        in_cs, premultiplied = plate_colorspace(info, reader.read(first).dtype, input_colorspace)
        timecode = plate_timecode_at(info, nominal_offset(reader, first))  # by time on a VFR plate
        name = Path(info.path).name
    writer: dict = {"input_colorspace": in_cs, "premultiplied": premultiplied, "start_number": int(start_number),
                    "timecode": timecode, "attributes": {"facsimile/source": name}}
    if pixel_aspect is not None or info.pixel_aspect != 1.0:  # an anamorphic plate stays tagged as one
        writer["pixel_aspect"] = float(pixel_aspect if pixel_aspect is not None else info.pixel_aspect)
    if codec:
        writer["codec"] = codec
    if colorspace:
        writer["colorspace"] = colorspace
    return JobSpec.create("convert", str(source), str(output), (first, last), writer=writer, chunk_size=chunk)
