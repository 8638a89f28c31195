"""Class activation maps turned into a grid and a PNG overlay, and the lesion mask and mass share
used to judge them."""

import base64
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from skinlesion.analysis.lesion_mask import (
    cam_mass_on_lesion,
    centred_blob,
    edge_share,
    judged,
    lesion_mask,
    share_inside,
)
from skinlesion.paths import REPO_ROOT, default_data_dir
from skinlesion.serving.heatmap import colourise, explanation, normalise, overlay_png, upsample

SKIN = (226, 178, 158)
LESION = (96, 56, 44)


def skin_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """Skin-toned with mild noise, so the PNG has real work to do."""
    rng = np.random.default_rng(seed)
    pixels = np.array(SKIN, dtype=np.int16) + rng.integers(-10, 11, size=(height, width, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def decode_png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return img.convert("RGB")


def disc_scene(width: int = 200, height: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """A dark disc off the centre of light skin, in a dermatoscope's dark vignette; and the disc."""
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[0:height, 0:width]
    disc = np.hypot(rows - 0.45 * height, cols - 0.58 * width) < 0.22 * height
    vignette = np.hypot((rows - height / 2) / height, (cols - width / 2) / width) > 0.6
    pixels = np.empty((height, width, 3), dtype=np.int16)
    pixels[...] = SKIN
    pixels[disc] = LESION
    pixels[vignette] = (20, 16, 16)
    pixels += rng.integers(-12, 13, size=pixels.shape).astype(np.int16)
    return pixels.clip(0, 255).astype(np.uint8), disc


def test_the_module_imports_neither_tensorflow_nor_matplotlib() -> None:
    """It runs in the Lambda, whose image has neither."""
    probe = (
        "import sys, skinlesion.serving.heatmap; "
        "print(sorted({n.split('.')[0] for n in sys.modules} & {'tensorflow', 'keras', 'matplotlib'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# --- normalise -------------------------------------------------------------------------------


def test_normalise_keeps_what_stands_above_the_mean_and_scales_the_peak_to_one() -> None:
    grid = np.array([[-3.0, 0.0, 1.0], [2.0, 4.0, 2.0]])  # mean 1
    out = normalise(grid)
    np.testing.assert_allclose(out, [[0.0, 0.0, 0.0], [1 / 3, 1.0, 1 / 3]])
    assert out.dtype == np.float32 and out.shape == grid.shape
    assert grid[0, 0] == -3.0  # the input is left alone


def test_a_negative_mean_never_makes_evidence_against_the_class_warm() -> None:
    """Below a negative mean the floor is 0: only cells that argue for the class can show."""
    grid = np.array([[-9.0, -1.0], [0.5, 1.0]])  # mean -2.125
    np.testing.assert_allclose(normalise(grid), [[0.0, 0.0], [0.5, 1.0]])


def test_normalise_is_scale_invariant_and_blind_to_a_level_shared_by_every_cell() -> None:
    grid = np.random.default_rng(0).normal(loc=3.0, size=(12, 16))
    np.testing.assert_allclose(normalise(grid), normalise(7.5 * grid), atol=1e-5)
    np.testing.assert_allclose(normalise(grid), normalise(grid + 40.0), atol=1e-5)
    assert normalise(grid).min() == 0.0 and normalise(grid).max() == 1.0


@pytest.mark.parametrize(
    "grid", [np.zeros((6, 8)), -np.ones((6, 8)), np.full((2, 3), -1e-9), np.full((6, 8), 2.5)]
)
def test_normalise_without_evidence_standing_out_is_all_zeros(grid: np.ndarray) -> None:
    out = normalise(grid)
    assert np.isfinite(out).all() and not out.any()


def test_the_ramp_goes_dark_to_bright_steadily() -> None:
    rgb = colourise(np.linspace(0.0, 1.0, 101)).astype(np.float64)
    luminance = rgb @ [0.2126, 0.7152, 0.0722]
    assert np.all(np.diff(luminance) > 0)
    assert luminance[0] < 20 and luminance[-1] > 220


# --- overlay_png ------------------------------------------------------------------------------


def test_a_hot_spot_top_left_changes_the_top_left_most() -> None:
    image = skin_image(256, 192)
    grid = np.zeros((6, 8), dtype=np.float32)
    grid[0, 0] = 1.0
    overlay = np.asarray(decode_png(overlay_png(image, grid)), dtype=np.float64)
    # Against the overlay of an empty map, which carries the same palette rounding.
    untouched = np.asarray(decode_png(overlay_png(image, np.zeros_like(grid))), dtype=np.float64)
    change = np.abs(overlay - untouched).sum(axis=2)

    quadrants = {
        "top-left": change[:96, :128],
        "top-right": change[:96, 128:],
        "bottom-left": change[96:, :128],
        "bottom-right": change[96:, 128:],
    }
    means = {name: float(q.mean()) for name, q in quadrants.items()}
    assert max(means, key=means.get) == "top-left"
    # Elsewhere the change is the difference between two palettes' rounding only.
    assert means["top-left"] > 2 * max(v for k, v in means.items() if k != "top-left")
    # The hot cell's own pixels (the top-left 32x32) are the most changed of all.
    assert change[:32, :32].mean() > change[:96, :128].mean()


@pytest.mark.parametrize(
    ("size", "expected"),
    [((400, 300), (256, 192)), ((600, 450), (256, 192)), ((150, 300), (128, 256)), ((100, 80), (100, 80))],
    ids=["4:3", "original-release", "portrait", "small-kept"],
)
def test_the_png_decodes_at_the_downscaled_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    grid = np.random.default_rng(2).random((6, 8)).astype(np.float32)
    assert decode_png(overlay_png(skin_image(*size), grid)).size == expected


def test_max_side_bounds_the_overlay() -> None:
    png = overlay_png(skin_image(400, 300), np.ones((3, 4), dtype=np.float32), max_side=100)
    assert decode_png(png).size == (100, 75)


def test_the_png_stays_small_even_for_noise() -> None:
    """Pure noise is the worst case for PNG; a palette keeps even that well under 100 KB."""
    rng = np.random.default_rng(3)
    noise = Image.fromarray(rng.integers(0, 256, size=(192, 256, 3), dtype=np.uint8))
    grid = rng.random((6, 8)).astype(np.float32)
    assert len(overlay_png(noise, grid)) < 100_000
    assert len(overlay_png(skin_image(256, 192), grid)) < 60_000


def test_an_all_zero_grid_leaves_the_image_as_it_was() -> None:
    image = skin_image(256, 192)
    overlay = decode_png(overlay_png(image, np.zeros((6, 8), dtype=np.float32)))
    difference = np.abs(np.asarray(overlay, dtype=np.int16) - np.asarray(image, dtype=np.int16))
    assert overlay.size == image.size and difference.mean() < 3  # palette rounding only


def test_greyscale_and_rgba_images_are_accepted() -> None:
    grid = np.ones((2, 2), dtype=np.float32)
    for mode in ("L", "RGBA"):
        assert decode_png(overlay_png(skin_image(64, 48).convert(mode), grid)).size == (64, 48)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="2-D"):
        overlay_png(skin_image(32, 24), np.zeros((1, 6, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="alpha"):
        overlay_png(skin_image(32, 24), np.zeros((6, 8), dtype=np.float32), alpha=1.5)


def test_upsampling_puts_cell_centres_on_pixel_centres() -> None:
    """A 2x2 grid over 4x4 pixels: each cell's value sits on its quadrant, blending in between."""
    values = upsample(np.array([[0.0, 1.0], [0.0, 1.0]]), (4, 4))
    assert values.shape == (4, 4)
    np.testing.assert_allclose(values[:, 0], 0.0) and np.testing.assert_allclose(values[:, 3], 1.0)
    assert 0.0 < values[0, 1] < values[0, 2] < 1.0
    same = np.random.default_rng(5).random((15, 20)).astype(np.float32)
    np.testing.assert_array_equal(upsample(same, (20, 15)), same)


# --- explanation ------------------------------------------------------------------------------


@pytest.mark.parametrize("batched", [True, False])
def test_explanation_is_json_ready_and_picks_the_class(batched: bool) -> None:
    cam = np.random.default_rng(4).normal(size=(12, 16, 7)).astype(np.float32)
    cam[1, 2, 4] = 50.0  # class 4's peak
    answer = explanation(skin_image(256, 192), cam[None] if batched else cam, 4, "mel")

    assert set(answer) == {"class", "grid", "grid_shape", "overlay_png"}
    assert answer["class"] == "mel" and answer["grid_shape"] == [12, 16]
    grid = np.array(answer["grid"])
    assert grid.shape == (12, 16) and grid[1, 2] == 1.0 and grid.min() >= 0.0
    np.testing.assert_array_equal(grid, np.round(normalise(cam[:, :, 4]).astype(np.float64), 3))
    assert all(len(repr(v).split(".")[-1]) <= 3 for row in answer["grid"] for v in row)
    assert decode_png(base64.b64decode(answer["overlay_png"])).size == (256, 192)
    assert json.loads(json.dumps(answer)) == answer


def test_explanation_refuses_a_cam_of_the_wrong_rank() -> None:
    with pytest.raises(ValueError, match="CAM"):
        explanation(skin_image(32, 24), np.zeros((2, 6, 8, 7), dtype=np.float32), 0, "akiec")


# --- the lesion mask used to judge maps -----------------------------------------------------


def test_the_mask_finds_the_disc_and_not_the_vignette() -> None:
    rgb, disc = disc_scene()
    mask = lesion_mask(rgb)
    overlap = (mask & disc).sum() / (mask | disc).sum()
    assert overlap > 0.9
    assert not mask[:10, :10].any() and not mask[-10:, -10:].any()


def test_cam_mass_on_lesion_compares_inside_with_outside() -> None:
    _, disc = disc_scene()
    on_lesion = np.zeros((6, 8), dtype=np.float32)
    on_lesion[2, 4] = 1.0  # the cell over the disc's centre
    inside, outside = cam_mass_on_lesion(on_lesion, disc)
    assert inside > 3 * outside
    in_a_corner = np.zeros((6, 8), dtype=np.float32)
    in_a_corner[5, 0] = 1.0
    inside, outside = cam_mass_on_lesion(in_a_corner, disc)
    assert inside < outside

    inside, outside = cam_mass_on_lesion(np.full((6, 8), 0.5, dtype=np.float32), disc)
    assert inside == pytest.approx(0.5) and outside == pytest.approx(0.5)


def test_the_share_inside_counts_mass_where_the_overlay_draws_it() -> None:
    _, disc = disc_scene()
    assert share_inside(disc.astype(np.float32), disc) == pytest.approx(1.0)
    assert share_inside(np.ones((6, 8), dtype=np.float32), disc) == pytest.approx(disc.mean(), abs=1e-6)
    on_lesion = np.zeros((12, 16), dtype=np.float32)
    on_lesion[5, 9] = 1.0  # the fine cell over the disc's centre
    in_a_corner = np.zeros((12, 16), dtype=np.float32)
    in_a_corner[11, 0] = 1.0
    assert share_inside(on_lesion, disc) > 0.9 and share_inside(in_a_corner, disc) == 0.0
    assert np.isnan(share_inside(np.zeros((6, 8), dtype=np.float32), disc))


def test_the_blob_is_centred_with_sigma_a_share_of_each_side() -> None:
    blob = centred_blob(150, 200)
    assert blob.shape == (150, 200) and blob.max() == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(blob, blob[::-1, ::-1], rtol=1e-6)  # symmetric about the centre
    # The centre is (74.5, 99.5) in pixel indices, sigma 22.5 rows and 30 columns.
    for row, col in ((74, 99), (97, 99), (74, 129), (0, 0)):
        expected = np.exp(-0.5 * (((row - 74.5) / 22.5) ** 2 + ((col - 99.5) / 30) ** 2))
        assert blob[row, col] == pytest.approx(expected, rel=1e-5)


def test_masks_of_a_speck_or_of_the_frame_edge_are_not_judged() -> None:
    _, disc = disc_scene()
    assert judged(disc) and edge_share(disc) == 0.0
    speck = np.zeros_like(disc)
    speck[70:74, 100:104] = True
    ring = np.ones_like(disc)
    ring[20:-20, 20:-20] = False  # a vignette
    assert not judged(speck) and not judged(ring) and edge_share(ring) == 1.0


@pytest.mark.dataset
def test_the_mask_covers_a_plausible_share_of_real_images() -> None:
    """On 50 HAM10000 images spread over the folder the mask covers 5-80 % of the image for
    most of them: measured 45 of 50 (90 %, median 15 %); the other five are four small lesions
    (2.0, 3.1, 4.3, 4.9 %) and one filling the frame (81.6 %), the mask following the lesion in each."""
    images = sorted(default_data_dir().rglob("ISIC_*.jpg"))
    if len(images) < 50:
        pytest.skip(f"the HAM10000 images are not under {default_data_dir()} (set HAM10000_DIR)")
    chosen = images[:: len(images) // 50][:50]
    shares = np.array([lesion_mask(np.asarray(Image.open(path).convert("RGB"))).mean() for path in chosen])
    assert ((shares >= 0.05) & (shares <= 0.80)).sum() >= 40
