"""Tests of the scan simulator: geometry truth, determinism, sizes, profile ranges."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from pipeline.synth.scan import (
    BITONAL_THRESHOLD_RANGE,
    JPEG_QUALITY_RANGE,
    MAX_SKEW_DEG,
    RANDOM_MAX_SHIFT_MM,
    SCALE_RANGE,
    SCANNER_BACKGROUND_GREY,
    ScanProfile,
    scan_matrix_error_px,
    simulate_scan,
)

MM_PER_INCH = 25.4
A4_MM = (210.0, 297.0)
# Dot positions (mm) spread over the page, corners included, none symmetric to another
# about the page centre, so that a wrong 180-degree turn cannot go unnoticed.
DOTS_MM = np.array(
    [(20.0, 20.0), (190.0, 25.0), (22.0, 275.0), (185.0, 280.0), (105.0, 148.5), (60.0, 200.0), (150.0, 90.0)]
)
DOT_RADIUS_MM = 1.0
# The truth map must be good to half a pixel; measured errors are <= 0.03 px (grey) and
# 0.1 px (bitonal), so 0.2 px also catches a slip of the half-pixel centre convention.
MAX_DOT_ERROR_PX = 0.2


def blank_a4(dpi: float) -> np.ndarray:
    s = dpi / MM_PER_INCH
    return np.full((int(round(A4_MM[1] * s)), int(round(A4_MM[0] * s))), 255, np.uint8)


def draw_dots(img: np.ndarray, dpi: float, dots_mm: np.ndarray, radius_mm: float) -> None:
    """Anti-aliased black discs centred exactly at ``dots_mm`` (pixel i samples mm (i+0.5)/s)."""
    s = dpi / MM_PER_INCH
    r = radius_mm * s
    for x_mm, y_mm in dots_mm:
        cx, cy = x_mm * s - 0.5, y_mm * s - 0.5
        x0, x1 = int(cx - r - 2), int(cx + r + 3)
        y0, y1 = int(cy - r - 2), int(cy + r + 3)
        # 4x4 supersampling of each pixel for the coverage.
        sub = (np.arange(4) + 0.5) / 4 - 0.5
        xs = (np.arange(x0, x1)[:, None] + sub[None, :]).ravel()
        ys = (np.arange(y0, y1)[:, None] + sub[None, :]).ravel()
        inside = ((xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2) <= r * r
        cover = inside.reshape(y1 - y0, 4, x1 - x0, 4).mean(axis=(1, 3))
        img[y0:y1, x0:x1] = np.round(255 * (1 - cover)).astype(np.uint8)


def find_dots(img: np.ndarray) -> np.ndarray:
    """Ink-weighted centroids (OpenCV pixel coordinates) of the dark blobs of ``img``."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((img < 128).astype(np.uint8), connectivity=8)
    ink = 255.0 - img.astype(np.float64)
    out = []
    for i in range(1, n):
        x, y, w, h = stats[i, :4]
        x0, y0 = max(0, x - 2), max(0, y - 2)
        x1, y1 = min(img.shape[1], x + w + 2), min(img.shape[0], y + h + 2)
        wgt = ink[y0:y1, x0:x1]
        yy, xx = np.mgrid[y0:y1, x0:x1]
        out.append(((wgt * xx).sum() / wgt.sum(), (wgt * yy).sum() / wgt.sum()))
    return np.array(out)


def noiseless(dpi: int, **kw) -> ScanProfile:
    return ScanProfile(dpi=dpi, **kw)


GEOMETRY_CASES = [
    # clean_dpi, profile
    (300, noiseless(300, rotation_deg=3.7, upside_down=True, scale=1.02, shift_mm=(2.5, -3.1), blur_sigma_px=0.8)),
    (300, noiseless(300, rotation_deg=-4.5, scale=0.975, shift_mm=(-4.0, 3.5))),
    (200, noiseless(200, rotation_deg=1.3, upside_down=True, shift_mm=(1.0, 1.0), blur_sigma_px=0.5)),
    (300, noiseless(200, rotation_deg=-2.0, scale=1.01, shift_mm=(3.0, -2.0), blur_sigma_px=0.5)),  # downsample
    (200, noiseless(300, rotation_deg=0.7, upside_down=True, scale=0.99)),  # upsample
    (300, noiseless(300, bitonal=True, rotation_deg=-1.1, upside_down=True, shift_mm=(-2.0, 4.0), blur_sigma_px=0.6)),
]


@pytest.mark.parametrize("clean_dpi,profile", GEOMETRY_CASES, ids=[f"case{i}" for i in range(len(GEOMETRY_CASES))])
def test_mm_to_px_finds_the_dots(clean_dpi, profile):
    clean = blank_a4(clean_dpi)
    draw_dots(clean, clean_dpi, DOTS_MM, DOT_RADIUS_MM)
    res = simulate_scan(clean, clean_dpi, profile, np.random.default_rng(0))
    predicted = res.to_px(DOTS_MM)
    found = find_dots(res.image)
    assert len(found) == len(DOTS_MM)
    dist = np.hypot(*(predicted[:, None, :] - found[None, :, :]).transpose(2, 0, 1))
    err = dist.min(axis=1)
    assert err.max() < MAX_DOT_ERROR_PX, f"dot errors (px): {np.round(err, 3)}"
    # Each prediction matched a different dot.
    assert len(set(dist.argmin(axis=1).tolist())) == len(DOTS_MM)
    assert res.orientation == (180 if profile.upside_down else 0)
    assert res.skew_deg == profile.rotation_deg


