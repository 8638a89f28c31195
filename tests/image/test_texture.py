"""The texture statistics that catch what the backbone's features cannot: blank frames, noise, text."""

import numpy as np
from PIL import Image, ImageDraw

from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.image.texture import texture
from tests.support.images import lesion_like

PRE = Preprocessor(PreprocessSpec(input_size=(128, 96)))


def stats(image: Image.Image) -> tuple[float, float]:
    return texture(PRE.convert_to_tensor(image))


def test_a_flat_frame_has_no_contrast() -> None:
    assert stats(Image.new("RGB", (200, 150), (224, 172, 140)))[0] < 1e-6


def test_noise_is_rougher_than_a_lesion_and_a_smooth_graphic_smoother() -> None:
    lesion = stats(lesion_like(200, 150))
    noise = stats(Image.fromarray(np.random.default_rng(0).integers(0, 256, (150, 200, 3), dtype=np.uint8)))
    frame = Image.new("RGB", (200, 150), (20, 20, 20))
    ImageDraw.Draw(frame).ellipse((20, 0, 180, 150), fill=(235, 235, 235))
    assert noise[1] > 3 * lesion[1] and stats(frame)[1] < lesion[1]


def test_the_batch_axis_does_not_matter() -> None:
    tensor = PRE.convert_to_tensor(lesion_like(200, 150))
    assert texture(tensor) == texture(tensor[0])
