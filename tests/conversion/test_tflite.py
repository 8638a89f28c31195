"""Conversion in every quantization mode, run through the serving side's own TFLite loop."""

import keras
import numpy as np
import pytest

from skinlesion.classes import CLASS_CODES
from skinlesion.conversion.export import agreement
from skinlesion.conversion.tflite import keras_to_tflite
from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.inference import LesionModel
from skinlesion.model_card import ModelCard


@pytest.fixture(scope="module")
def small_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((24, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(len(CLASS_CODES), activation="softmax")(x))


@pytest.mark.parametrize("quantize", ["none", "dynamic", "float16", "int8"])
def test_every_quantization_keeps_float_io_and_the_answer(small_model: keras.Model, quantize: str) -> None:
    """A float-input graph: the serving loop scales the uint8 pixels as the card says."""
    spec = PreprocessSpec(input_size=(32, 24))
    pixels = np.random.default_rng(1).integers(0, 256, size=(16, 24, 32, 3), dtype=np.uint8)
    x = Preprocessor(spec).preprocess(pixels)
    tflite = keras_to_tflite(small_model, quantize, representative=x if quantize == "int8" else None)
    probs = LesionModel(tflite, ModelCard(spec)).predict(pixels)
    assert probs.shape == (16, len(CLASS_CODES))
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-2)
    check = agreement(small_model.predict(x, verbose=0), probs)
    assert check["max_abs_diff"] < (1e-5 if quantize == "none" else 0.05)


def test_int8_needs_representative_inputs(small_model: keras.Model) -> None:
    with pytest.raises(ValueError, match="representative"):
        keras_to_tflite(small_model, "int8")
    with pytest.raises(ValueError, match="quantize must be one of"):
        keras_to_tflite(small_model, "int4")
