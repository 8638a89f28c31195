"""The patient's age, sex and site in a request: fused answers, what was used, and clear refusals."""

import base64
import json
from pathlib import Path

import pytest

from skinlesion.classes import CLASS_CODES
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Service, handle
from tests.support.events import rest_api_event
from tests.support.images import jpeg

IMAGE = base64.b64encode(jpeg(200, 150, seed=3)).decode()


@pytest.fixture(scope="module")
def service(tiny_model_with_metadata: Path) -> Service:
    return Service(Settings(model_path=tiny_model_with_metadata))


@pytest.fixture(scope="module")
def image_only_service(tiny_model: Path) -> Service:
    return Service(Settings(model_path=tiny_model))


def test_a_request_without_metadata_keeps_the_image_alone_answer(
    service: Service, image_only_service: Service
) -> None:
    with_card, without_card = (handle({"image": IMAGE}, None, s) for s in (service, image_only_service))
    assert "metadata" not in with_card
    assert with_card["probabilities"] == without_card["probabilities"]
    assert "alerts" not in with_card  # the tiny card has no image-only alerts; none are made up


def test_metadata_moves_the_answer_and_the_answer_says_what_was_used(service: Service) -> None:
    alone = handle({"image": IMAGE}, None, service)["probabilities"]
    answer = handle({"image": IMAGE, "age": 71, "sex": "f", "site": "cheek"}, None, service)
    assert answer["metadata"] == {"age": 71.0, "sex": "female", "site": "face"}
    assert answer["probabilities"]["akiec"] > alone["akiec"]
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    assert list(answer["probabilities"]) == list(CLASS_CODES)
    mel = answer["alerts"]["melanoma"]  # the card's alerts for fused answers
    assert mel["threshold"] == 0.2 and mel["flag"] == (answer["probabilities"]["mel"] >= 0.2)
    back = handle({"image": IMAGE, "site": "back"}, None, service)
    assert back["metadata"] == {"site": "back"} and back["probabilities"]["mel"] > alone["mel"]


def test_unknown_values_are_not_used_and_leave_the_answer(service: Service) -> None:
    alone = handle({"image": IMAGE}, None, service)
    unknown = handle({"image": IMAGE, "sex": "unknown", "site": "unknown", "age": None}, None, service)
    assert unknown == alone


def test_each_batch_item_carries_its_own_metadata(service: Service) -> None:
    event = {
        "instances": [
            {"image": IMAGE, "site": "face"},
            {"image": IMAGE, "sex": "other"},
            {"image": IMAGE},
            {"image": IMAGE, "age": 200},
        ]
    }
    face, bad_sex, alone, bad_age = handle(event, None, service)["predictions"]
    assert face["metadata"] == {"site": "face"} and "metadata" not in alone
    assert face["probabilities"] != alone["probabilities"]
    for bad, field in ((bad_sex, "'sex'"), (bad_age, "'age'")):
        assert (bad["error"]["status"], bad["error"]["code"]) == (400, "invalid_metadata")
        assert field in bad["error"]["message"]


def test_invalid_metadata_is_a_400_through_api_gateway(service: Service) -> None:
    response = handle(rest_api_event(json.dumps({"image": IMAGE, "site": "head/neck"})), None, service)
    assert response["statusCode"] == 400
    error = json.loads(response["body"])["error"]
    assert error["code"] == "invalid_metadata" and "lower extremity" in error["message"]


def test_a_model_without_a_metadata_model_says_so(image_only_service: Service) -> None:
    error = handle({"image": IMAGE, "age": 40}, None, image_only_service)["error"]
    assert (error["status"], error["code"]) == (501, "metadata_unavailable")
