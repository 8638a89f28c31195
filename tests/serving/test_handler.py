import base64
import json
from pathlib import Path

import pytest

from skinlesion.classes import CLASS_CODES, CLASS_NAMES
from skinlesion.serving import handler as handler_module
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Service, handle
from tests.support.events import function_url_event, http_api_event, rest_api_event
from tests.support.image_server import ImageServer
from tests.support.images import encode, jpeg, lesion_like


@pytest.fixture(scope="module")
def service(tiny_model: Path) -> Service:
    return Service(Settings(model_path=tiny_model, allow_private_urls=True, fetch_deadline=3.0))


@pytest.fixture(scope="module")
def strict_service(tiny_model: Path) -> Service:
    return Service(Settings(model_path=tiny_model, allow_private_urls=False))


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
    assert set(payload) == {"prediction", "label", "probabilities", "malignant_probability", "model"}
    probabilities = payload["probabilities"]
    assert list(probabilities) == list(CLASS_CODES)
    assert all(type(p) is float and 0.0 <= p <= 1.0 for p in probabilities.values())
    assert abs(sum(probabilities.values()) - 1.0) < 1e-3
    assert payload["prediction"] == max(probabilities, key=probabilities.get)
    assert payload["label"] == CLASS_NAMES[payload["prediction"]]
    assert payload["model"]["name"] == "tiny-test-model" and payload["model"]["version"] == "0.0.1"
    assert len(payload["model"]["sha256"]) == 12


def test_url_and_upload_give_the_same_answer(service: Service, served: dict[str, str]) -> None:
    by_url = handle({"url": served["jpeg"]}, None, service)
    assert_contract(by_url)
    upload = base64.b64encode(jpeg(200, 150, seed=3)).decode()
    assert handle({"image": upload}, None, service) == by_url


def test_different_images_get_different_probabilities(service: Service) -> None:
    dark = encode(lesion_like(200, 150, seed=1).point(lambda v: v // 4), "PNG")
    light = encode(lesion_like(200, 150, seed=2), "PNG")
    answers = [
        handle({"image": base64.b64encode(d).decode()}, None, service)["probabilities"] for d in (dark, light)
    ]
    assert answers[0] != answers[1]


@pytest.mark.parametrize("make", [rest_api_event, http_api_event, function_url_event])
def test_http_front_doors(make, service: Service, served: dict[str, str]) -> None:
    response = handle(make(json.dumps({"url": served["jpeg"]})), None, service)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert_contract(json.loads(response["body"]))
    raw = make(base64.b64encode(jpeg()).decode(), base64_body=True, content_type="image/jpeg")
    assert_contract(json.loads(handle(raw, None, service)["body"]))


def test_cors_preflight(service: Service) -> None:
    response = handle(rest_api_event(None, method="OPTIONS"), None, service)
    assert response["statusCode"] == 204
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"


def test_batch_answers_each_item(service: Service, served: dict[str, str]) -> None:
    upload = base64.b64encode(jpeg(seed=5)).decode()
    event = {
        "instances": [{"url": served["jpeg"]}, {"image": "%%"}, {"url": served["html"]}, {"image": upload}]
    }
    payload = handle(event, None, service)
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
def test_errors_direct(event: dict, status: int, code: str, service: Service) -> None:
    error = handle(event, None, service)["error"]
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
    name: str, status: int, code: str, service: Service, served: dict[str, str]
) -> None:
    response = handle(rest_api_event(json.dumps({"url": served[name]})), None, service)
    assert response["statusCode"] == status
    error = json.loads(response["body"])["error"]
    assert error["code"] == code and error["message"]
    assert "Traceback" not in response["body"]


def test_private_url_refused_with_setting_off(strict_service: Service, served: dict[str, str]) -> None:
    response = handle(rest_api_event(json.dumps({"url": served["jpeg"]})), None, strict_service)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "url_refused"


def test_too_many_pixels_is_413(tiny_model: Path) -> None:
    small_cap = Service(Settings(model_path=tiny_model, max_pixels=10_000))
    payload = handle({"image": base64.b64encode(jpeg(200, 150)).decode()}, None, small_cap)
    assert payload["error"]["status"] == 413


def test_unexpected_failure_is_a_bare_500(
    service: Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service.model, "run", explode)
    response = handle(rest_api_event(json.dumps({"image": base64.b64encode(jpeg()).decode()})), None, service)
    assert response["statusCode"] == 500
    assert "secret" not in response["body"] and "Traceback" not in response["body"]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any("secret internal detail" in line.get("exception", "") for line in logged)  # in our logs


def test_missing_model_is_answered_not_crashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "absent.tflite"))
    handler_module.env_settings.cache_clear()
    handler_module.default_service.cache_clear()
    try:
        handler_module.preload()  # logs, does not raise
        payload = handle({"image": base64.b64encode(jpeg()).decode()}, None)
        assert payload["error"]["code"] == "model_unavailable" and payload["error"]["status"] == 500
    finally:
        handler_module.env_settings.cache_clear()
        handler_module.default_service.cache_clear()


class Context:
    aws_request_id = "req-0123"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def test_one_json_log_line_per_request_with_its_id(
    service: Service, served: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    handle({"url": served["jpeg"] + "?token=secret"}, Context(), service)
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]  # every line is one JSON object
    assert len(lines) == 1
    line = lines[0]
    assert line["message"] == "request" and line["level"] == "INFO" and line["request_id"] == "req-0123"
    assert line["status"] == 200 and line["hosts"] == ["127.0.0.1"] and line["sources"] == ["url"]
    assert line["prediction"] in CLASS_CODES and isinstance(line["cold_start"], bool)
    assert "secret" not in out


def test_real_full_size_images(service: Service, fullres_images: list[Path]) -> None:
    for path in fullres_images[:12]:
        assert_contract(handle({"image": base64.b64encode(path.read_bytes()).decode()}, None, service))
