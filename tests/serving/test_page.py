"""GET / answers the clinic page from the same function; the policy lets only its own code run."""

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from skinlesion.classes import CLASS_CODES, CLASS_NAMES
from skinlesion.contract import CLIENT_ERRORS, PAYLOAD_LIMIT, REQUEST_TIMEOUT_S, RESULT_COLUMNS
from skinlesion.metadata import AGE_LIMITS, SEXES, SITES
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Service, handle
from skinlesion.serving.page import CONFIG_SLOT, PAGE, _as_script_data, service_config
from tests.support.events import http_api_event, rest_api_event


@pytest.fixture(scope="module")
def service(tiny_model: Path) -> Service:
    return Service(Settings(model_path=tiny_model))


def page_event(kind: str) -> dict:
    if kind == "rest":
        event = rest_api_event(None, method="GET")
        event.update(resource="/", path="/")
    else:
        event = http_api_event(None, method="GET")
        event["rawPath"] = "/"
    return event


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_get_root_is_the_page(kind: str, service: Service) -> None:
    response = handle(page_event(kind), None, service)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert "<html" in response["body"] and CONFIG_SLOT not in response["body"]


def service_config_block(html: str) -> dict:
    (block,) = re.findall(r'<script type="application/json" id="service-config">(.*?)</script>', html)
    return json.loads(block)


def test_the_page_gets_the_classes_limits_and_columns_from_the_service(tiny_model: Path) -> None:
    """Nothing the page shares with the service is written in it: a function configured for
    batches of 4 gives a page that sends at most 4."""
    settings = Settings(model_path=tiny_model, max_batch=4)
    response = handle(page_event("rest"), None, Service(settings))
    config = service_config_block(response["body"])
    assert config == service_config(settings)
    assert config["max_batch"] == 4 and config["class_codes"] == list(CLASS_CODES)
    assert config["class_names"] == CLASS_NAMES and config["csv_columns"] == list(RESULT_COLUMNS)
    assert config["request_timeout_ms"] == REQUEST_TIMEOUT_S * 1000
    assert config["max_request_chars"] == PAYLOAD_LIMIT
    template = PAGE.read_text(encoding="utf-8")
    assert '"akiec"' not in template and "Melanocytic nevus" not in template  # not restated


def test_the_filled_in_data_cannot_close_its_script_element() -> None:
    text = _as_script_data({"name": "</script><script>alert(1)</script>", "a": "&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>", "a": "&"}


def test_every_code_the_page_writes_itself_is_a_contract_client_code() -> None:
    html = PAGE.read_text(encoding="utf-8")
    codes = set(re.findall(r'clientError\("([a-z_]+)",', html))
    codes |= set(re.findall(r'clientError\(aborted \? "([a-z_]+)" : "([a-z_]+)"', html)[0])
    assert {"file_unreadable", "invalid_response", "timeout", "network_error"} <= codes
    assert codes <= set(CLIENT_ERRORS)
    assert 'clientError("http_" + response.status' in html and "http_NNN" in CLIENT_ERRORS


def test_the_policy_allows_exactly_the_pages_own_script_and_style(service: Service) -> None:
    response = handle(page_event("rest"), None, service)
    policy = response["headers"]["Content-Security-Policy"]
    (script,) = re.findall(r"<script>(.*?)</script>", response["body"], flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "http" not in policy  # nothing from elsewhere


def test_the_page_is_small_and_self_contained() -> None:
    html = PAGE.read_text(encoding="utf-8")
    assert len(html.encode()) < 100_000
    assert not re.search(r"""(src|href)=["']https?://""", html)  # no CDN, no external font


def test_the_pages_patient_details_are_the_services_words() -> None:
    """The page offers exactly what the service reads (not given, then each value), so that a
    choice cannot be refused as invalid_metadata."""
    html = PAGE.read_text(encoding="utf-8")

    def options(select_id: str) -> list[str]:
        (select,) = re.findall(rf'<select id="{select_id}">(.*?)</select>', html, flags=re.DOTALL)
        return re.findall(r'<option value="([^"]*)"', select)

    assert options("patient-site") == ["", *SITES]
    assert sorted(options("patient-sex")) == sorted(["", *SEXES])
    (age,) = re.findall(r'<input type="number" id="patient-age"[^>]*>', html)
    assert f'min="{AGE_LIMITS[0]:g}"' in age and f'max="{AGE_LIMITS[1]:g}"' in age


def test_get_on_predict_is_still_405(service: Service) -> None:
    response = handle(rest_api_event(None, method="GET"), None, service)
    assert response["statusCode"] == 405
