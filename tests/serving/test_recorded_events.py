"""The handler on API Gateway events as AWS tooling records them, not as we would build them.

`events/*.json` are the output of `sam local generate-event apigateway aws-proxy` (REST API,
payload 1.0) and `... http-api-proxy` (HTTP API, payload 2.0), SAM CLI 1.170.0, unedited: base64
bodies, multi-value headers, cookies, stage variables and all. Only the body is swapped per test.
"""

import base64
import json
from pathlib import Path

import pytest

from skinlesion.classes import CLASS_CODES
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Service, handle
from tests.support.images import jpeg

EVENTS = Path(__file__).parent / "events"
RECORDED = sorted(EVENTS.glob("*.json"))


@pytest.fixture(scope="module")
def service(tiny_model: Path) -> Service:
    return Service(Settings(model_path=tiny_model))


def recorded(path: Path, body: bytes | None = None) -> dict:
    event = json.loads(path.read_text())
    if body is not None:
        event["body"] = base64.b64encode(body).decode()  # the recording's bodies are base64 already
    return event


def test_both_payload_versions_are_recorded() -> None:
    assert [path.name for path in RECORDED] == [
        "apigateway-http-api-proxy.json",
        "apigateway-rest-aws-proxy.json",
    ]


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_a_recorded_event_with_an_image_gets_a_prediction(path: Path, service: Service) -> None:
    body = json.dumps({"image": base64.b64encode(jpeg(200, 150)).decode()}).encode()
    response = handle(recorded(path, body), None, service)
    assert response["statusCode"] == 200 and response["headers"]["Access-Control-Allow-Origin"] == "*"
    answer = json.loads(response["body"])
    assert list(answer["probabilities"]) == list(CLASS_CODES) and answer["prediction"] in CLASS_CODES


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_the_recorded_sample_body_is_a_clear_400(path: Path, service: Service) -> None:
    response = handle(recorded(path), None, service)  # {"test":"body"}, as recorded
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "invalid_request"
