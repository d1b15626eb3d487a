"""Image normalisation for the analysis models: every model takes uint8 RGB, HxWx3, contiguous."""

from __future__ import annotations

import numpy as np

from core.errors import MediaError


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Convert grayscale (HxW, HxWx1), RGB, RGBA (alpha dropped, not composited) and 16-bit or
    float (0..1) images to contiguous uint8 RGB. Raises MediaError for anything else."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise MediaError(f"cannot analyse an image of shape {a.shape}: expected HxW, HxWx3 or HxWx4")
    if a.dtype != np.uint8:
        if a.dtype == np.uint16:
            a = (a >> 8).astype(np.uint8)
        elif np.issubdtype(a.dtype, np.floating):
            a = (np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        elif np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
            a = np.clip(a, 0, 255).astype(np.uint8)
        else:
            raise MediaError(f"cannot analyse an image of dtype {a.dtype}")
    c = a.shape[2]
    if c in (1, 2):  # gray or gray+alpha
        a = np.repeat(a[:, :, :1], 3, axis=2)
    elif c == 4:
        a = a[:, :, :3]
    return np.ascontiguousarray(a)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".exr", ".jp2", ".ppm", ".pgm"}


def is_still(path) -> bool:
    """Whether a path names a still image (by suffix) rather than a clip."""
    from pathlib import Path

    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def load_image(path) -> np.ndarray:
    """A still as uint8 RGB (grayscale, RGBA, 16-bit converted). MediaError when unreadable."""
    from pathlib import Path

    import cv2

    p = Path(path)
    if p.is_dir():
        raise MediaError(f"{p} is a folder: give an image file")
    if not p.is_file():
        raise MediaError(f"image not found: {p}")
    if p.suffix.lower() in (".exr", ".dpx"):  # scene-linear or log: through the plate reader's display transform
        return _via_reader(p)
    data = np.fromfile(str(p), dtype=np.uint8)
    # a JPEG decoded as colour takes its EXIF orientation (a phone photo stored sideways is read
    # upright, as plates are); other formats keep their alpha and depth
    flag = cv2.IMREAD_COLOR if p.suffix.lower() in (".jpg", ".jpeg") else cv2.IMREAD_UNCHANGED
    try:
        img = cv2.imdecode(data, flag) if data.size else None
    except cv2.error as exc:  # e.g. over OpenCV's decode limit (2^30 pixels)
        raise MediaError(f"cannot read image {p}: {str(exc).strip().splitlines()[-1]}; an image this large "
                         "cannot be decoded here: scale it down (a face needs no more than a few megapixels)") from exc
    if img is None and p.suffix.lower() in (".tif", ".tiff"):
        return _via_reader(p)
    if img is None:
        raise MediaError(f"cannot read image {p}: not a supported or intact image file")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return to_rgb8(img)


def _via_reader(path) -> np.ndarray:
    """A still the plate reader decodes (EXR, DPX, TIFF that OpenCV cannot), display-referred uint8 RGB."""
    from core.media.reader import open_media

    with open_media(path) as reader:
        return reader.read_rgb8(0)
