import base64
import json
from pathlib import Path

import pytest

from skinlesion.classes import CLASS_CODES, CLASS_NAMES
from skinlesion.serving import handler as handler_module
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Classifier, handle
from tests.support.events import function_url_event, http_api_event, rest_api_event
from tests.support.image_server import ImageServer
from tests.support.images import encode, jpeg, lesion_like


@pytest.fixture(scope="module")
def classifier(tiny_model: Path) -> Classifier:
    return Classifier(Settings(model_path=tiny_model, allow_private_urls=True, fetch_deadline=3.0))


@pytest.fixture(scope="module")
def strict_classifier(tiny_model: Path) -> Classifier:
    return Classifier(Settings(model_path=tiny_model, allow_private_urls=False))


@pytest.fixture(scope="module")
def served(image_server: ImageServer) -> dict[str, str]:
    return {
        "jpeg": image_server.add("h-lesion.jpg", jpeg(200, 150, seed=3)),
        "html": image_server.add("h-page.html", b"<html>hello</html>", "text/html"),
        "truncated": image_server.add("h-cut.jpg", jpeg(200, 150)[:700]),
        "missing": image_server.url("/status/404"),
        "drip": image_server.url("/drip?interval=0.5"),
    }


def assert_contract(payload: dict) -> None:
    assert set(payload) == {"prediction", "label", "probabilities", "model"}
    probabilities = payload["probabilities"]
    assert list(probabilities) == list(CLASS_CODES)
    assert all(type(p) is float and 0.0 <= p <= 1.0 for p in probabilities.values())
    assert abs(sum(probabilities.values()) - 1.0) < 1e-3
    assert payload["prediction"] == max(probabilities, key=probabilities.get)
    assert payload["label"] == CLASS_NAMES[payload["prediction"]]
    assert payload["model"]["name"] == "tiny-test-model" and payload["model"]["version"] == "0.0.1"
    assert len(payload["model"]["sha256"]) == 12


def test_url_and_upload_give_the_same_answer(classifier: Classifier, served: dict[str, str]) -> None:
    by_url = handle({"url": served["jpeg"]}, None, classifier)
    assert_contract(by_url)
    upload = base64.b64encode(jpeg(200, 150, seed=3)).decode()
    assert handle({"image": upload}, None, classifier) == by_url


def test_different_images_get_different_probabilities(classifier: Classifier) -> None:
    dark = encode(lesion_like(200, 150, seed=1).point(lambda v: v // 4), "PNG")
    light = encode(lesion_like(200, 150, seed=2), "PNG")
    answers = [
        handle({"image": base64.b64encode(d).decode()}, None, classifier)["probabilities"]
        for d in (dark, light)
    ]
    assert answers[0] != answers[1]


@pytest.mark.parametrize("make", [rest_api_event, http_api_event, function_url_event])
def test_http_front_doors(make, classifier: Classifier, served: dict[str, str]) -> None:
    response = handle(make(json.dumps({"url": served["jpeg"]})), None, classifier)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert_contract(json.loads(response["body"]))
    raw = make(base64.b64encode(jpeg()).decode(), base64_body=True, content_type="image/jpeg")
    assert_contract(json.loads(handle(raw, None, classifier)["body"]))


def test_cors_preflight(classifier: Classifier) -> None:
    response = handle(rest_api_event(None, method="OPTIONS"), None, classifier)
    assert response["statusCode"] == 204
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"


def test_batch_answers_each_item(classifier: Classifier, served: dict[str, str]) -> None:
    upload = base64.b64encode(jpeg(seed=5)).decode()
    event = {
        "instances": [{"url": served["jpeg"]}, {"image": "%%"}, {"url": served["html"]}, {"image": upload}]
    }
    payload = handle(event, None, classifier)
    assert payload["model"]["name"] == "tiny-test-model"
    first, bad_base64, not_image, last = payload["predictions"]
    assert_contract({**first, "model": payload["model"]})
    assert_contract({**last, "model": payload["model"]})
    assert bad_base64["error"]["status"] == 400
    assert not_image["error"]["status"] == 415


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        ({}, 400, "invalid_request"),
        ({"url": "file:///etc/passwd"}, 400, "url_refused"),
        ({"image": "not base64!"}, 400, "invalid_base64"),
        ({"instances": [{"image": "AA=="}] * 17}, 413, "batch_too_large"),
        ({"image": base64.b64encode(b"just some text").decode()}, 415, "not_an_image"),
    ],
)
def test_errors_direct(event: dict, status: int, code: str, classifier: Classifier) -> None:
    error = handle(event, None, classifier)["error"]
    assert (error["status"], error["code"]) == (status, code)
    assert error["message"]


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("html", 415, "not_an_image"),
        ("truncated", 422, "undecodable_image"),
        ("missing", 502, "fetch_failed"),
        ("drip", 504, "fetch_timeout"),
    ],
)
def test_url_errors_through_api_gateway(
    name: str, status: int, code: str, classifier: Classifier, served: dict[str, str]
) -> None:
    response = handle(rest_api_event(json.dumps({"url": served[name]})), None, classifier)
    assert response["statusCode"] == status
    error = json.loads(response["body"])["error"]
    assert error["code"] == code and error["message"]
    assert "Traceback" not in response["body"]


def test_private_url_refused_with_setting_off(strict_classifier: Classifier, served: dict[str, str]) -> None:
    response = handle(rest_api_event(json.dumps({"url": served["jpeg"]})), None, strict_classifier)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "url_refused"


def test_too_many_pixels_is_413(tiny_model: Path) -> None:
    small_cap = Classifier(Settings(model_path=tiny_model, max_pixels=10_000))
    payload = handle({"image": base64.b64encode(jpeg(200, 150)).decode()}, None, small_cap)
    assert payload["error"]["status"] == 413


def test_unexpected_failure_is_a_bare_500(
    classifier: Classifier, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(tensor: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(classifier.model, "probabilities", explode)
    response = handle(
        rest_api_event(json.dumps({"image": base64.b64encode(jpeg()).decode()})), None, classifier
    )
    assert response["statusCode"] == 500
    assert "secret" not in response["body"] and "Traceback" not in response["body"]
    assert "secret internal detail" in caplog.text  # but we can find out what happened


def test_missing_model_is_answered_not_crashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "absent.tflite"))
    handler_module.env_settings.cache_clear()
    handler_module.default_classifier.cache_clear()
    try:
        handler_module.preload()  # logs, does not raise
        payload = handle({"image": base64.b64encode(jpeg()).decode()}, None)
        assert payload["error"]["code"] == "model_unavailable" and payload["error"]["status"] == 500
    finally:
        handler_module.env_settings.cache_clear()
        handler_module.default_classifier.cache_clear()


def test_one_structured_log_line_per_request(
    classifier: Classifier, served: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="skinlesion.serving")
    handle({"url": served["jpeg"] + "?token=secret"}, None, classifier)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "skinlesion.serving"]
    assert len(lines) == 1
    assert lines[0]["status"] == 200 and lines[0]["hosts"] == ["127.0.0.1"] and lines[0]["sources"] == ["url"]
    assert "secret" not in caplog.text


def test_real_full_size_images(classifier: Classifier, fullres_images: list[Path]) -> None:
    for path in fullres_images[:12]:
        assert_contract(handle({"image": base64.b64encode(path.read_bytes()).decode()}, None, classifier))
