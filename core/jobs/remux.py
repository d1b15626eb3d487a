"""Join ProRes chunk movies into one by remuxing: packets are copied, never re-encoded.

ProRes is intra-frame, so the joined file's packets are bit-identical to the chunks' and the
join costs I/O only.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av

from core.errors import MediaError
from core.util.atomic import atomic_path


def concat_movies(chunks: Sequence[str | Path], output: str | Path, *, timecode: str | None = None,
                  metadata: dict[str, str] | None = None) -> int:
    """Concatenate the video streams of `chunks` (same codec, size, rate) into `output`.

    Returns the number of packets written. The output appears under its name only when
    complete. Container metadata (e.g. the synthetic-media tag) and the start timecode are
    set on the joined file. Chunks written at a variable-rate plate's own times join end to
    end (each chunk's last frame lasts until the next chunk's first) and keep their nominal
    rate (NOMINAL_FPS_KEY), which the timecode track counts in.
    """
    from core.media.prores import NOMINAL_FPS_KEY

    if not chunks:
        raise MediaError("nothing to join: no chunk movies")
    count = 0
    with atomic_path(output) as tmp:
        out = av.open(str(tmp), "w", format="mov", options={"movflags": "use_metadata_tags+write_colr"})
        try:
            for key, value in (metadata or {}).items():
                out.metadata[key] = str(value)
            ostream = None
            offset = 0
            for chunk in chunks:
                with av.open(str(chunk)) as inp:
                    istream = inp.streams.video[0]
                    if ostream is None:
                        nominal = inp.metadata.get(NOMINAL_FPS_KEY)
                        if nominal:
                            out.metadata[NOMINAL_FPS_KEY] = nominal
                        ostream = out.add_stream_from_template(istream)
                        ostream.time_base = istream.time_base
                        # The template does not carry the sample-entry tag; without it the muxer
                        # labels every ProRes as 'apch' (422 HQ) even when the packets are 4444.
                        if istream.codec_context.codec_tag:
                            ostream.codec_context.codec_tag = istream.codec_context.codec_tag
                        # nor the pixel aspect: an anamorphic render would come out square
                        sar = istream.sample_aspect_ratio or istream.codec_context.sample_aspect_ratio
                        if sar and float(sar) > 0 and sar != 1:
                            ostream.codec_context.sample_aspect_ratio = sar
                        if timecode:
                            ostream.metadata["timecode"] = timecode
                            # the mov muxer writes the tmcd track only for a stream with a frame rate,
                            # which a stream copied from a template lacks: without it the timecode was dropped
                            # (a VFR chunk's average rate is not a frame rate: its nominal one)
                            ostream.codec_context.framerate = (Fraction(nominal) if nominal else None) \
                                or istream.average_rate or istream.guessed_rate
                    elif istream.codec_context.name != ostream.codec_context.name:
                        raise MediaError(f"cannot join {chunk}: codec differs from the first chunk")
                    last_end = offset
                    for packet in inp.demux(istream):
                        if packet.dts is None:
                            continue
                        dur = packet.duration or 0
                        packet.pts = packet.pts + offset
                        packet.dts = packet.dts + offset
                        last_end = max(last_end, packet.pts + dur)
                        packet.stream = ostream
                        out.mux(packet)
                        count += 1
                    offset = last_end
        finally:
            out.close()
    return count
