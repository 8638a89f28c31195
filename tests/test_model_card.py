"""The model card's one schema: what conversion writes is what serving reads."""

import json
from pathlib import Path

import pytest

from skinlesion.classes import CLASS_CODES, CLASS_NAMES
from skinlesion.image.preprocessing import PreprocessSpec
from skinlesion.model_card import SCHEMA_VERSION, ModelCard, card_path, new_card


def test_a_written_card_reads_back_whole(tmp_path: Path) -> None:
    spec = PreprocessSpec(input_size=(256, 192), scaling="lite", source_size=(200, 150))
    card = new_card(spec, "1.2.3", validation_metrics={"balanced_accuracy": 0.7})
    path = card_path(tmp_path / "m.tflite")
    card.write(path)
    written = json.loads(path.read_text())
    assert written["schema_version"] == SCHEMA_VERSION and written["version"] == "1.2.3"
    assert written["classes"] == [{"code": c, "name": CLASS_NAMES[c]} for c in CLASS_CODES]
    assert "non-commercial" in written["licence"] and "Not a diagnosis" in written["intended_use"]
    assert ModelCard.read(path) == card


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 1}, "schema_version 1"),
        ({"classes": [{"code": "mel"}]}, "7 HAM10000 codes"),
        ({"preprocessing": {"input_size": [224, 224], "resize": "lanczos", "scaling": "torch"}}, "resize"),
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
