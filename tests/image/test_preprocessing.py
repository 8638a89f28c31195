"""The pixel half of the one preprocessing definition: a larger photo reaches the model with the
detail and the compression of the images it learnt from, and colour constancy divides out the
light's colour."""

import io

import numpy as np
import pytest
from PIL import Image

from skinlesion.analysis.color_cast import cast
from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec, jpeg_round_trip, shades_of_gray
from tests.support.images import lesion_like

RNG = np.random.default_rng(0)
SPEC = PreprocessSpec(input_size=(64, 48), source_size=(40, 30))


def noise_image(width: int, height: int) -> Image.Image:
    return Image.fromarray(RNG.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


def test_a_larger_photo_is_reduced_to_the_source_size_before_the_input_size() -> None:
    photo = noise_image(120, 90)
    two_steps = photo.resize((40, 30), Image.Resampling.BILINEAR).resize((64, 48), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(Preprocessor(SPEC).resized_array(photo), np.asarray(two_steps))
    direct = Preprocessor(PreprocessSpec(input_size=(64, 48))).resized_array(photo)
    assert np.abs(direct.astype(int) - np.asarray(two_steps, dtype=int)).mean() > 5  # fine detail kept


@pytest.mark.parametrize("size", [(40, 30), (30, 20), (120, 20), (39, 90)])
def test_an_image_not_larger_both_ways_keeps_its_pixels(size: tuple[int, int]) -> None:
    """The training images themselves (at the source size) and smaller or narrower ones are
    resized once, exactly as without a source size."""
    image = noise_image(*size)
    plain = Preprocessor(PreprocessSpec(input_size=(64, 48))).resized_array(image)
    np.testing.assert_array_equal(Preprocessor(SPEC).resized_array(image), plain)


def test_the_source_size_travels_in_the_card_and_is_optional() -> None:
    assert PreprocessSpec.from_card(SPEC.to_card()) == SPEC
    old_card = PreprocessSpec(input_size=(64, 48)).to_card()
    assert "source_size" not in old_card
    assert PreprocessSpec.from_card(old_card).source_size is None


@pytest.mark.parametrize("bad", [(0, 150), (200,), (200, -1)])
def test_a_source_size_that_is_not_a_size_is_refused(bad: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="source size"):
        PreprocessSpec(source_size=bad)


def test_a_reduced_photo_is_compressed_as_the_training_images_were() -> None:
    """With a source JPEG quality, the reduced photo goes through one encode and decode at it before
    the input resize, a step with a visible effect; a photo at the source size, a training image
    itself, is not compressed a second time."""
    spec = PreprocessSpec(input_size=(64, 48), source_size=(40, 30), source_jpeg_quality=75)
    photo = lesion_like(160, 120)
    reduced = photo.resize((40, 30), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    reduced.save(buffer, "JPEG", quality=75)
    compressed = Image.open(buffer).convert("RGB")
    expected = np.asarray(compressed.resize((64, 48), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(Preprocessor(spec).resized_array(photo), expected)
    assert not np.array_equal(np.asarray(jpeg_round_trip(reduced, 75)), np.asarray(reduced))
    training_copy = lesion_like(40, 30)
    np.testing.assert_array_equal(
        Preprocessor(spec).resized_array(training_copy), Preprocessor(SPEC).resized_array(training_copy)
    )


def test_the_source_jpeg_quality_travels_in_the_card_is_optional_and_checked() -> None:
    spec = PreprocessSpec(input_size=(64, 48), source_size=(40, 30), source_jpeg_quality=75)
    assert spec.to_card()["source_jpeg_quality"] == 75
    assert PreprocessSpec.from_card(spec.to_card()) == spec
    assert "source_jpeg_quality" not in SPEC.to_card()  # cards written before it existed: none
    assert PreprocessSpec.from_card(SPEC.to_card()).source_jpeg_quality is None
    for bad in (0, 101):
        with pytest.raises(ValueError, match="JPEG quality"):
            PreprocessSpec(source_size=(40, 30), source_jpeg_quality=bad)


def test_shades_of_gray_gives_the_same_pixels_under_another_white_balance() -> None:
    image = lesion_like(160, 120)
    warm, cool = cast(image, (1.1, 1.0, 0.9)), cast(image, (0.9, 1.0, 1.1))
    apart = np.abs(np.asarray(warm, dtype=int) - np.asarray(cool, dtype=int)).mean()
    corrected_warm, corrected_cool = (shades_of_gray(np.asarray(i)).astype(float) for i in (warm, cool))
    assert apart > 10  # the casts move the pixels by over 10 grey levels ...
    # ... corrected, they are one image up to its brightness (the light's strength stays; training's
    # brightness jitter covers that) and rounding
    brightness = corrected_warm.mean() / corrected_cool.mean()
    assert np.abs(corrected_warm - brightness * corrected_cool).mean() < 1.0


def test_shades_of_gray_leaves_a_grey_lit_image_and_a_black_one_alone() -> None:
    """Equal p-norms in all three channels mean a grey light: every gain is 1."""
    values = RNG.integers(0, 200, size=(30, 40), dtype=np.uint8)  # room for a 20 % gain below
    grey_lit = np.stack([values, values.T.reshape(30, 40), values[::-1]], axis=-1)
    np.testing.assert_array_equal(shades_of_gray(grey_lit), grey_lit)
    black = np.zeros((30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(shades_of_gray(black), black)
    reddish = shades_of_gray(np.asarray(cast(Image.fromarray(grey_lit), (1.2, 1.0, 1.0))))
    assert reddish.dtype == np.uint8 and reddish.shape == grey_lit.shape
    assert abs(float(reddish[..., 0].mean()) - float(reddish[..., 1].mean())) < 1.0


def test_the_preprocessor_corrects_the_resized_pixels_when_the_card_says_so() -> None:
    image = lesion_like(120, 90)
    plain = Preprocessor(PreprocessSpec(input_size=(64, 48))).resized_array(image)
    corrected = Preprocessor(PreprocessSpec(input_size=(64, 48), color_constancy="shades_of_gray"))
    np.testing.assert_array_equal(corrected.resized_array(image), shades_of_gray(plain))
    assert np.abs(corrected.resized_array(image).astype(int) - plain).mean() > 1  # it did change them


def test_colour_constancy_travels_in_the_card_and_is_optional() -> None:
    spec = PreprocessSpec(input_size=(64, 48), color_constancy="shades_of_gray")
    assert spec.to_card()["color_constancy"] == "shades_of_gray"
    assert PreprocessSpec.from_card(spec.to_card()) == spec
    old_card = PreprocessSpec(input_size=(64, 48)).to_card()
    assert "color_constancy" not in old_card  # cards written before it existed read as none
    assert PreprocessSpec.from_card(old_card).color_constancy == "none"
    with pytest.raises(ValueError, match="colour constancy"):
        PreprocessSpec(color_constancy="grey_world")


def test_convert_to_tensor_is_the_one_path_colour_constancy_included() -> None:
    spec = PreprocessSpec(input_size=(64, 48), color_constancy="shades_of_gray")
    image = cast(lesion_like(120, 90), (1.2, 1.0, 0.8))
    preprocessor = Preprocessor(spec)
    tensor = preprocessor.convert_to_tensor(image)
    assert tensor.shape == (1, 48, 64, 3) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, preprocessor.preprocess(preprocessor.resized_array(image)[None]))
    plain = Preprocessor(PreprocessSpec(input_size=(64, 48))).convert_to_tensor(image)
    assert np.abs(tensor - plain).mean() > 0.01  # the cast was divided out, not passed through
