"""Draw the Facsimile application icon: resources/icons/facsimile.svg and PNGs at the usual sizes.

The icon is a face outline on a dark rounded square, crossed by an animation curve with
keyframe diamonds (the product: faces driven by edited curves). The SVG and the PNGs are
drawn from the same geometry, so they match. Run it again after changing the design:

    .venv/bin/python installer/make_icon.py            # writes into resources/icons/
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
SIZES = (16, 32, 48, 64, 128, 256, 512)
VIEW = 256.0  # design units: a 256 x 256 canvas

BG_TOP, BG_BOTTOM = (38, 44, 56), (20, 23, 30)
FACE = (226, 232, 240)
CURVE = (255, 153, 51)
KEY = (255, 214, 102)


def _curve_points(n: int = 96) -> list[tuple[float, float]]:
    """The animation curve across the icon, in design units (a damped S like an AU rise)."""
    pts = []
    for i in range(n + 1):
        t = i / n
        x = 30 + 196 * t
        y = 170 - 62 * (0.5 - 0.5 * math.cos(math.pi * t)) - 18 * math.sin(2 * math.pi * t)
        pts.append((x, y))
    return pts


KEYS = (0, 48, 96)  # indices of the curve points that carry a keyframe diamond


def _face_ellipse() -> tuple[float, float, float, float]:
    return (70.0, 34.0, 186.0, 196.0)


def svg_text() -> str:
    """The icon as a standalone SVG document."""
    curve = " ".join(f"{x:.1f},{y:.1f}" for x, y in _curve_points())
    pts = _curve_points()
    diamonds = []
    for k in KEYS:
        x, y = pts[k]
        r = 11
        diamonds.append(f'<polygon points="{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} '
                        f'{x - r:.1f},{y:.1f}" fill="rgb{KEY}" stroke="rgb{BG_BOTTOM}" stroke-width="3"/>')
    x0, y0, x1, y1 = _face_ellipse()
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <title>Facsimile</title>
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="rgb{BG_TOP}"/>
      <stop offset="1" stop-color="rgb{BG_BOTTOM}"/>
    </linearGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="48" ry="48" fill="url(#bg)"/>
  <ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{rx:.1f}" ry="{ry:.1f}" fill="none" stroke="rgb{FACE}" stroke-width="10"/>
  <circle cx="{cx - 24:.1f}" cy="{cy - 18:.1f}" r="8" fill="rgb{FACE}"/>
  <circle cx="{cx + 24:.1f}" cy="{cy - 18:.1f}" r="8" fill="rgb{FACE}"/>
  <polyline points="{curve}" fill="none" stroke="rgb{BG_BOTTOM}" stroke-width="18" stroke-linecap="round" stroke-linejoin="round"/>
  <polyline points="{curve}" fill="none" stroke="rgb{CURVE}" stroke-width="10" stroke-linecap="round" stroke-linejoin="round"/>
  {chr(10).join('  ' + d for d in diamonds).strip()}
</svg>
"""


def draw_png(size: int) -> Image.Image:
    """The icon rasterised at size x size (drawn 4x larger and downsampled for clean edges)."""
    ss = 4
    n = size * ss
    s = n / VIEW
    img = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    # vertical gradient clipped by a rounded-square mask
    grad = Image.new("RGBA", (n, n))
    gd = ImageDraw.Draw(grad)
    for y in range(n):
        t = y / max(n - 1, 1)
        gd.line([(0, y), (n, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(BG_TOP, BG_BOTTOM, strict=True)))
    mask = Image.new("L", (n, n), 0)
    ImageDraw.Draw(mask).rounded_rectangle([8 * s, 8 * s, 248 * s, 248 * s], radius=48 * s, fill=255)
    img.paste(grad, (0, 0), mask)
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = _face_ellipse()
    d.ellipse([x0 * s, y0 * s, x1 * s, y1 * s], outline=FACE, width=max(1, round(10 * s)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    for ex in (cx - 24, cx + 24):
        d.ellipse([(ex - 8) * s, (cy - 18 - 8) * s, (ex + 8) * s, (cy - 18 + 8) * s], fill=FACE)
    pts = [(x * s, y * s) for x, y in _curve_points()]
    for colour, width in ((BG_BOTTOM, 18), (CURVE, 10)):
        w = max(1, round(width * s))
        d.line(pts, fill=colour, width=w, joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps
            d.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=colour)
    for k in KEYS:
        x, y = pts[k]
        r, o = 11 * s, 3 * s
        d.polygon([(x, y - r - o), (x + r + o, y), (x, y + r + o), (x - r - o, y)], fill=BG_BOTTOM)
        d.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=KEY)
    return img.reduce(ss)  # box average: exact coverage, no ringing into the transparent corners


def write_icons(out_dir: Path) -> list[Path]:
    """Write facsimile.svg, facsimile.png (256) and facsimile-<N>.png for every size; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    svg = out_dir / "facsimile.svg"
    svg.write_text(svg_text(), encoding="utf-8")
    written.append(svg)
    for size in SIZES:
        path = out_dir / f"facsimile-{size}.png"
        draw_png(size).save(path, optimize=True)
        written.append(path)
    main_png = out_dir / "facsimile.png"
    draw_png(256).save(main_png, optimize=True)
    written.append(main_png)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "icons", help="output folder")
    args = ap.parse_args()
    for p in write_icons(args.out):
        print(p)


if __name__ == "__main__":
    main()
