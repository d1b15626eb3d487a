"""AU curves on real faces (issue 4, item 8): shared clips and posed stills, real analyser + solver.

Contact sheets (frames with their AU values) go to output_dir. Long clips are marked slow.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import core.facs as facs


def _analyse(path, frames: tuple[int, int]):
    from core.analysis.analyzer import Analyzer
    from core.media.reader import open_media

    with open_media(path) as reader:
        analysis = Analyzer(max_faces=1).analyze(reader, frames=frames)
        images = {}
        for t in range(frames[0], frames[1], max(1, (frames[1] - frames[0]) // 8)):
            images[t] = reader.read_rgb8(t)
    faces = facs.extract_shot(analysis)
    assert faces, f"no face found in {path}"
    return analysis, faces[0], images


def _sheet(images: dict[int, np.ndarray], face: facs.FaceAUs, curves: list[str], path) -> None:
    """Frames side by side, each with its plate frame number and the given AU values."""
    tiles = []
    for t, img in images.items():
        tile = cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)
        i = int(np.nonzero(face.frame_indices == t)[0][0])
        cv2.putText(tile, f"frame {t}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
        for k, c in enumerate(curves):
            cv2.putText(tile, f"{c} {face.curve(c)[i]:.1f}", (4, 36 + 16 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (0, 255, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    cv2.imwrite(str(path), cv2.cvtColor(np.hstack(tiles), cv2.COLOR_RGB2BGR))


def test_d0_smile_carries_au12(shared_media, output_dir):
    """d0.mp4 (78 frames): neutral on frames 0..12, broad open smile on about 25..65.
    Checked by eye on d0_sheet.png: frames 0 and 9 neutral (AU12 0.0), frames 27..63 a broad
    smile with teeth (AU12 5.0), frame 72 relaxed again. The smile parts the lips over the teeth,
    which FACS scores 25 (checked on mouth crops of frames 0-15, 20-65 and 70-77 every 5: lips
    together on 0-15 and 70-77, AU25 0.0; teeth between parted lips on 20-65, AU25 1.4-2.5)."""
    _, face, images = _analyse(shared_media("clips", "d0.mp4"), (0, 78))
    _sheet(images, face, ["AU12", "AU06", "AU25", "AU45"], output_dir / "d0_sheet.png")
    au12 = face.curve("AU12")
    smile, neutral = np.nanmean(au12[25:66]), np.nanmean(au12[0:13])
    print(f"\nd0 AU12: smile frames 25..65 mean {smile:.2f}, neutral frames 0..12 mean {neutral:.2f}; "
          f"calibration {face.calibration['method']} on frames {face.calibration.get('neutral_frames')}")
    assert smile >= 3.0 and neutral <= 0.5
    au25 = face.curve("AU25")
    print(f"d0 AU25: smile frames 25..65 min {np.nanmin(au25[25:66]):.2f}; lips together (0..15, 70..77) max "
          f"{np.nanmax(np.r_[au25[0:16], au25[70:78]]):.2f}")
    assert np.nanmin(au25[25:66]) >= 1.0 and np.nanmax(np.r_[au25[0:16], au25[70:78]]) <= 0.3


@pytest.mark.slow
def test_d3_open_mouth_reads_as_lips_part_and_jaw_drop(shared_media, output_dir):
    """d3.mp4 whole (354 frames): at 300-340 she holds an open, rounded mouth (checked by eye on mouth
    crops of 295-330: lips wide apart, jaw dropped, corners drawn in and down with the opening).
    A coder scores 25+26 there. Measured: AU25 3.1, AU26 5.0, AU15 1.5 (max 3.4), AU23 0.2; before
    AU26 carried the corners and upper lip as real open mouths move them, AU15 read 4.4 and AU23
    4.8 on such frames. Frames 150-290 keep the lips together (AU25 <= 0.1)."""
    _, face, images = _analyse(shared_media("clips", "d3.mp4"), (0, 354))
    _sheet({t: img for t, img in images.items() if t >= 250}, face, ["AU25", "AU26", "AU15", "AU23"],
           output_dir / "d3_open_sheet.png")
    c = {n: face.curve(n) for n in ("AU25", "AU26", "AU15", "AU23", "AU14")}
    op = slice(300, 341)
    print("\nd3 open 300-340: " + ", ".join(f"{n} {np.nanmean(v[op]):.2f}" for n, v in c.items()))
    assert np.nanmean(c["AU25"][op]) >= 2.5 and np.nanmean(c["AU26"][op]) >= 4.0
    assert np.nanmean(c["AU15"][op]) <= 2.5 and np.nanmean(c["AU23"][op]) <= 1.0 and np.nanmean(c["AU14"][op]) <= 1.0
    assert np.nanmax(c["AU25"][150:291]) <= 0.3


def test_d18_lips_part_whatever_parts_them(shared_media, output_dir):
    """AU25 is FACS' 'lips part': d18.mp4 frames 0..149. Checked by eye on mouth crops (every 10th
    frame and 25, 35): frames 0-10 at rest; 20-40 the jaw drops with the lips kept together (FACS
    26 without 25: AU26 3.9-4.6, AU25 0.0); 60 and 100 lips together; 80 a wide-open mouth, 120
    and 140 an open grin and a wide-open mouth showing the teeth (AU25 4.3-5.0 beside AU26 5)."""
    _, face, images = _analyse(shared_media("clips", "d18.mp4"), (0, 150))
    _sheet(images, face, ["AU25", "AU26"], output_dir / "d18_sheet.png")
    au25, au26 = face.curve("AU25"), face.curve("AU26")
    print(f"\nd18 AU25 / AU26: closed-lip jaw drop 20..40 {np.nanmax(au25[20:41]):.2f} / {np.nanmean(au26[20:41]):.2f}; "
          f"open frames 80, 120, 140: {au25[[80, 120, 140]].round(2)}")
    assert np.nanmean(au26[20:41]) >= 3.0 and np.nanmax(au25[20:41]) <= 0.3
    assert np.nanmax(au25[[0, 10, 60, 100]]) <= 0.3
    assert au25[[80, 120, 140]].min() >= 3.5


@pytest.mark.slow
def test_d3_wink_one_side(shared_media, output_dir):
    """d3.mp4 frames 0..59: two one-eyed winks. Checked by eye on d3_sheet.png: frames 7 and 14
    the image-right eye (subject's LEFT) is shut, the other open (AU45L 4.3 / 5.0, AU45R 0.0);
    frame 42 the image-left eye (subject's RIGHT) is shut (AU45R 5.0, AU45L 0.0); frames 0 and
    28 both open (0.0 / 0.0). In the second wink the open eye squints (frames 45..47: cheek
    raised, lids narrowed), which reads as trace lid lowering, and at 48..50 it shuts too (a blink
    as the wink ends, checked on crops of the eyes: AU45L 3.8 at 48 with the open-eye check), so
    the second wink is measured over 40..47. 'One side only' is held as the other side below
    FACS A (1.0) and a quarter of the wink."""
    _, face, images = _analyse(shared_media("clips", "d3.mp4"), (0, 60))
    _sheet(images, face, ["AU45L", "AU45R", "AU12"], output_dir / "d3_sheet.png")
    left, right = face.curve("AU45L"), face.curve("AU45R")
    w1l, w1r = np.nanmean(left[9:22]), np.nanmean(right[9:22])
    w2l, w2r = np.nanmean(left[40:48]), np.nanmean(right[40:48])
    print(f"\nd3 wink 1 (frames 9..21): AU45L {w1l:.2f} AU45R {w1r:.2f}; "
          f"wink 2 (frames 40..47): AU45L {w2l:.2f} AU45R {w2r:.2f}")
    assert w1l >= 2.5 and w1r < min(1.0, w1l / 4)
    assert w2r >= 2.5 and w2l < min(1.0, w2r / 4)


@pytest.mark.slow
def test_d3_whole_clip_neutral_keeps_her_eyes_open(shared_media, output_dir):
    """d3.mp4, all 354 frames, auto neutral: she looks down with lowered lids for long stretches
    (frames 60-160, 215-255), which must not become her eyes' neutral. Checked by eye on
    d3_whole_sheet.png: frames 0 and 190 rest with both eyes open (AU05 and AU45 both sides
    near 0; before the open-lid rule the left eye read AU05 2.2 at frame 0 and 3.6 at 180),
    frames 8-18 the subject's left eye winks shut with a squeeze (AU45L was 2.0-2.9, now 3.3-5),
    frame 42 her right eye (AU45R 5)."""
    path = shared_media("clips", "d3.mp4")
    analysis, face, _images = _analyse(path, (0, 354))
    _sheet({t: _frame(path, t) for t in (0, 8, 14, 42, 110, 190, 300)}, face,
           ["AU45L", "AU45R", "AU05L", "AU05R"], output_dir / "d3_whole_sheet.png")
    c = {n: face.curve(n, False) for n in ("AU05L", "AU05R", "AU45L", "AU45R")}
    i = {int(f): k for k, f in enumerate(face.frame_indices)}
    rest = [i[0], i[190]]
    print("\nd3 whole clip, rest 0/190:", {n: np.round(v[rest], 1).tolist() for n, v in c.items()},
          "wink 8-18 AU45L", np.round(c["AU45L"][[i[t] for t in range(8, 19, 2)]], 1).tolist(),
          "left-eye neutral frames", face.calibration["neutral_frames"][0])
    for n, v in c.items():
        assert (v[rest] < 1.0).all(), n
    assert np.mean(c["AU45L"][[i[t] for t in range(8, 19)]]) >= 3.5
    assert c["AU45R"][i[42]] >= 4.0 and c["AU45L"][i[42]] < 1.0


@pytest.mark.slow
def test_d6_blinks_are_short_peaks(shared_media, output_dir):
    """d6.mp4, all 1008 frames: blinks show as short AU45 peaks; wide-open eyes read no AU45.

    Checked by eye (d6_sheet.png and a crop sheet of the eyes): frames 50, 208, 380, 392, 452,
    470, 931 and 960 both eyes shut (blinks); 222 half shut; frames 37, 74, 111, 148 and 185
    eyes wide open (grimaces, crossed eyes, brow raises: the expressions that once leaked into
    AU45). Measured: the shut frames read 3.7-4.9 (2.8-4.7 before the open-eye check lifted shut
    eyes, core.facs.eyes; all 8 above 2), the wide-open ones at most 0.4."""
    _, face, images = _analyse(shared_media("clips", "d6.mp4"), (0, 1008))
    shut = [50, 208, 380, 392, 452, 470, 931, 960]
    wide = [37, 74, 111, 148, 185]
    _sheet({t: images.get(t) if t in images else _frame(shared_media("clips", "d6.mp4"), t) for t in shut[:4] + wide[:3]},
           face, ["AU45", "AU45L", "AU45R"], output_dir / "d6_sheet.png")
    au45 = np.nan_to_num(face.curve("AU45"))
    on = au45 > 2.0
    edges = np.diff(np.r_[0, on.astype(np.int8), 0])
    runs = list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist(), strict=True))
    print(f"\nd6 AU45 runs above 2 (start, end): {runs}; AU45 at shut frames {shut}: "
          f"{[round(float(au45[t]), 1) for t in shut]}; at open-eye frames {wide}: "
          f"{[round(float(au45[t]), 1) for t in wide]}")
    assert len(runs) >= 6 and all(e - s <= 15 for s, e in runs)
    assert sum(au45[t] > 2.0 for t in shut) >= 7
    assert all(au45[t] < 0.5 for t in wide)


def test_d6_shut_eyes_read_shut(shared_media, output_dir):
    """d6.mp4 frames 150..299, around two blinks (207-209, both eyes shut; 220-224, shut; checked
    by eye on crops of the eyes). MediaPipe leaves a gap between shut lids, so the landmarks
    alone read frames 207-209 at 3.1-4.5 (right) and 3.5-4.7 (left). The open-eye detector sees
    no open eye there (0-3 windows against the face's open level of about 260-290), and the
    solve lifts eyes the landmarks already read mostly closed toward full closure
    (core.facs.eyes): 4.2-5.0 and 5.0 after. (With the flow refinement at IOD 80 instead of 120
    the right eye read 3.2-4.2 -> 4.4-5.0: the squeezed lid texture leaves the flow a few tenths
    of an intensity either way on these frames.) Open frames (195-205, 212-217, 228-235) are
    untouched."""
    from core.analysis.types import ShotAnalysis

    path = shared_media("clips", "d6.mp4")
    analysis, _face, _images = _analyse(path, (150, 300))
    lifted = facs.extract_shot(analysis, filter="none")[0]
    plain = facs.extract_shot(ShotAnalysis(**{**analysis.__dict__, "eye_open": None}), filter="none")[0]
    _sheet({t: _frame(path, t) for t in (200, 207, 208, 209, 222, 230)}, lifted,
           ["AU45R", "AU45L"], output_dir / "d6_shut_sheet.png")
    i = {int(f): k for k, f in enumerate(lifted.frame_indices)}
    r, lft = lifted.curve("AU45R", False), lifted.curve("AU45L", False)
    r0, l0 = plain.curve("AU45R", False), plain.curve("AU45L", False)
    blink = [i[t] for t in (207, 208, 209)]
    print(f"\nd6 207-209 AU45R {np.round(r0[blink], 1)} -> {np.round(r[blink], 1)}, "
          f"AU45L {np.round(l0[blink], 1)} -> {np.round(lft[blink], 1)}; {lifted.calibration['eye_state']}")
    assert (r[blink] >= 4.0).all() and (lft[blink] >= 4.5).all()
    assert (r[blink] > r0[blink]).any() and (lft[blink] > l0[blink]).any()
    still_open = [i[t] for t in list(range(195, 206)) + list(range(212, 218)) + list(range(228, 236))]
    np.testing.assert_array_equal(r[still_open], r0[still_open])
    np.testing.assert_array_equal(lft[still_open], l0[still_open])
    assert all(ref is not None for ref in lifted.calibration["eye_state"]["open_reference"])


def _frame(path, t: int) -> np.ndarray:
    from core.media.reader import open_media

    with open_media(path) as reader:
        return reader.read_rgb8(t)


STILLS = {"0-f1-su-ph.jpg": ("surprise", ["AU01", "AU02", "AU05", "AU26"]),
          "0-f15-hao-ph.jpg": ("happy", ["AU06", "AU12"]),
          "15-f13-anc-ph.jpg": ("anger", ["AU04", "AU07", "AU23"]),
          "45-m7-di-ph.jpg": ("disgust", ["AU09", "AU10"])}


ANGER_XFAIL = pytest.mark.xfail(
    reason="issue 4 item 8 not met for the anger still: with no neutral of her own, the solve reads AU10 5.0, "
           "AU09 2.6 (disgust 3.78) over AU04 1.8, AU07 1.2, AU23 3.7 (anger 2.23). Her lower face is shorter than "
           "the canonical's by IOD (nose tip 0.06-0.08 IOD higher, which no AU moves), as is the disgust still's, so both "
           "read an upper-lip raise from face shape; measured on the nose, the two stills do not differ there, and "
           "only appearance (nose wrinkle, nasolabial furrow) tells them apart", strict=False)


@pytest.mark.parametrize("name", [pytest.param(n, marks=ANGER_XFAIL) if e == "anger" else n
                                  for n, (e, _a) in STILLS.items()])
def test_posed_still_reads_as_its_expression(shared_media, output_dir, name):
    """A posed still's own expression AUs have the highest mean among the four expressions.

    A single still has no neutral of its own person: it is measured from the canonical neutral,
    weighted by the identity spread (core.facs.model), so face shape reads less as expression.
    Measured (mean of each expression's AUs): surprise still -> surprise 1.70 (next happy 1.13);
    happy -> happy 2.91 (disgust 2.04); disgust -> disgust 3.55 (anger 2.93); anger -> see ANGER_XFAIL.
    Without the identity weighting the happy still read disgust 3.18 over happy 3.15."""
    from core.analysis.analyzer import Analyzer

    expr = STILLS[name][0]
    img = cv2.cvtColor(cv2.imread(str(shared_media("stills", name))), cv2.COLOR_BGR2RGB)
    faces = facs.extract_shot(Analyzer(max_faces=1).still_analysis(img), filter="none")
    assert faces, f"no face in {name}"
    assert faces[0].calibration["method"] == "canonical" and faces[0].calibration["identity_weighted"]
    score = {e: np.mean([faces[0].curve(a)[0] for a in group]) for e, group in STILLS.values()}
    print(name, {k: round(float(v), 2) for k, v in score.items()})
    tile = cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)
    for k, (e, v) in enumerate(sorted(score.items(), key=lambda kv: -kv[1])):
        cv2.putText(tile, f"{e} {v:.2f}", (4, 18 + 16 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(output_dir / f"still_{expr}.png"), cv2.cvtColor(tile, cv2.COLOR_RGB2BGR))
    assert max(score, key=score.get) == expr, (name, score)


def test_shipped_model_is_what_derive_bases_makes(shared_media, tmp_path):
    """resources/facs/canonical.npz (canonical neutral, bases, identity spread) is reproduced by
    its script from the spec and the neutral faces, so the data never drifts from its source."""
    from pathlib import Path

    from tests.test_facs_roundtrip import _derive_bases

    root = Path(__file__).resolve().parents[1]
    mod = _derive_bases()
    out = tmp_path / "canonical.npz"
    assert mod.main(["--media", str(shared_media("stills").parent), "--out", str(out)]) == 0
    with np.load(root / "resources" / "facs" / "canonical.npz") as shipped, np.load(out) as made:
        assert sorted(shipped.files) == sorted(made.files)
        for key in shipped.files:
            if shipped[key].dtype.kind in "fc":
                # MediaPipe on another CPU may differ in the last digits; 1e-4 IOD is far below noise
                np.testing.assert_allclose(made[key], shipped[key], atol=1e-4, err_msg=key)
            else:
                assert (made[key] == shipped[key]).all(), key
