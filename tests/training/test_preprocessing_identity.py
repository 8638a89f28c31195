"""Training and serving must turn the same file into the same tensor, with the shipped model's
own preprocessing (its card's spec: 256x192 input, Shades of Gray, torch scaling)."""

from pathlib import Path

import numpy as np
import pytest

from skinlesion.dataset import load_images, load_metadata
from skinlesion.image.decode import decode_image
from skinlesion.image.preprocessing import Preprocessor
from skinlesion.model_card import ModelCard, card_path
from skinlesion.paths import DEFAULT_MODEL_PATH
from skinlesion.training.fit import ImageBatches
from tests.support.images import encode, lesion_like

SHIPPED = Preprocessor(ModelCard.read(card_path(DEFAULT_MODEL_PATH)).preprocessing)


def assert_same_tensor(path: Path) -> None:
    cached = load_images([path], SHIPPED)  # what train.py holds in memory
    (training_batch,) = ImageBatches(cached, SHIPPED, batch_size=1)[0]  # what the network is fed
    # What the handler does with the same bytes: a draft decode, the resized pixels the served
    # graph takes, and the scaling it applies.
    decoded = decode_image(path.read_bytes(), min_size=SHIPPED.spec.decode_size)
    served_pixels = SHIPPED.resized_array(decoded)

    np.testing.assert_array_equal(cached[0], served_pixels)
    assert training_batch.dtype == np.float32 and training_batch.shape == (1, 192, 256, 3)
    np.testing.assert_array_equal(training_batch, SHIPPED.convert_to_tensor(decoded))


def test_a_training_sized_image_gives_the_serving_tensor(tmp_path: Path) -> None:
    path = tmp_path / "lesion.jpg"
    path.write_bytes(encode(lesion_like(200, 150), "JPEG", quality=75))  # HAM10000's size and quality
    assert_same_tensor(path)


def test_the_spec_is_the_shipped_one_and_corrects_colour() -> None:
    assert SHIPPED.spec.color_constancy == "shades_of_gray" and SHIPPED.spec.input_size == (256, 192)


@pytest.mark.dataset
def test_real_ham10000_images_give_the_serving_tensor(real_data: Path) -> None:
    for path in load_metadata(real_data)["path"].iloc[::2500]:
        assert_same_tensor(path)
