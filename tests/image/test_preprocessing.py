"""The resize half of the one preprocessing definition: a larger photo reaches the model with the
detail of the images it learnt from."""

import numpy as np
import pytest
from PIL import Image

from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec

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
