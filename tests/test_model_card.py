"""The model card's one schema: what conversion writes is what serving reads."""

import json
from pathlib import Path

import pytest

from skinlesion.classes import CLASS_CODES, CLASS_NAMES
from skinlesion.image.preprocessing import PreprocessSpec
from skinlesion.model_card import LICENCE, SCHEMA_VERSION, ModelCard, card_path, licence, new_card
from tests.conftest import metadata_section


def test_a_written_card_reads_back_whole(tmp_path: Path) -> None:
    spec = PreprocessSpec(input_size=(256, 192), scaling="lite", source_size=(200, 150))
    metadata = metadata_section({"face": "akiec"})
    card = new_card(spec, "1.2.3", {"metadata": metadata}, validation_metrics={"balanced_accuracy": 0.7})
    path = card_path(tmp_path / "m.tflite")
    card.write(path)
    written = json.loads(path.read_text())
    assert written["schema_version"] == SCHEMA_VERSION and written["version"] == "1.2.3"
    assert written["classes"] == [{"code": c, "name": CLASS_NAMES[c]} for c in CLASS_CODES]
    assert "non-commercial" in written["licence"] and "Not a diagnosis" in written["intended_use"]
    assert ModelCard.read(path) == card and written["metadata"] == metadata
    assert ModelCard.read(path).metadata_evidence.weight == 0.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 1}, "schema_version 1"),
        ({"classes": [{"code": "mel"}]}, "7 HAM10000 codes"),
        ({"preprocessing": {"input_size": [224, 224], "resize": "lanczos", "scaling": "torch"}}, "resize"),
        ({"metadata": {**metadata_section({}), "features": ["age"]}}, "features"),
        ({"metadata": {**metadata_section({}), "calibration": {"temperature": 0}}}, "temperature"),
        ({"metadata": {k: v for k, v in metadata_section({}).items() if k != "alerts"}}, "alerts"),
    ],
)
def test_a_card_serving_cannot_trust_is_refused(tmp_path: Path, change: dict, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({**ModelCard(PreprocessSpec()).to_json(), **change}))
    with pytest.raises(ValueError, match=message):
        ModelCard.read(path)


def test_details_cannot_shadow_typed_fields() -> None:
    with pytest.raises(ValueError, match="typed fields"):
        ModelCard(PreprocessSpec(), details={"version": "9"})


def test_the_licence_names_isic_2019_only_for_a_model_trained_on_it() -> None:
    assert licence({"train_images": 8011}) == LICENCE
    both = licence({"train_images": 23295, "extra_train_images": 15284})
    assert both.startswith(LICENCE) and "CC BY-NC 4.0" in both and "BCN_20000" in both and "akiec" in both
    second_stage = {"extra_train_images": 0, "initialised_from": {"model": "x.h5", "extra_train_images": 9}}
    assert licence(second_stage) == both
