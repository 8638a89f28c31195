"""The shipped model and card: the serving contract always; its recorded accuracy when the data is here."""

import json
from pathlib import Path

import numpy as np
import pytest

from skinlesion.analysis.evaluate import evaluate
from skinlesion.analysis.metadata_prior import patients
from skinlesion.classes import CLASS_CODES
from skinlesion.dataset import labels, load_images, load_metadata, read_split
from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.inference import LesionModel
from skinlesion.metadata import Patient
from skinlesion.model_card import MODEL_VERSION, ModelCard, card_path
from skinlesion.paths import DEFAULT_MODEL_PATH

MODELS = DEFAULT_MODEL_PATH.parent
TFLITE = DEFAULT_MODEL_PATH
CARD = json.loads(card_path(TFLITE).read_text())


def test_card_matches_the_serving_contract() -> None:
    card = ModelCard.read(card_path(TFLITE))  # the schema serving reads
    assert card.name == "skin-lesion-class" and card.version == MODEL_VERSION
    assert card.classes == CLASS_CODES
    model = LesionModel.load(TFLITE)
    assert model.predict(np.zeros((1, *card.preprocessing.input_size[::-1], 3), np.uint8)).shape == (1, 7)
    assert (MODELS / CARD["training_data"]["split_file"]).is_file()
    assert CARD["conversion_check"]["top1_agreement"] >= 0.999
    assert card.preprocessing.source_size == (200, 150)  # HAM10000's copies: larger photos reduced to it
    assert card.preprocessing.color_constancy == "shades_of_gray"  # a camera's white balance divided out


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
    pixels = load_images(list(val["path"]), preprocessor, "validation")
    probs = LesionModel.load(TFLITE, num_threads=2).predict(pixels)
    metrics = evaluate(labels(val["dx"]), probs, groups=val["lesion_id"])
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


def test_the_shipped_card_takes_the_patients_metadata_with_alerts_of_its_own() -> None:
    """Age, sex and site are served: the card's metadata model reads them, its fused answers have
    their own temperature and alerts chosen on validation, and a request without them is answered
    as the image alone."""
    card = ModelCard.read(card_path(TFLITE))
    assert card.metadata is not None and card.metadata["weight"] == 0.5
    for name, alert in card.metadata["alerts"].items():
        assert alert["sensitivity"] >= (0.9 if name == "melanoma" else 0.95)
    model = LesionModel.load(TFLITE)
    pixels = np.random.default_rng(0).integers(0, 256, (*card.preprocessing.input_size[::-1], 3), np.uint8)
    alone, patient = model.run(pixels), model.run(pixels, Patient(75.0, "male", "face"))
    np.testing.assert_allclose(model.run(pixels, Patient()).probabilities, alone.probabilities)
    assert patient.probabilities[CLASS_CODES.index("akiec")] > alone.probabilities[CLASS_CODES.index("akiec")]


@pytest.mark.dataset
def test_the_cards_metadata_figures_are_reproduced(real_data: Path) -> None:
    """The fused balanced accuracy the card states, recomputed from the served file and the
    metadata HAM10000 recorded for each validation image."""
    split = read_split(MODELS / CARD["training_data"]["split_file"])
    val = load_metadata(real_data).merge(split[split["split"] == "val"][["image_id"]], on="image_id")
    pixels = load_images(list(val["path"]), Preprocessor(PreprocessSpec.from_card(CARD["preprocessing"])))
    model = LesionModel.load(TFLITE, num_threads=2)
    fused = model.metadata.fuse(model.predict(pixels), patients(val))
    recorded = CARD["metadata"]["validation_metrics"]["balanced_accuracy"]
    assert abs(evaluate(labels(val["dx"]), fused, n_boot=0)["balanced_accuracy"] - recorded) <= 0.005
