"""Named export presets: the deliverables a compositor asks for, by name.

A preset fixes the format (ProRes profile, EXR or PNG), the colour space, the EXR pixel type
and compression, and the output (comp, patch or matte); explicit options still override it
(`facsimile render --preset exr-acescg-patch --compression dwaa`). Names are
``FORMAT-OUTPUT``: ``prores4444-comp``, ``exr-acescg-patch``, ``exr32-lin709-matte``,
``png-comp`` ... (`facsimile render --list-presets`).

Also here: the alpha convention of each combination, written into the sidecar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.errors import FacsimileError

OUTPUTS = ("comp", "patch", "matte")
ACESCG = "ACEScg"
LIN709 = "Linear Rec.709 (sRGB)"
#: A matte is data, not colour: it bypasses the colour transform (EXR header colorspace "Raw").
MATTE_COLORSPACE = "Raw"


@dataclass(frozen=True)
class Preset:
    """One named deliverable: format options plus the render output."""

    name: str
    format: str  # "prores" | "exr" | "png"
    output: str  # comp | patch | matte
    codec: str = "prores4444"  # ProRes profile
    colorspace: str | None = None  # EXR: scene-linear space; None: the writer's default
    pixel_type: str = "half"  # EXR: half | float
    compression: str = "piz"  # EXR: piz | zip | dwaa
    description: str = ""

    @property
    def extension(self) -> str:
        return {"prores": ".mov", "exr": ".exr", "png": ".png"}[self.format]

    def to_json(self) -> dict:
        return asdict(self)


def _build() -> dict[str, Preset]:
    out: dict[str, Preset] = {}
    prores = {"prores4444": "ProRes 4444, 10-bit, straight alpha",
              "prores4444xq": "ProRes 4444 XQ, 10-bit, straight alpha",
              "prores422hq": "ProRes 422 HQ, 10-bit, no alpha"}
    for codec, text in prores.items():
        for o in OUTPUTS:
            out[f"{codec}-{o}"] = Preset(f"{codec}-{o}", "prores", o, codec=codec, description=f"{text}; {o}")
    exr = {"exr-acescg": (ACESCG, "half", "piz"), "exr-lin709": (LIN709, "half", "piz"),
           "exr32-acescg": (ACESCG, "float", "zip"), "exr32-lin709": (LIN709, "float", "zip")}
    for stem, (cs, ptype, comp) in exr.items():
        for o in OUTPUTS:
            out[f"{stem}-{o}"] = Preset(
                f"{stem}-{o}", "exr", o, colorspace=cs, pixel_type=ptype, compression=comp,
                description=f"EXR {ptype} {comp.upper()}, "
                            + (f"{cs}, premultiplied" if o != "matte" else "Raw (matte as data)") + f"; {o} (+ mask.Y)")
    for o in OUTPUTS:
        out[f"png-{o}"] = Preset(f"png-{o}", "png", o, description=f"PNG 16-bit, display-referred, straight alpha; {o}")
    return out


PRESETS: dict[str, Preset] = _build()


def get_preset(name: str) -> Preset:
    """The preset called `name`; a FacsimileError lists the valid names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise FacsimileError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None


def preset_table() -> str:
    """One line per preset (for `facsimile render --list-presets`)."""
    width = max(len(n) for n in PRESETS)
    return "\n".join(f"{p.name:<{width}}  {p.description}" for p in PRESETS.values())


def output_format(path: str) -> str:
    """"prores", "exr" or "png"/"tif" from an output name."""
    lower = path.lower()
    for ext, fmt in ((".mov", "prores"), (".exr", "exr"), (".png", "png"), (".tif", "tif"), (".tiff", "tif")):
        if lower.endswith(ext):
            return fmt
    raise FacsimileError(f"cannot tell the format of {path!r}: use .mov, name.####.exr, .png or .tif")


def alpha_convention(fmt: str, codec: str, output: str, plate_alpha: bool = False) -> dict:
    """How alpha and the matte are stored for a format/output combination (for the sidecar)."""
    if output == "matte":
        return {"convention": "none", "channel": None,
                "matte": "RGB (grey, 0..1, no colour transform)" + ("; also mask.Y" if fmt == "exr" else ""),
                "note": "matte pass: the face matte as grey RGB; no watermark"}
    if output == "patch":
        if fmt == "prores" and codec == "prores422hq":
            return {"convention": "none", "channel": None, "matte": None,
                    "note": "ProRes 422 HQ has no alpha: the patch colour is straight, black outside the face; "
                            "use prores4444 or EXR for a patch with alpha"}
        if fmt == "exr":
            return {"convention": "premultiplied", "channel": "A", "matte": "A and mask.Y",
                    "note": "colour is multiplied by alpha (the EXR convention); alpha = the face matte"}
        return {"convention": "straight", "channel": "A", "matte": "A",
                "note": "colour is not multiplied by alpha; alpha = the face matte (Premult after the Read in Nuke)"}
    # comp: alpha is the plate's own when it has one, else opaque
    alpha = "the plate's alpha" if plate_alpha else "alpha 1 (opaque)"
    if fmt == "exr":
        return {"convention": "premultiplied", "channel": "A", "matte": "mask.Y",
                "note": f"full frame, {alpha}; the face matte is in mask.Y"}
    if fmt == "prores" and codec != "prores422hq":
        return {"convention": "straight", "channel": "A", "matte": None,
                "note": f"full frame, {alpha}; render a matte pass for the face matte"}
    if plate_alpha:
        return {"convention": "none", "channel": None, "matte": None,
                "note": "full frame RGB: this format has no alpha, so the plate's alpha is not in it; render a "
                        "matte pass for the face matte"}
    return {"convention": "none", "channel": None, "matte": None,
            "note": "full frame RGB, no alpha; render a matte pass for the face matte"}