def test_upside_down_puts_the_top_left_dot_bottom_right():
    clean = blank_a4(200)
    draw_dots(clean, 200, DOTS_MM[:1], DOT_RADIUS_MM)  # near the top-left corner
    res = simulate_scan(clean, 200, noiseless(200, upside_down=True), np.random.default_rng(0))
    (x, y), = find_dots(res.image)
    h, w = res.image.shape
    assert x > 0.8 * w and y > 0.8 * h


def test_straight_profile_is_the_identity():
    clean = blank_a4(300)
    draw_dots(clean, 300, DOTS_MM, DOT_RADIUS_MM)
    res = simulate_scan(clean, 300, ScanProfile(dpi=300), np.random.default_rng(0))
    s = 300 / MM_PER_INCH
    np.testing.assert_allclose(res.mm_to_px, [[s, 0, -0.5], [0, s, -0.5]], atol=1e-9)
    assert np.array_equal(res.image, clean)


@pytest.mark.parametrize(
    "clean_dpi,dpi,size",
    [(300, 300, (2480, 3508)), (300, 200, (1654, 2339)), (200, 200, (1654, 2339)), (200, 300, (2480, 3508))],
)
@pytest.mark.parametrize("bitonal", [False, True])
def test_output_has_nominal_a4_size(clean_dpi, dpi, size, bitonal):
    rng = np.random.default_rng(3)
    res = simulate_scan(blank_a4(clean_dpi), clean_dpi, ScanProfile.random(rng, dpi, bitonal), rng)
    assert (res.image.shape[1], res.image.shape[0]) == size
    assert res.image.dtype == np.uint8 and res.dpi == dpi and res.bitonal == bitonal
    assert res.paper_mm == A4_MM


def test_off_standard_render_keeps_its_own_size():
    clean = np.full((1000, 800), 255, np.uint8)  # 100 x 127 mm at 200 dpi: no standard size
    res = simulate_scan(clean, 200, ScanProfile(dpi=300), np.random.default_rng(0))
    assert res.image.shape == (1500, 1200)


def form_like_page(dpi: int) -> np.ndarray:
    page = blank_a4(dpi)
    s = dpi / MM_PER_INCH
    for i in range(20):
        y = int((30 + 12 * i) * s)
        cv2.rectangle(page, (int(15 * s), y), (int(195 * s), y + int(9 * s)), 0, 2)
        cv2.putText(page, f"Falt {i} Anna Svensson", (int(20 * s), y + int(7 * s)), cv2.FONT_HERSHEY_SIMPLEX, s / 12, 40, 2)
    return page


@pytest.mark.parametrize("bitonal,dpi", [(False, 300), (True, 200), (True, 300), (False, 200)])
def test_deterministic_for_a_seed(bitonal, dpi):
    page = form_like_page(300)

    def run(seed):
        rng = np.random.default_rng(seed)
        return simulate_scan(page, 300, ScanProfile.random(rng, dpi, bitonal), rng)

    a, b, c = run(11), run(11), run(12)
    assert a.profile == b.profile
    assert np.array_equal(a.image, b.image)
    assert a.jpeg_bytes == b.jpeg_bytes
    assert a.mm_to_px == b.mm_to_px
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("dpi", [200, 300])
def test_bitonal_output_is_only_black_and_white(dpi):
    page = form_like_page(300)
    rng = np.random.default_rng(5)
    for _ in range(3):
        res = simulate_scan(page, 300, ScanProfile.random(rng, dpi, True), rng)
        values = set(np.unique(res.image).tolist())
        assert values == {0, 255}
        assert res.jpeg_bytes is None


