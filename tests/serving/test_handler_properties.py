"""Property-based: whatever JSON-like event arrives, the handler answers the contract or a
contract-conforming error, and never raises."""

import base64
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skinlesion.classes import CLASS_CODES
from skinlesion.serving.config import Settings
from skinlesion.serving.events import is_http_event, is_page_request
from skinlesion.serving.handler import Service, handle
from tests.support.images import encode, lesion_like

TINY_PNG = base64.b64encode(encode(lesion_like(12, 9), "PNG")).decode()


def no_network(host: str, port: int) -> list[str]:
    """Every host 'resolves' to a private address, so every URL is refused before connecting."""
    return ["10.0.0.1"]


@pytest.fixture(scope="module")
def service(tiny_model: Path) -> Service:
    return Service(Settings(model_path=tiny_model, allow_private_urls=False), resolver=no_network)


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
urls = st.builds(
    lambda scheme, rest: scheme + rest,
    st.sampled_from(["http://", "https://", "ftp://", "file://", "", "http://[", "https://user@"]),
    st.text(max_size=30),
)
images = st.sampled_from([TINY_PNG, "", "====", "AAAA", "%%%"]) | st.binary(max_size=64).map(
    lambda b: base64.b64encode(b).decode()
)
items = st.fixed_dictionaries({}, optional={"url": urls | json_values, "image": images | json_values})
requests = items | st.fixed_dictionaries(
    {"instances": st.lists(items | json_values, max_size=4) | json_values}
)
bodies = st.one_of(st.none(), json_values.map(json.dumps), requests.map(json.dumps), st.text(max_size=40))
http_events = st.fixed_dictionaries(
    {"body": bodies},
    optional={
        "httpMethod": st.sampled_from(["POST", "GET", "OPTIONS", "PUT"]) | json_values,
        "routeKey": st.just("POST /predict"),
        "requestContext": st.just({"http": {"method": "POST"}}) | json_values,
        "headers": st.dictionaries(
            st.sampled_from(["content-type", "Content-Type", "x"]),
            st.sampled_from(["application/json", "image/png", "text/plain"]),
            max_size=2,
        )
        | json_values,
        "isBase64Encoded": st.booleans() | json_values,
    },
)
events = requests | http_events | json_values


def check_payload(payload: object, status: int) -> None:
    assert isinstance(payload, dict)
    if "error" in payload:
        error = payload["error"]
        assert set(error) == {"code", "message", "status"}
        assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
        assert error["status"] == status and 400 <= status < 600
    elif "predictions" in payload:
        assert status == 200 and isinstance(payload["predictions"], list)
        for item in payload["predictions"]:
            if "error" not in item:
                assert list(item["probabilities"]) == list(CLASS_CODES)
    elif status != 204:
        assert status == 200
        assert list(payload["probabilities"]) == list(CLASS_CODES)
        assert abs(sum(payload["probabilities"].values()) - 1) < 1e-3


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=events)
def test_any_event_gets_a_contract_answer(event: object, service: Service) -> None:
    answer = handle(event, None, service)
    json.dumps(answer)  # the runtime must be able to serialise it
    if is_http_event(event):
        assert isinstance(answer["statusCode"], int)
        if answer["headers"]["Content-Type"].startswith("text/html"):  # GET /: the clinic page
            assert is_page_request(event) and answer["statusCode"] == 200
            return
        assert answer["headers"]["Access-Control-Allow-Origin"] == "*"
        check_payload(json.loads(answer["body"]) if answer["body"] else {}, answer["statusCode"])
    else:
        status = answer["error"]["status"] if isinstance(answer, dict) and "error" in answer else 200
        check_payload(answer, status)
