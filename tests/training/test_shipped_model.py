"""The shipped model and card: the serving contract always; its recorded accuracy when the data is here."""

import json
from pathlib import Path

import numpy as np
import pytest

from skinlesion.classes import CLASS_CODES
from skinlesion.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.serving.config import DEFAULT_MODEL_PATH
from skinlesion.training.convert import tflite_predict
from skinlesion.training.data import labels, load_images, load_metadata, read_split
from skinlesion.training.evaluate import evaluate

MODELS = DEFAULT_MODEL_PATH.parent
TFLITE = DEFAULT_MODEL_PATH
CARD = json.loads(TFLITE.with_suffix(".json").read_text())


def test_card_matches_the_serving_contract() -> None:
    assert CARD["name"] == "skin-lesion-class" and isinstance(CARD["version"], str)
    assert [c["code"] for c in CARD["classes"]] == list(CLASS_CODES)
    assert CARD["output"] == "probabilities"
    spec = PreprocessSpec.from_card(CARD["preprocessing"])
    assert CARD["input"]["shape"] == [1, spec.input_size[1], spec.input_size[0], 3]
    assert (MODELS / CARD["training_data"]["split_file"]).is_file()
    assert CARD["conversion_check"]["top1_agreement"] >= 0.999


def test_card_reports_accuracy_with_intervals_by_lesion() -> None:
    recorded = CARD["conversion_check"]["tflite_validation_metrics"]
    assert recorded["bootstrap"]["unit"] == "lesion" and recorded["bootstrap"]["n_boot"] >= 1000
    low, high = recorded["confidence_intervals"]["balanced_accuracy"]
    assert low < recorded["balanced_accuracy"] < high
    assert set(recorded["melanoma_at_specificity"]) == {"0.80", "0.90"}
    assert 0 <= recorded["expected_calibration_error"] <= 1


@pytest.mark.dataset
def test_shipped_tflite_reaches_its_recorded_validation_balanced_accuracy(real_data: Path) -> None:
    split = read_split(MODELS / CARD["training_data"]["split_file"])
    val = load_metadata(real_data).merge(split[split["split"] == "val"][["image_id"]], on="image_id")
    preprocessor = Preprocessor(PreprocessSpec.from_card(CARD["preprocessing"]))
    x = preprocessor.preprocess(load_images(list(val["path"]), preprocessor, "validation"))
    metrics = evaluate(labels(val["dx"]), tflite_predict(TFLITE.read_bytes(), x), groups=val["lesion_id"])
    recorded = CARD["conversion_check"]["tflite_validation_metrics"]
    assert metrics["n_images"] == recorded["n_images"]
    assert metrics["bootstrap"]["n_groups"] == recorded["bootstrap"]["n_groups"]
    assert abs(metrics["balanced_accuracy"] - recorded["balanced_accuracy"]) <= 0.005
    assert np.isclose(metrics["melanoma_recall"], recorded["melanoma_recall"], atol=0.01)
    assert np.allclose(
        metrics["confidence_intervals"]["balanced_accuracy"],
        recorded["confidence_intervals"]["balanced_accuracy"],
        atol=0.005,
    )
