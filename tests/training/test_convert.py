"""Conversion in every quantization mode, and the model card contract the serving side reads."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from skinlesion.classes import CLASS_CODES, CLASS_NAMES
from skinlesion.preprocessing import PreprocessSpec
from skinlesion.training.convert import agreement, keras_to_tflite, tflite_predict, write_card


@pytest.fixture(scope="module")
def small_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((24, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(len(CLASS_CODES), activation="softmax")(x))


@pytest.mark.parametrize("quantize", ["none", "dynamic", "float16", "int8"])
def test_every_quantization_keeps_float_io_and_the_answer(small_model: keras.Model, quantize: str) -> None:
    x = np.random.default_rng(1).normal(size=(16, 24, 32, 3)).astype(np.float32)
    tflite = keras_to_tflite(small_model, quantize, representative=x if quantize == "int8" else None)
    probs = tflite_predict(tflite, x)
    assert probs.shape == (16, len(CLASS_CODES)) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-2)
    check = agreement(small_model.predict(x, verbose=0), probs)
    assert check["max_abs_diff"] < (1e-5 if quantize == "none" else 0.05)


def test_int8_needs_representative_inputs(small_model: keras.Model) -> None:
    with pytest.raises(ValueError, match="representative"):
        keras_to_tflite(small_model, "int8")
    with pytest.raises(ValueError, match="quantize must be one of"):
        keras_to_tflite(small_model, "int4")


def test_card_holds_what_serving_reads(tmp_path: Path) -> None:
    spec = PreprocessSpec(input_size=(224, 224))
    write_card(tmp_path / "m.json", "1.2.3", spec, validation_metrics={"balanced_accuracy": 0.7})
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["name"] == "skin-lesion-class" and card["version"] == "1.2.3"
    assert card["classes"] == [{"code": c, "name": CLASS_NAMES[c]} for c in CLASS_CODES]
    assert card["output"] == "probabilities"
    assert PreprocessSpec.from_card(card["preprocessing"]) == spec
    assert card["input"]["shape"] == [1, 224, 224, 3]
    assert "non-commercial" in card["licence"] and "Not a diagnosis" in card["intended_use"]
    assert card["validation_metrics"] == {"balanced_accuracy": 0.7}
