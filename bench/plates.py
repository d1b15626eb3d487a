"""What a plate's interpretation costs per frame, measured side by side in one run:

(a) an edit render (AU12 +3, Poisson) of a 2x anamorphic 960x1080 plate, rendered on its
    desqueezed face region, against the same face on square 1920x1080 pixels;
(b) the display picture of a 16-bit camera log (ARRI LogC3) 1080p frame through OpenColorIO
    (what the analyser, the viewer and the thumbnails see), and of a 10-bit PQ (HDR10) frame
    tone mapped through the ACES HDR and SDR output transforms, against the plain 16-bit ->
    8-bit conversion of the same frame.

    .venv/bin/python bench/plates.py [--rounds 7]

The face is the NASA astronaut portrait (scikit-image) placed in a 1080p frame. Runs alternate
(square, anamorphic, square, ...) so that machine noise hits both; medians are printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402


def _frames() -> tuple[np.ndarray, np.ndarray]:
    """(square 1920x1080 frame with the portrait at 1.5x, the same squeezed to 960x1080)."""
    import cv2
    from skimage.data import astronaut

    face = cv2.resize(astronaut(), (768, 768), interpolation=cv2.INTER_CUBIC)
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[156:924, 576:1344] = face
    return frame, np.ascontiguousarray(cv2.resize(frame, (960, 1080), interpolation=cv2.INTER_AREA))


def _median_ms(times: list[float]) -> float:
    return float(np.median(times) * 1e3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)

    from core.analysis.analyzer import Analyzer
    from core.media.colour import convert_colorspace, display_rgb8, from_display, to_float01
    from core.media.reader import to_rgb8
    from core.render.renderer import Renderer, RenderSettings

    square, squeezed = _frames()
    lm = np.asarray(Analyzer(max_faces=1).analyze_image(square, embed=False)[0].landmarks, np.float32)
    base, target = {"AU12": 0.0}, {"AU12": 3.0}
    r_sq, r_ana = Renderer(RenderSettings(mode="edit")), Renderer(RenderSettings(mode="edit"))
    r_sq.eye_memory = r_ana.eye_memory = False
    sq_t: list[float] = []
    ana_t: list[float] = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        r_sq.render(square, lm, base, target)
        sq_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r_ana.render(squeezed, lm, base, target, pixel_aspect=2.0)  # the same landmarks: square space
        ana_t.append(time.perf_counter() - t0)
    a, b = _median_ms(sq_t), _median_ms(ana_t)
    print(f"(a) edit render, square 1920x1080      {a:7.1f} ms")
    print(f"    edit render, anamorphic 960x1080    {b:7.1f} ms   anamorphic / square = {b / a:.2f}")

    log16 = np.clip(np.rint(convert_colorspace(square, "sRGB - Texture", "ARRI LogC3 (EI800)") * 65535), 0,
                    65535).astype(np.uint16)
    pq16 = np.clip(np.rint(from_display(to_float01(square), "Rec.2100-PQ - Display") * 65535), 0,
                   65535).astype(np.uint16)
    plain_t: list[float] = []
    disp_t: list[float] = []
    hdr_t: list[float] = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        to_rgb8(log16)
        plain_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        display_rgb8(log16, "ARRI LogC3 (EI800)")
        disp_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        display_rgb8(pq16, "Rec.2100-PQ - Display")
        hdr_t.append(time.perf_counter() - t0)
    c, d, e = _median_ms(plain_t), _median_ms(disp_t), _median_ms(hdr_t)
    print(f"(b) 16-bit 1080p -> 8-bit, as sRGB codes {c:7.1f} ms")
    print(f"    through LogC3 -> sRGB (OCIO)        {d:7.1f} ms   display / plain = {d / max(c, 1e-6):.1f}")
    print(f"    PQ tone mapped -> sRGB (ACES, OCIO) {e:7.1f} ms   display / plain = {e / max(c, 1e-6):.1f}")
    _deep_decode(args.rounds)
    return 0


def _deep_decode(rounds: int) -> None:
    """(c) converting a decoded frame of a 10-bit ProRes 422 1080p plate to 16-bit RGB: swscale's as it
    comes, and scaled back to full scale (reader._sws_white_gain: swscale stops 0.4 % short)."""
    import tempfile

    import av

    from core.media.reader import open_media

    frame, _ = _frames()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deep.mov"
        with av.open(str(path), "w") as c:
            st = c.add_stream("prores_ks", rate=25)
            st.width, st.height, st.pix_fmt = frame.shape[1], frame.shape[0], "yuv422p10le"
            st.options = {"profile": "2"}
            for _ in range(4):
                for pkt in st.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    c.mux(pkt)
            for pkt in st.encode():
                c.mux(pkt)
        with av.open(str(path)) as c:
            decoded = next(c.decode(video=0))
        with open_media(path) as r:  # the reader's conversion of one decoded frame, with and without
            gain = r._rgb_gain
            plain, scaled = [], []
            for k in range(rounds):
                order = ((None, plain), (gain, scaled))
                for use, out in order if k % 2 == 0 else order[::-1]:
                    r._rgb_gain = use
                    t = time.perf_counter()
                    r._convert(decoded)
                    out.append(time.perf_counter() - t)
    p, q = _median_ms(plain), _median_ms(scaled)
    print(f"(c) 10-bit 1080p frame to RGB, as swscale gives it {p:7.1f} ms")
    print(f"    scaled to full scale ({gain:.5f})          {q:7.1f} ms   scaled / as is = {q / max(p, 1e-6):.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
