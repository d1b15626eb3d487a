"""Colour for deliverables: sample-type normalisation, BT.709 Y'CbCr, OpenColorIO transforms.

Why explicit: swscale's default RGB<->YUV matrix is BT.601, so an HD ProRes built by a plain
``reformat`` comes out with shifted reds and greens in Nuke or Resolve (which read the BT.709
tag). Facsimile does the RGB -> Y'CbCr step itself with the BT.709 coefficients, in numpy,
and tests it against known patch values.

Scene-linear output (EXR) goes through OpenColorIO with a config built into the library
(``BUILTIN_CONFIG``; no file on disk, no download), pinned to a versioned name so that a
library upgrade never changes the pixels of a re-export.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from core.errors import MediaError

log = logging.getLogger(__name__)

# --- BT.709 Y'CbCr (ITU-R BT.709-6, item 3.2/3.3) -------------------------------------------
KR = 0.2126
KB = 0.0722
KG = 1.0 - KR - KB

#: limited ("tv", "video", "legal") 10-bit range: Y' 64..940, Cb/Cr 64..960 around 512.
Y10_BLACK, Y10_RANGE = 64.0, 876.0
C10_MID, C10_RANGE = 512.0, 896.0


def to_float01(frame: np.ndarray) -> np.ndarray:
    """Any supported sample type to float32 0..1 (uint8 /255, uint16 /65535, float clipped
    to 0..1 only where a display-referred target needs it, so this keeps float as is)."""
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) * np.float32(1.0 / 255.0)
    if frame.dtype == np.uint16:
        return frame.astype(np.float32) * np.float32(1.0 / 65535.0)
    if frame.dtype in (np.float32, np.float16, np.float64):
        return frame.astype(np.float32, copy=False)
    raise MediaError(f"unsupported frame sample type {frame.dtype}: expected uint8, uint16 or float32")


def check_frame(frame: np.ndarray, width: int, height: int) -> None:
    """Raise a clear error for a frame that is not HxWx3 / HxWx4 of the writer's size."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] not in (3, 4):
        shape = getattr(frame, "shape", None)
        raise MediaError(f"a frame must be an HxWx3 (RGB) or HxWx4 (RGBA) array, got shape {shape}")
    if frame.shape[0] != height or frame.shape[1] != width:
        raise MediaError(
            f"frame size {frame.shape[1]}x{frame.shape[0]} does not match the output size {width}x{height}"
        )


