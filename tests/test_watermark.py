"""The render-id watermark on its own: invisible, robust to mild compression, every pixel type,
premultiplied patches marked in straight colour, and fast enough for every delivered frame."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from core.delivery.watermark import detect, embed


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    from skimage import data

    return cv2.resize(data.astronaut(), (1920, 1080), interpolation=cv2.INTER_CUBIC)


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    return float(10 * np.log10(peak ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_invisible_and_survives_jpeg(frame):
    marked = embed(frame, "render-1")
    assert _psnr(marked, frame, 255) > 45
    assert detect(marked, "render-1")["matches"] is True
    assert detect(marked, "render-2")["matches"] is False
    assert detect(frame)["present"] is False
    ok, buf = cv2.imencode(".jpg", marked, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok and detect(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), "render-1")["matches"] is True


@pytest.mark.parametrize("kind", ["uint16", "float32", "odd-size"])
def test_pixel_types_and_sizes(frame, kind):
    img = {"uint16": frame.astype(np.uint16) * 257, "float32": frame.astype(np.float32) / 255,
           "odd-size": frame[:1079, :1917]}[kind]
    marked = embed(img, "r")
    assert marked.dtype == img.dtype and marked.shape == img.shape
    assert detect(marked, "r")["matches"] is True


def test_premultiplied_patch_is_marked_in_straight_colour(frame):
    h, w = frame.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    alpha[200:900, 600:1400] = 1.0
    alpha[150:200, 600:1400] = 0.1  # a soft edge
    rgba = np.concatenate([frame * alpha[..., None], alpha[..., None] * 255], axis=2).round().astype(np.uint8)
    marked = embed(rgba, "patch")
    assert np.array_equal(marked[alpha == 0], rgba[alpha == 0])  # no colour where alpha is 0
    edge = np.abs(marked[150:200, 600:1400, :3].astype(int) - rgba[150:200, 600:1400, :3]).max()
    core_ = np.abs(marked[200:900, 600:1400, :3].astype(int) - rgba[200:900, 600:1400, :3]).max()
    assert edge <= max(1, core_ // 5)
    assert detect(marked, "patch", mask=alpha == 1.0)["matches"] is True


def test_fast_enough_for_every_frame(frame):
    embed(frame, "warm")
    t0 = time.perf_counter()
    for _ in range(3):
        embed(frame, "x")
    per = (time.perf_counter() - t0) / 3
    # 1080p: ~0.08 s on a busy 2-core machine (the DWT/DCT/IDCT/IDWT chain took 0.4 s)
    assert per < 0.25, per


@pytest.mark.parametrize("channels", [3, 4])
def test_linear_float_frame_is_marked_in_display_values_and_keeps_the_rest(frame, channels):
    """An EXR render (scene-linear float) is marked in its sRGB encoding and decoded back: the
    mark reads from the encoded frame, alpha is untouched, values outside 0..1 (highlights,
    negatives) and NaN keep their value, and the frame given is not modified."""
    from core.media.colour import srgb_decode, srgb_encode
    from core.render.job import watermarked

    lin = srgb_decode(frame.astype(np.float32) / 255)
    img = np.concatenate([lin, np.full(lin.shape[:2] + (1,), 0.75, np.float32)], axis=2)[..., :channels].copy()
    img[10:20, 10:20, 0] = 4.0  # a highlight
    img[30:40, 10:20, 1] = -0.02  # a negative (grain below black)
    img[50, 50, 2] = np.nan
    before = img.copy()
    for probe in (img, np.nan_to_num(img, nan=0.5)):  # with a NaN (numpy path) and without (OpenCV)
        out = watermarked(probe, "linear")
        assert out.dtype == np.float32 and out.shape == probe.shape
        assert detect(srgb_encode(np.nan_to_num(out[..., :3])), "linear")["matches"] is True
        outside = ~((probe[..., :3] >= 0) & (probe[..., :3] <= 1))
        np.testing.assert_array_equal(out[..., :3][outside], probe[..., :3][outside])
        if channels == 4:
            np.testing.assert_array_equal(out[..., 3], probe[..., 3])
        inside = ~outside
        assert 0 < np.abs(out[..., :3][inside] - probe[..., :3][inside]).max() < 0.02
    np.testing.assert_array_equal(img, before)


def test_srgb_transfer_whole_frames_match_the_formula():
    """srgb_encode / srgb_decode on whole frames (OpenCV kernels) give the sRGB formula's values
    to float32 rounding, on small arrays and with NaN (numpy) too; NaN stays NaN."""
    from core.media.colour import srgb_decode, srgb_encode

    def enc(v: np.ndarray) -> np.ndarray:
        v = np.clip(v.astype(np.float64), 0, 1)
        return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)

    def dec(v: np.ndarray) -> np.ndarray:
        v = v.astype(np.float64)
        return np.where(v <= 0.04045, v / 12.92, ((np.clip(v, 0, None) + 0.055) / 1.055) ** 2.4)

    rng = np.random.default_rng(5)
    for shape in [(512, 512, 3), (300, 700), (7, 5, 3), (100_000,)]:
        x = (rng.random(shape) * 1.6 - 0.3).astype(np.float32)
        for fn, ref in ((srgb_encode, enc), (srgb_decode, dec)):
            got = fn(x)
            assert got.dtype == np.float32 and got.shape == x.shape
            np.testing.assert_allclose(got, ref(x), rtol=2e-6, atol=2e-7)
            y = x.copy()
            y.flat[3] = np.nan
            got = fn(y)
            assert np.isnan(got.flat[3])
            np.testing.assert_allclose(np.delete(got.ravel(), 3), np.delete(ref(y).ravel(), 3), rtol=2e-6, atol=2e-7)


def test_a_premultiplied_float_frame_is_marked_by_its_alpha(frame):
    """A float RGBA frame (a premultiplied EXR plate) was marked at full strength whatever its
    alpha: at alpha 0.002-0.2 the unpremultiplied colour moved by up to 273 10-bit codes. The mark
    is scaled by alpha there, as embed() does for patches; opaque pixels still carry it."""
    from core.media.colour import srgb_decode, srgb_encode
    from core.render.job import watermarked

    lin = srgb_decode(frame.astype(np.float32) / 255)
    h, w = lin.shape[:2]
    alpha = np.ones((h, w), np.float32)
    alpha[:, : w // 4] = np.linspace(0.002, 0.2, w // 4, dtype=np.float32)[None, :]
    img = np.dstack([lin * alpha[..., None], alpha]).astype(np.float32)
    out = watermarked(img, "premult")
    soft = alpha < 0.2
    straight_before = img[..., :3][soft] / alpha[soft][:, None]
    straight_after = out[..., :3][soft] / alpha[soft][:, None]
    assert np.abs(straight_after - straight_before).max() < 0.02
    np.testing.assert_array_equal(out[..., 3], alpha)
    assert detect(srgb_encode(out[:, 512:, :3]), "premult")["matches"] is True  # the opaque part, grid-aligned