def test_grey_jpeg_scan_carries_its_jpeg():
    page = form_like_page(300)
    profile = ScanProfile(dpi=300, jpeg_quality=50, paper_grey=240, ink_grey=20, noise_sigma=2.0)
    res = simulate_scan(page, 300, profile, np.random.default_rng(1))
    assert res.jpeg_bytes is not None and res.jpeg_bytes[:2] == b"\xff\xd8"
    decoded = cv2.imdecode(np.frombuffer(res.jpeg_bytes, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(decoded, res.image)
    assert len(np.unique(res.image)) > 2


def test_paper_tone_and_noise():
    profile = ScanProfile(dpi=200, paper_grey=240, ink_grey=30, noise_sigma=3.0)
    page = blank_a4(200)
    page[:, :800] = 0
    res = simulate_scan(page, 200, profile, np.random.default_rng(2))
    paper = res.image[:, 900:].astype(float)
    ink = res.image[:, :700].astype(float)
    assert abs(paper.mean() - 240) < 0.5 and 2.5 < paper.std() < 3.5
    assert abs(ink.mean() - 30) < 0.5


def test_dark_border_strips():
    s = 300 / MM_PER_INCH
    profile = ScanProfile(dpi=300, border_mm=(3.0, 0.0, 0.0, 2.0))
    res = simulate_scan(blank_a4(300), 300, profile, np.random.default_rng(0))
    img = res.image
    left, bottom = round(3.0 * s), round(2.0 * s)
    assert (img[:, :left] == SCANNER_BACKGROUND_GREY).all()
    assert (img[-bottom:, :] == SCANNER_BACKGROUND_GREY).all()
    assert (img[: -bottom - 1, left + 1 :] == 255).all()


def test_speckle_dark_dots_and_light_holes():
    profile = ScanProfile(dpi=300, speckle_per_dm2=40.0, paper_grey=245, ink_grey=20)
    page = blank_a4(300)
    page[:1000, :] = 0  # a black band where light holes can show
    res = simulate_scan(page, 300, profile, np.random.default_rng(4))
    img = res.image
    n_dark, _ = cv2.connectedComponents((img[1100:] < 128).astype(np.uint8))
    area_dm2 = 210.0 * (297.0 - 1100 / (300 / MM_PER_INCH)) / 1e4
    expected = 40.0 * area_dm2
    assert 0.6 * expected < n_dark - 1 < 1.2 * expected  # overlapping specks merge: slightly fewer
    assert (img[:1000] > 128).sum() > 0  # light holes in the black band


def test_random_profiles_stay_in_range():
    rng = np.random.default_rng(2026)
    n = 3000
    grey = [ScanProfile.random(rng, 300, False) for _ in range(n)]
    bit = [ScanProfile.random(rng, 200, True) for _ in range(n // 3)]
    for p in grey + bit:
        assert abs(p.rotation_deg) <= MAX_SKEW_DEG
        assert all(abs(v) <= RANDOM_MAX_SHIFT_MM for v in p.shift_mm)
        assert SCALE_RANGE[0] <= p.scale <= SCALE_RANGE[1]
        assert 0 < p.blur_sigma_px <= 1.0 * p.dpi / 300
        assert all(0 <= b <= 4.0 for b in p.border_mm)
        assert p.ink_grey < p.paper_grey
    for p in grey:
        assert p.jpeg_quality is None or JPEG_QUALITY_RANGE[0] <= p.jpeg_quality <= JPEG_QUALITY_RANGE[1]
    for p in bit:
        assert p.jpeg_quality is None and p.bitonal and p.dpi == 200
        assert BITONAL_THRESHOLD_RANGE[0] <= p.bitonal_threshold <= BITONAL_THRESHOLD_RANGE[1]
    skews = np.abs([p.rotation_deg for p in grey])
    assert 0.75 < (skews < 1.5).mean() < 0.95  # most nearly straight ...
    assert (skews > 3.0).any()  # ... some badly skewed
    assert 0.07 < np.mean([p.upside_down for p in grey]) < 0.13
    assert 0.05 < np.mean([p.jpeg_quality is None for p in grey]) < 0.4
    assert 0.1 < np.mean([any(p.border_mm) for p in grey]) < 0.5
    assert 0.3 < np.mean([p.speckle_per_dm2 > 0 for p in grey]) < 0.9
    assert np.std([p.scale for p in grey]) > 0.005
    assert not any(ScanProfile.random(rng, 300, False, allow_upside_down=False).upside_down for _ in range(300))


@pytest.mark.parametrize(
    "kw",
    [
        {"dpi": 250},
        {"rotation_deg": 6.0},
        {"scale": 1.1},
        {"bitonal": True, "jpeg_quality": 80},
        {"jpeg_quality": 10},
        {"border_mm": (1.0, 2.0)},
        {"paper_grey": 100.0, "ink_grey": 150.0},
    ],
)
def test_profile_rejects_impossible_settings(kw):
    with pytest.raises(ValueError):
        ScanProfile(**kw)


def test_rejects_non_greyscale_input():
    with pytest.raises(ValueError):
        simulate_scan(np.zeros((10, 10, 3), np.uint8), 300, ScanProfile(), np.random.default_rng(0))


def test_matrix_error_scores_a_registration():
    rng = np.random.default_rng(9)
    res = simulate_scan(blank_a4(200), 200, ScanProfile.random(rng, 200, True), rng)
    truth = np.array(res.mm_to_px)
    assert scan_matrix_error_px(res, truth, DOTS_MM) == pytest.approx(0.0, abs=1e-9)
    off = truth.copy()
    off[0, 2] += 3.0
    assert scan_matrix_error_px(res, off, DOTS_MM) == pytest.approx(3.0)
    homography = np.vstack([truth, [0, 0, 1]])
    assert scan_matrix_error_px(res, homography, DOTS_MM) == pytest.approx(0.0, abs=1e-9)
