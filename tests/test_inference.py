"""inference.py: the timing loop (warm-up invokes are run but not timed), a model's own latency
and the finer class activation map, through the shipped `.tflite`."""

import time

import numpy as np
import pytest

from skinlesion.inference import LesionModel, median_invoke_ms, shifted
from skinlesion.paths import DEFAULT_MODEL_PATH


class SlowAfterWarmup:
    """An interpreter stand-in whose first `fast` invokes return at once and later ones take 2 ms."""

    def __init__(self, fast: int) -> None:
        self.fast = fast
        self.calls = 0

    def invoke(self) -> None:
        self.calls += 1
        if self.calls > self.fast:
            time.sleep(0.002)


def test_median_leaves_out_the_warm_up_and_runs_each_invoke_once() -> None:
    interpreter = SlowAfterWarmup(fast=3)
    assert median_invoke_ms(interpreter, invokes=5, warmup=3) >= 2.0
    assert interpreter.calls == 8


def test_without_warm_up_the_fast_invokes_set_the_median() -> None:
    interpreter = SlowAfterWarmup(fast=3)
    assert median_invoke_ms(interpreter, invokes=5, warmup=0) < 2.0
    assert interpreter.calls == 5


def test_a_models_latency_is_timed_on_the_pixels_it_was_given() -> None:
    model = LesionModel.load(DEFAULT_MODEL_PATH, num_threads=1)
    width, height = model.card.preprocessing.input_size
    pixels = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    assert model.latency_ms(pixels, invokes=3) > 0
    index = model.interpreter.get_input_details()[0]["index"]
    np.testing.assert_array_equal(model.interpreter.get_tensor(index)[0], pixels)


# --- the finer class activation map ------------------------------------------------------------


def test_shifting_moves_the_image_up_and_left_and_repeats_the_edge() -> None:
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    moved = shifted(pixels, 1, 2)
    assert moved.shape == pixels.shape and moved.dtype == np.uint8
    np.testing.assert_array_equal(moved[:3, :3], pixels[1:, 2:])
    np.testing.assert_array_equal(moved[3], moved[2])  # the last row repeated into the gap
    np.testing.assert_array_equal(moved[:, 4], moved[:, 3])
    np.testing.assert_array_equal(shifted(pixels, 0, 0), pixels)


@pytest.fixture(scope="module")
def shipped() -> LesionModel:
    return LesionModel.load(DEFAULT_MODEL_PATH, num_threads=1)


def lesion_pixels(model: LesionModel) -> np.ndarray:
    """A dark blot off the centre of skin, at the model's input size."""
    width, height = model.card.preprocessing.input_size
    rows, cols = np.mgrid[0:height, 0:width]
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[...] = (226, 178, 158)
    pixels[np.hypot(rows - 70, cols - 160) < 40] = (96, 56, 44)
    return pixels


def test_the_fine_map_interleaves_exact_maps_of_the_shifted_image(shipped: LesionModel) -> None:
    """Every cell of the 12x16 map is the served network's own map, half a cell (16 px) apart."""
    pixels = lesion_pixels(shipped)
    out = shipped.run(pixels)
    fine = shipped.fine_cam(pixels, out.cam)
    rows, cols, n_classes = out.cam.shape
    assert fine.shape == (2 * rows, 2 * cols, n_classes) == (12, 16, 7)
    np.testing.assert_array_equal(fine[0::2, 0::2], out.cam)
    for down, right in ((1, 0), (0, 1), (1, 1)):
        moved = shifted(pixels, 16 * down, 16 * right)
        np.testing.assert_allclose(fine[down::2, right::2], shipped.run(moved).cam, rtol=1e-5, atol=1e-5)


def test_the_fine_map_leaves_the_answer_alone(shipped: LesionModel) -> None:
    """The probabilities come from the unshifted invoke, before and after the map is made."""
    pixels = lesion_pixels(shipped)
    before = shipped.run(pixels)
    shipped.fine_cam(pixels, before.cam)
    after = shipped.run(pixels)
    np.testing.assert_array_equal(before.probabilities, after.probabilities)
    np.testing.assert_array_equal(before.cam, after.cam)