def split_alpha(rgb_a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(HxWx3 colour, HxW alpha or None) from an RGB or RGBA float frame."""
    if rgb_a.shape[2] == 4:
        return rgb_a[..., :3], rgb_a[..., 3]
    return rgb_a, None


def unpremultiply(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight colour from premultiplied colour; where alpha is 0 the colour is 0."""
    a = alpha[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(a > 0, rgb / np.where(a > 0, a, 1.0), 0.0)
    return out.astype(np.float32, copy=False)


def unpremultiply_rgba(rgba: np.ndarray) -> np.ndarray:
    """Straight float32 RGBA from premultiplied RGBA (any supported sample type): colour divided
    by alpha, 0 where alpha is 0 or below, alpha kept as it is (unpremultiply's meaning).

    Large frames with finite alpha run on OpenCV (a 4K frame in about 40 ms instead of numpy's
    300: one reciprocal of alpha, one 4-channel multiply, no concatenation); others on numpy."""
    f = np.ascontiguousarray(to_float01(rgba))
    alpha = _cv_alpha(f)
    if alpha is not None:
        import cv2

        inv = cv2.divide(1.0, alpha)  # inf where alpha is 0: masked off below
        inv = cv2.bitwise_and(inv, inv, mask=cv2.compare(alpha, 0.0, cv2.CMP_GT))
        return cv2.multiply(f, cv2.merge([inv, inv, inv, np.ones_like(inv)]))
    return np.concatenate([unpremultiply(f[..., :3], f[..., 3]), f[..., 3:]], axis=-1)


def premultiply_into(rgba: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Straight float32 RGBA -> premultiplied RGBA with alpha clipped to 0..1, written into `out`
    (same shape, float32 or float16): the EXR convention.

    On OpenCV where it can write `out`'s type directly (float16 needs OpenCV 5) and alpha is
    finite: a 4K frame to half in about 40 ms instead of numpy's 280; numpy otherwise."""
    f = np.ascontiguousarray(rgba, np.float32)
    depth = _cv_depth(out.dtype)
    alpha = _cv_alpha(f) if depth is not None and out.flags.c_contiguous and out.shape == f.shape else None
    if alpha is not None:
        import cv2

        a = cv2.min(cv2.max(alpha, 0.0), 1.0)
        f = cv2.insertChannel(a, f.copy() if f is rgba else f, 3)  # alpha clipped, the caller's array kept
        try:
            cv2.multiply(f, cv2.merge([a, a, a, np.ones_like(a)]), dst=out, dtype=depth)
            return out
        except cv2.error:  # an OpenCV without float16 arithmetic: numpy below
            pass
    alpha = np.clip(f[..., 3:], 0.0, 1.0)
    out[..., :3] = f[..., :3] * alpha
    out[..., 3:] = alpha
    return out


def as_float32(frame: np.ndarray) -> np.ndarray:
    """`frame` as float32 (the same array when it is float32 already). Half-float frames (EXR
    plates) convert exactly on OpenCV where it has float16 arithmetic: a 4K RGBA frame in about
    25 ms instead of numpy's 130; NaN, inf and subnormals come through as numpy's do."""
    if frame.dtype == np.float32:
        return frame
    if frame.dtype == np.float16:
        out = np.empty(frame.shape, np.float32)
        if _cv_half_convert(frame, out):
            return out
    return frame.astype(np.float32)


def cast_into(frame: np.ndarray, out: np.ndarray) -> np.ndarray:
    """`frame` (float32) written into `out` (same shape, float16 or float32), rounded as numpy
    rounds; float16 on OpenCV where it has float16 arithmetic (OpenCV 5: a 4K RGBA frame in 30
    ms instead of numpy's 110)."""
    if not (out.dtype == np.float16 and frame.dtype == np.float32 and _cv_half_convert(frame, out)):
        out[...] = frame
    return out


def _cv_half_convert(frame: np.ndarray, out: np.ndarray) -> bool:
    """Convert between float16 and float32 into `out` (same shape) on OpenCV, exactly; False
    where that is not possible or not worth it (small arrays, an OpenCV without float16
    arithmetic, OpenCV 4), and the caller converts with numpy."""
    import cv2

    depth = _cv_depth(out.dtype)
    if (_cv_depth(np.dtype(np.float16)) is None or frame.size < _CV_MIN_VALUES or frame.ndim < 2
            or out.shape != frame.shape or not out.flags.c_contiguous):
        return False
    src = np.ascontiguousarray(frame).reshape(frame.shape[0], -1)  # one channel: the scalar applies to every value
    if src.shape[1] >= 2**31:
        return False
    try:
        cv2.multiply(src, 1.0, dst=out.reshape(src.shape), dtype=depth)
    except cv2.error:
        return False
    return True


def _cv_depth(dtype: np.dtype) -> int | None:
    """OpenCV's depth code for a float32 or float16 array (None for float16 on an OpenCV
    without it, and for any other type)."""
    import cv2

    return {np.dtype(np.float32): cv2.CV_32F, np.dtype(np.float16): getattr(cv2, "CV_16F", None)}.get(np.dtype(dtype))


def _cv_alpha(rgba: np.ndarray) -> np.ndarray | None:
    """The alpha plane of a contiguous float32 RGBA frame for OpenCV's paths: only when the frame
    is large enough to be worth it and every alpha is finite (OpenCV's min/max and divide do not
    keep NaN as numpy does); None sends the caller to numpy."""
    if not (rgba.ndim == 3 and rgba.shape[2] == 4 and rgba.dtype == np.float32 and rgba.size >= _CV_MIN_VALUES
            and rgba.flags.c_contiguous and rgba.shape[1] * 4 < 2**31):
        return None
    import cv2

    alpha = cv2.extractChannel(rgba, 3)
    finite, _where = cv2.checkRange(alpha)
    return alpha if finite else None


#: Y'CbCr luma coefficients (Kr, Kb) by matrix: BT.709, and BT.2020 non-constant luminance (the
#: matrix of Rec.2100 PQ and HLG video)
YCBCR_COEFFICIENTS = {"bt709": (KR, KB), "bt2020nc": (0.2627, 0.0593)}
#: HDR video transfer tags -> the config's display colour space of that encoding (Rec.2100)
HDR_COLORSPACES = {"smpte2084": "Rec.2100-PQ - Display", "arib-std-b67": "Rec.2100-HLG - Display"}
#: HDR encodings -> the ACES output transform (a view of the config's display of that name) that
#: makes such a master. Their picture for eyes and face networks is that view inverted, back to
#: scene light, then the SDR video view: a tone mapping, so HDR's reference white (BT.2408: 203
#: nits, HLG 75%) lands below SDR white instead of every level above 100 nits clipping to it.
HDR_SDR_VIEWS = {"Rec.2100-PQ - Display": "ACES 1.1 - HDR Video (1000 nits & Rec.2020 lim)",
                 "Rec.2100-HLG - Display": "ACES 1.1 - HDR Video (1000 nits & Rec.2020 lim)",
                 "ST2084-P3-D65 - Display": "ACES 1.1 - HDR Video (1000 nits & P3 lim)"}
SDR_DISPLAY, SDR_VIEW = "sRGB - Display", "ACES 1.0 - SDR Video"


def _ycbcr_matrix(scale: float, kr: float = KR, kb: float = KB) -> np.ndarray:
    """3x4 affine matrix: R'G'B' * scale (0..1) -> 10-bit limited-range Y'CbCr code values."""
    kg = 1.0 - kr - kb
    cb = np.array([-kr, -kg, 1.0 - kb]) * (0.5 / (1.0 - kb))
    cr = np.array([1.0 - kr, -kg, -kb]) * (0.5 / (1.0 - kr))
    m = np.zeros((3, 4), np.float64)
    m[0, :3] = Y10_RANGE * np.array([kr, kg, kb]) * scale
    m[1, :3] = C10_RANGE * cb * scale
    m[2, :3] = C10_RANGE * cr * scale
    m[:, 3] = (Y10_BLACK + 0.5, C10_MID + 0.5, C10_MID + 0.5)  # +0.5: round when truncating below
    return m


def rgb_to_ycbcr709_10bit(rgb: np.ndarray, matrix: str = "bt709") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Display-referred R'G'B' (HxWx3: float 0..1, or uint8 / uint16 full range) to BT.709
    limited-range 10-bit planes.

    Returns (Y', Cb, Cr) as uint16 HxW arrays: Y' 64..940, Cb/Cr 64..960 (512 is neutral).
    Float input is clipped to 0..1 first (no super-whites in a deliverable; NaN is black). `matrix` "bt2020nc"
    takes BT.2020's luma coefficients instead (HDR video: Rec.2100 PQ or HLG). The 3x4 matrix
    runs in OpenCV (multi-threaded, about 5x faster than the same numpy expression at 1080p).
    """
    import cv2

    if rgb.dtype == np.uint8:
        src, scale = rgb.astype(np.float32), 1.0 / 255.0
    elif rgb.dtype == np.uint16:
        src, scale = rgb.astype(np.float32), 1.0 / 65535.0
    else:  # NaN (a damaged float plate pixel) is black, not an illegal code below Y' 64
        src, scale = np.clip(np.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0, dtype=np.float32), 1.0
    ycc = cv2.transform(np.ascontiguousarray(src[..., :3]), _ycbcr_matrix(scale, *YCBCR_COEFFICIENTS[matrix]))
    y, cb, cr = cv2.split(ycc.astype(np.uint16))  # values are >= 63.5: truncation rounds
    return y, cb, cr


def ycbcr709_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, bits: int = 10) -> np.ndarray:
    """BT.709 limited-range Y'CbCr planes of `bits` depth back to float R'G'B' 0..1 (HxWx3)."""
    scale = float(1 << (bits - 10))
    yn = (y.astype(np.float64) / scale - Y10_BLACK) / Y10_RANGE
    cbn = (cb.astype(np.float64) / scale - C10_MID) / C10_RANGE
    crn = (cr.astype(np.float64) / scale - C10_MID) / C10_RANGE
    r = yn + 2.0 * (1.0 - KR) * crn
    b = yn + 2.0 * (1.0 - KB) * cbn
    g = (yn - KR * r - KB * b) / KG
    return np.clip(np.stack([r, g, b], axis=-1), 0.0, 1.0).astype(np.float32)


def alpha_to_10bit(alpha: np.ndarray) -> np.ndarray:
    """Alpha float 0..1 to full-range 10-bit 0..1023 (ProRes 4444 alpha is not range-limited)."""
    return np.rint(np.clip(alpha, 0.0, 1.0) * 1023.0).astype(np.uint16)


def subsample_422(c: np.ndarray) -> np.ndarray:
    """Horizontal 2:1 chroma subsampling, co-sited with the left luma sample ([1 2 1]/4 filter),
    the siting ProRes 422 and Rec.709 use. Width must be even."""
    c = c.astype(np.float32)
    left = np.concatenate([c[:, :1], c[:, 1:-1:2]], axis=1)  # neighbour left of each even sample
    out = (left + 2.0 * c[:, 0::2] + c[:, 1::2]) * 0.25
    return np.rint(out).astype(np.uint16)


# --- OpenColorIO -----------------------------------------------------------------------------
#: A built-in config (ships inside the OCIO library since 2.3), pinned by version.
BUILTIN_CONFIG = "ocio://studio-config-v2.1.0_aces-v1.3_ocio-v2.3"
#: Display-referred 8/16-bit plates (camera mp4/mov, PNG, JPEG) are read as sRGB texture.
DEFAULT_INPUT_COLORSPACE = "sRGB - Texture"
#: Scene-linear EXR default; "ACEScg" is the other common choice.
DEFAULT_LINEAR_COLORSPACE = "Linear Rec.709 (sRGB)"


@functools.lru_cache(maxsize=1)
def ocio_config():
    """The built-in OpenColorIO config (cached)."""
    import PyOpenColorIO as ocio

    try:
        return ocio.Config.CreateFromFile(BUILTIN_CONFIG)
    except Exception as exc:  # noqa: BLE001 - an old OCIO without built-in configs
        raise MediaError(
            f"OpenColorIO {ocio.__version__} has no built-in config {BUILTIN_CONFIG}: "
            "install OpenColorIO 2.3 or newer"
        ) from exc


def colorspace_names() -> list[str]:
    """Every colour space name of the built-in config: the scene-referred ones, then the display
    ones (Rec.2100-PQ - Display ...: what an HDR master's codes are)."""
    import PyOpenColorIO as ocio

    config = ocio_config()
    scene = [cs.getName() for cs in config.getColorSpaces()]
    # the config keeps its display spaces inactive (out of its menus); they are still valid names
    display = [cs.getName() for cs in config.getColorSpaces(ocio.SEARCH_REFERENCE_SPACE_DISPLAY,
                                                              ocio.COLORSPACE_ALL)]
    return scene + [n for n in display if n not in scene and n.endswith(" - Display")]


def resolve_colorspace(name: str) -> str:
    """The canonical name of a colour space (aliases such as ``lin_ap1`` and any letter case
    are accepted); raises MediaError listing the valid names otherwise."""
    config = ocio_config()
    cs = config.getColorSpace(name)
    if cs is None:
        lowered = {n.lower(): n for n in colorspace_names()}
        if name.lower() in lowered:
            return lowered[name.lower()]
        valid = ", ".join(f"'{n}'" for n in colorspace_names())
        raise MediaError(f"unknown colour space '{name}': valid names are {valid}")
    return cs.getName()


# Below this many values numpy is as fast as OpenCV's threaded kernels (and keeps NaN as NaN).
_CV_MIN_VALUES = 1 << 16


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear values -> sRGB-encoded 0..1 (clipped to 0..1 first).

    Whole frames (the watermark of a linear render, the networks' view of a float plate) run on
    OpenCV: a 4K frame in 40-60 ms instead of numpy's 300. NaN stays NaN either way."""
    x = np.asarray(linear, np.float32)
    fast = _cv_frame(x)
    if fast is not None:
        import cv2

        c = cv2.min(cv2.max(fast, 0.0), 1.0)
        out = cv2.pow(c, 1.0 / 2.4)
        out *= np.float32(1.055)
        out -= np.float32(0.055)
        cv2.copyTo(c * np.float32(12.92), cv2.compare(c, 0.0031308, cv2.CMP_LE), out)
        return out.reshape(x.shape)
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """sRGB-encoded 0..1 values -> linear (the inverse of the sRGB transfer function); values
    below 0 stay on the linear segment, above 1 follow the power law (as numpy's did)."""
    x = np.asarray(encoded, np.float32)
    fast = _cv_frame(x)
    if fast is not None:
        import cv2

        base = cv2.max(fast, 0.0)
        base += np.float32(0.055)
        base *= np.float32(1.0 / 1.055)
        out = cv2.pow(base, 2.4)
        cv2.copyTo(fast * np.float32(1.0 / 12.92), cv2.compare(fast, 0.04045, cv2.CMP_LE), out)
        return out.reshape(x.shape)
    return np.where(x <= 0.04045, x / 12.92, np.power((np.clip(x, 0.0, None) + 0.055) / 1.055, 2.4)).astype(np.float32)


def _cv_frame(x: np.ndarray) -> np.ndarray | None:
    """x as a contiguous 2-D float32 array for OpenCV when that is worth it and exact in meaning
    (large, every value finite: OpenCV's min/max would not keep NaN); else None."""
    if x.size < _CV_MIN_VALUES or x.ndim == 0:
        return None
    import cv2

    flat = np.ascontiguousarray(x).reshape(x.shape[0], -1) if x.ndim > 1 else np.ascontiguousarray(x).reshape(1, -1)
    if flat.shape[1] > 2**31 - 1:
        return None
    finite, _where = cv2.checkRange(flat)
    return flat if finite else None


# The Color Interop Forum's ids (OpenEXR 3.4+ `colorInteropID`) of the config's linear spaces: the
# standard way for an EXR to say its primaries; `chromaticities` carries the same to older readers.
INTEROP_IDS = {"Linear Rec.709 (sRGB)": "lin_rec709_scene", "ACEScg": "lin_ap1_scene",
               "ACES2065-1": "lin_ap0_scene", "Linear Rec.2020": "lin_rec2020_scene",
               "Linear P3-D65": "lin_p3d65_scene"}


def exr_colour_attributes(colorspace: str) -> dict:
    """`colorInteropID` and `chromaticities` header attributes of an EXR in `colorspace` (empty for
    a space without an interop id, e.g. Raw mattes)."""
    interop = INTEROP_IDS.get(resolve_colorspace(colorspace))
    if interop is None:
        return {}
    import OpenEXR

    out: dict = {"colorInteropID": interop}
    chroma = getattr(OpenEXR, "colorInteropIDToChromaticities", None)
    if chroma is not None:
        out["chromaticities"] = tuple(float(v) for v in chroma(interop))
    return out


def _tagged_exr_colorspace(metadata: dict) -> str | None:
    """The linear colour space an EXR's colorInteropID, or else its chromaticities, names."""
    interop = metadata.get("colorInteropID")
    if not interop and metadata.get("chromaticities"):
        try:
            import OpenEXR

            values = tuple(float(v) for v in str(metadata["chromaticities"]).strip("()[] ").split(","))
            interop = OpenEXR.chromaticitiesToColorInteropID(values) if len(values) == 8 else None
        except (ValueError, AttributeError, TypeError, ImportError):
            interop = None
    for name, iid in INTEROP_IDS.items():
        if iid == interop:
            return name
    return None


def plate_colorspace(info, sample_dtype, override: str | None = None) -> tuple[str, bool]:
    """(input colour space, premultiplied) of a plate whose frames decode as `sample_dtype`.

    Float frames (EXR, float TIFF) are scene-linear, in the colour space their file names (its
    `colorspace` attribute, else its colorInteropID or chromaticities, else Linear Rec.709) and, with alpha, premultiplied (the EXR convention); integer frames are
    display-referred with straight alpha: sRGB codes, or Rec.2100 PQ / HLG when the video's
    transfer tag says so. A writer fed a plate's frames needs both, or a linear
    plate is decoded as sRGB a second time (every render and export of it darker)."""
    is_float = np.dtype(sample_dtype).kind == "f"
    premultiplied = is_float and bool(getattr(info, "has_alpha", False))
    if override:
        return resolve_colorspace(override), premultiplied
    if is_float:
        tagged = (getattr(info, "metadata", None) or {}).get("colorspace")
        if isinstance(tagged, str):
            try:
                return resolve_colorspace(tagged), premultiplied
            except MediaError:
                log.warning("unknown colour space tag '%s' in %s: assuming %s", tagged,
                            getattr(info, "path", "the plate"), DEFAULT_LINEAR_COLORSPACE)
        named = _tagged_exr_colorspace(getattr(info, "metadata", None) or {})  # its primaries, the standard way
        return named or DEFAULT_LINEAR_COLORSPACE, premultiplied
    hdr = HDR_COLORSPACES.get(getattr(info, "color_transfer", None) or "")
    if hdr is not None:  # HDR video says its encoding: PQ or HLG codes are not sRGB ones
        return hdr, premultiplied
    return DEFAULT_INPUT_COLORSPACE, premultiplied


def needs_display_transform(colorspace: str | None, sample_dtype) -> bool:
    """True when a plate in `colorspace` (None: the automatic reading of plate_colorspace) is not
    what to_rgb8 assumes (sRGB code values for integer frames, linear Rec.709 for float), e.g. a
    camera log plate (ARRI LogC3, S-Log3) or an ACEScg EXR set by the user."""
    if not colorspace:
        return False
    auto = DEFAULT_LINEAR_COLORSPACE if np.dtype(sample_dtype).kind == "f" else DEFAULT_INPUT_COLORSPACE
    return resolve_colorspace(colorspace) != auto


def display_colorspace(info, override: str | None = None) -> str | None:
    """The colour space a plate's frames become display pictures from (display_rgb8) for the
    viewer and the face tools, or None where to_rgb8 reads them right: the user's setting, else
    what the file says (an HDR video's transfer tag, an EXR's colour space tag or primaries).
    One rule for the analyser, the studio and the render, so an HDR phone clip or an ACEScg EXR
    is seen the same way by all three without anyone setting its colour space."""
    kind = np.float32 if getattr(info, "color_transfer", None) == "linear" else np.uint16
    cs, _ = plate_colorspace(info, kind, override)
    return cs if needs_display_transform(cs, kind) else None


def display_note(colorspace: str | None) -> str:
    """What the viewer says of a plate shown through display_rgb8 ("" when it is shown as it is)."""
    if not colorspace:
        return ""
    cs = resolve_colorspace(colorspace)
    if cs in HDR_SDR_VIEWS:
        return f"{cs.removesuffix(' - Display')} shown tone mapped to SDR (ACES)"
    return f"{cs} shown as sRGB"


def display_rgb8(frame: np.ndarray, colorspace: str | None) -> np.ndarray:
    """A plate frame as 8-bit sRGB for eyes and face networks: through OpenColorIO from the
    plate's colour space when it is not what to_rgb8 assumes (a log plate looks flat, and the
    face detector and landmarker were trained on display pictures; an HDR one is tone mapped,
    HDR_SDR_VIEWS), else to_rgb8 as it is."""
    from core.media.reader import to_rgb8

    if not needs_display_transform(colorspace, frame.dtype):
        return to_rgb8(frame)
    rgb = np.ascontiguousarray(frame[..., :3])
    if rgb.dtype not in (np.uint8, np.uint16, np.float16, np.float32):
        rgb = rgb.astype(np.float32)
    if rgb.dtype.kind == "f":
        rgb = np.nan_to_num(rgb, nan=0.0)
    out = np.empty(rgb.shape, np.uint8)  # OpenColorIO quantises (and clamps) to 8 bits itself
    _apply_in_strips(_display_processor(colorspace, rgb.dtype.name, "uint8"), rgb, out)
    return out


def is_linear(name: str) -> bool:
    """True for a scene-linear colour space of the config (ACEScg, Linear Rec.709 ...)."""
    return ocio_config().getColorSpace(resolve_colorspace(name)).getEncoding() == "scene-linear"


@functools.lru_cache(maxsize=64)
def is_linear_map(src: str, dst: str) -> bool:
    """True when the transform from `src` to `dst` is a plain 3x3 matrix on colour (or nothing):
    it then commutes with premultiplication, so premultiplied colour can be transformed as it
    is (Linear Rec.709 -> ACEScg yes; anything through a transfer curve or log no)."""
    import PyOpenColorIO as ocio

    src, dst = resolve_colorspace(src), resolve_colorspace(dst)
    group = ocio_config().getProcessor(src, dst).getOptimizedProcessor(ocio.OPTIMIZATION_DEFAULT).createGroupTransform()
    for t in group:
        if not isinstance(t, ocio.MatrixTransform):
            return False
        m, off = list(t.getMatrix()), list(t.getOffset())
        if any(off) or m[3] or m[7] or m[11] or m[12:16] != [0.0, 0.0, 0.0, 1.0]:
            return False  # an offset, or alpha mixed with colour
    return True


def _ocio_depth(dtype: np.dtype):
    import PyOpenColorIO as ocio

    table = {np.dtype(np.uint8): ocio.BIT_DEPTH_UINT8, np.dtype(np.uint16): ocio.BIT_DEPTH_UINT16,
             np.dtype(np.float16): ocio.BIT_DEPTH_F16, np.dtype(np.float32): ocio.BIT_DEPTH_F32}
    return table[np.dtype(dtype)]


@functools.lru_cache(maxsize=32)
def _display_processor(colorspace: str, in_dtype: str, out_dtype: str = "float32", inverse: bool = False):
    """OCIO CPU processor from a plate's colour space to the sRGB display picture the face tools and
    the viewer see (inverse: back). An HDR encoding (HDR_SDR_VIEWS) is tone mapped through ACES;
    any other space is converted as it is (a log plate's picture is its sRGB rendering).

    The ACES output transforms mix the channels, so OCIO has no lookup-table fast path for them
    (307 ms a 1080p frame, bench/plates.py): the forward direction is baked once into a 65^3 cube
    on the HDR codes (perceptually even, as PQ and HLG are) and applied with tetrahedral
    interpolation (29 ms; within one 8-bit code of the exact transform on natural pictures)."""
    import PyOpenColorIO as ocio

    cs = resolve_colorspace(colorspace)
    view = HDR_SDR_VIEWS.get(cs)
    if view is None:
        if inverse:
            return _cpu_processor(DEFAULT_INPUT_COLORSPACE, cs, in_dtype, out_dtype)
        return _cpu_processor(cs, DEFAULT_INPUT_COLORSPACE, in_dtype, out_dtype)
    group = ocio.GroupTransform()
    group.appendTransform(ocio.DisplayViewTransform(src="ACES2065-1", display=cs, view=view,
                                                    direction=ocio.TRANSFORM_DIR_INVERSE))
    group.appendTransform(ocio.DisplayViewTransform(src="ACES2065-1", display=SDR_DISPLAY, view=SDR_VIEW))
    if inverse:
        processor = ocio_config().getProcessor(group, ocio.TRANSFORM_DIR_INVERSE)
    else:
        processor = ocio_config().getProcessor(_baked_cube(group, HDR_CUBE_SIZE))
    return processor.getOptimizedCPUProcessor(_ocio_depth(np.dtype(in_dtype)), _ocio_depth(np.dtype(out_dtype)),
                                              ocio.OPTIMIZATION_DEFAULT)


HDR_CUBE_SIZE = 65  # grid points per axis of the baked HDR -> SDR cube


def _baked_cube(transform, size: int):
    """An OCIO Lut3DTransform sampling `transform` on a size^3 grid over 0..1 (tetrahedral)."""
    import PyOpenColorIO as ocio

    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")  # OCIO's order: blue varies fastest
    grid = np.ascontiguousarray(np.stack([r, g, b], axis=-1).reshape(-1, 3))
    ocio_config().getProcessor(transform).getDefaultCPUProcessor().applyRGB(grid)
    cube = ocio.Lut3DTransform(size)
    cube.setInterpolation(ocio.INTERP_TETRAHEDRAL)
    cube.setData(np.ascontiguousarray(grid.ravel(), np.float32))
    return cube


def to_display(img: np.ndarray, colorspace: str) -> np.ndarray:
    """float32 sRGB display picture (0..1) of a float image in a plate's colour space: what
    display_rgb8 shows, before its 8-bit rounding (core.render's restorer works on it)."""
    src = np.ascontiguousarray(img, np.float32)
    out = np.empty(src.shape, np.float32)
    _apply_in_strips(_display_processor(colorspace, "float32"), src, out)
    return np.clip(out, 0.0, 1.0)


def from_display(img: np.ndarray, colorspace: str) -> np.ndarray:
    """to_display's inverse: an sRGB display picture (float 0..1) back into the plate's colour space."""
    src = np.ascontiguousarray(img, np.float32)
    out = np.empty(src.shape, np.float32)
    _apply_in_strips(_display_processor(colorspace, "float32", inverse=True), src, out)
    return out


@functools.lru_cache(maxsize=64)
def _cpu_processor(src: str, dst: str, in_dtype: str, out_dtype: str = "float32"):
    import PyOpenColorIO as ocio

    processor = ocio_config().getProcessor(src, dst)
    return processor.getOptimizedCPUProcessor(_ocio_depth(np.dtype(in_dtype)), _ocio_depth(np.dtype(out_dtype)),
                                              ocio.OPTIMIZATION_DEFAULT)


def _packed(arr: np.ndarray):
    import PyOpenColorIO as ocio

    h, w, n = arr.shape
    size = arr.itemsize
    return ocio.PackedImageDesc(arr, w, h, n, _ocio_depth(arr.dtype), size, size * n, size * n * w)


def convert_colorspace_into(frame: np.ndarray, src: str, dst: str, out: np.ndarray) -> np.ndarray:
    """Transform `frame` (HxWx3/4; uint8, uint16, float16 or float32) from `src` to `dst` into
    the preallocated `out` (HxWx3/4, float16 or float32) in one OpenColorIO pass.

    OCIO also does the sample-type conversion and RGB -> RGBA (alpha 1), so the EXR writer
    gets half-float RGBA straight out of the colour transform (no extra numpy passes).
    """
    src, dst = resolve_colorspace(src), resolve_colorspace(dst)
    if frame.dtype not in (np.uint8, np.uint16, np.float16, np.float32):
        frame = frame.astype(np.float32)
    frame = np.ascontiguousarray(frame)
    if out.shape[:2] != frame.shape[:2] or not out.flags.c_contiguous:
        raise ValueError("out must be a C-contiguous array of the frame's height and width")
    _apply_in_strips(_cpu_processor(src, dst, frame.dtype.name, out.dtype.name), frame, out)
    return out


# Below this many pixels a frame is transformed in one piece; above, in horizontal strips on a few
# threads (OpenColorIO's CPU processor is thread-safe and lets go of the GIL): a camera log ->
# sRGB transform of a 16-bit 1080p frame takes 61 ms in one piece and 30 ms in two on two cores.
_STRIP_MIN_PIXELS = 1 << 18
_STRIP_POOL = None


def _apply_in_strips(processor, frame: np.ndarray, out: np.ndarray) -> None:
    """processor.apply(frame -> out) (both C-contiguous HxWxC), split into row strips on threads."""
    global _STRIP_POOL
    import os

    h, w = frame.shape[:2]
    n = min(4, os.cpu_count() or 1, max(1, h // 64))
    if h * w < _STRIP_MIN_PIXELS or n < 2:
        processor.apply(_packed(frame), _packed(out))
        return
    if _STRIP_POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _STRIP_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ocio")
    bounds = [(i * h // n, (i + 1) * h // n) for i in range(n)]
    list(_STRIP_POOL.map(lambda ab: processor.apply(_packed(frame[ab[0]:ab[1]]), _packed(out[ab[0]:ab[1]])), bounds))


def convert_colorspace(frame: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Transform an RGB or RGBA frame from colour space `src` to `dst` through OpenColorIO.

    Accepts uint8 / uint16 (full range, normalised by OCIO; integer input runs through OCIO's
    lookup-table fast path, about 10x faster than float at 1080p) or float. Returns float32
    of the same channel count; alpha is passed through (normalised to 0..1). Identity when
    both names resolve to the same space.
    """

    src, dst = resolve_colorspace(src), resolve_colorspace(dst)
    if src == dst:
        return to_float01(frame).copy() if frame.dtype != np.float32 else frame.astype(np.float32, copy=True)
    out = np.empty(frame.shape, np.float32)
    return convert_colorspace_into(frame, src, dst, out)
