import base64
import json

import pytest

from skinlesion.contract import ServiceError
from skinlesion.serving.config import Settings
from skinlesion.serving.events import (
    ImageRequest,
    http_method,
    http_response,
    is_http_event,
    parse_http_event,
    parse_payload,
)
from tests.support.errors import expect_error
from tests.support.events import function_url_event, http_api_event, rest_api_event

SETTINGS = Settings()
PIXELS = b"\xff\xd8\xff\xe0 not really a jpeg"
B64 = base64.b64encode(PIXELS).decode()


def test_direct_url_and_image() -> None:
    assert parse_payload({"url": "https://x.test/a.jpg"}, SETTINGS).items == [
        ImageRequest(url="https://x.test/a.jpg")
    ]
    parsed = parse_payload({"image": B64}, SETTINGS)
    assert parsed.items == [ImageRequest(image=PIXELS)] and not parsed.batch


@pytest.mark.parametrize(
    "image",
    [
        B64,
        f"data:image/jpeg;base64,{B64}",
        "\n".join(B64[i : i + 8] for i in range(0, len(B64), 8)),  # MIME line breaks
        B64.rstrip("="),  # padding dropped by some clients
        base64.urlsafe_b64encode(PIXELS).decode(),
    ],
    ids=["plain", "data-uri", "wrapped", "unpadded", "urlsafe"],
)
def test_base64_variants_decode_to_the_same_bytes(image: str) -> None:
    assert parse_payload({"image": image}, SETTINGS).items[0].image == PIXELS


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "url",
        42,
        {},
        {"url": "https://x.test/a.jpg", "image": B64},
        {"url": 5},
        {"url": ""},
        {"image": None},
        {"image": ""},
        {"image": "not base64 at all!"},
        {"image": "QUJD===="},
        {"image": "QQ==QQ=="},
        {"image": "Q"},
        {"image": "data:image/jpeg,rawtext"},
        {"instances": []},
        {"instances": "x"},
    ],
)
def test_malformed_requests_are_bad_requests(payload: object) -> None:
    with expect_error(400):
        parse_payload(payload, SETTINGS)


def test_batch_keeps_bad_items_in_place() -> None:
    parsed = parse_payload(
        {"instances": [{"url": "https://x.test/a.jpg"}, {"image": "!!"}, "junk", {"image": B64}]}, SETTINGS
    )
    assert parsed.batch
    assert parsed.items[0] == ImageRequest(url="https://x.test/a.jpg")
    assert isinstance(parsed.items[1], ServiceError) and parsed.items[1].code == "invalid_base64"
    assert isinstance(parsed.items[2], ServiceError) and parsed.items[2].status == 400
    assert parsed.items[3] == ImageRequest(image=PIXELS)


def test_batch_size_is_limited() -> None:
    limit = SETTINGS.max_batch
    assert len(parse_payload({"instances": [{"image": B64}] * limit}, SETTINGS).items) == limit
    with pytest.raises(ServiceError) as caught:
        parse_payload({"instances": [{"image": B64}] * (limit + 1)}, SETTINGS)
    assert caught.value.code == "batch_too_large"


def test_image_size_is_limited_before_decoding() -> None:
    small = Settings(max_image_bytes=1000)
    assert (
        parse_payload({"image": base64.b64encode(b"x" * 1000).decode()}, small).items[0].image == b"x" * 1000
    )
    with expect_error("image_too_large"):
        parse_payload({"image": base64.b64encode(b"x" * 1001).decode()}, small)


@pytest.mark.parametrize("make", [rest_api_event, http_api_event, function_url_event])
def test_http_events_with_json_bodies(make) -> None:
    event = make(json.dumps({"url": "https://x.test/a.jpg"}))
    assert is_http_event(event)
    assert parse_http_event(event, SETTINGS).items == [ImageRequest(url="https://x.test/a.jpg")]
    encoded = make(base64.b64encode(json.dumps({"image": B64}).encode()).decode(), base64_body=True)
    assert parse_http_event(encoded, SETTINGS).items == [ImageRequest(image=PIXELS)]


@pytest.mark.parametrize("make", [rest_api_event, http_api_event, function_url_event])
def test_http_events_with_raw_image_bodies(make) -> None:
    event = make(B64, base64_body=True, content_type="image/jpeg")
    assert parse_http_event(event, SETTINGS).items == [ImageRequest(image=PIXELS)]


def test_direct_invocations_are_not_http_events() -> None:
    assert not is_http_event({"url": "https://x.test/a.jpg"})
    assert not is_http_event({"body": "{}"})
    assert not is_http_event([1, 2])


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        (rest_api_event(None), 400, "empty_body"),
        (rest_api_event(""), 400, "empty_body"),
        (rest_api_event("{not json"), 400, "invalid_json"),
        (rest_api_event("[" * 100_000 + "]" * 100_000), 400, "invalid_json"),  # deeper than recursion allows
        (rest_api_event("[1, 2]"), 400, "invalid_request"),
        (rest_api_event("%%%", base64_body=True), 400, "invalid_base64"),
        (rest_api_event("x" * (6 * 1024 * 1024 + 1)), 413, "body_too_large"),
        (rest_api_event("{}", method="GET"), 405, "method_not_allowed"),
        (http_api_event("{}", method="DELETE"), 405, "method_not_allowed"),
    ],
)
def test_bad_http_requests(event: dict, status: int, code: str) -> None:
    with expect_error(code) as caught:
        parse_http_event(event, SETTINGS)
    assert caught.value.status == status


def test_http_method_from_each_event_shape() -> None:
    assert http_method(rest_api_event("{}", method="options")) == "OPTIONS"
    assert http_method(http_api_event("{}", method="GET")) == "GET"


def test_http_response_carries_cors_and_json() -> None:
    response = http_response({"a": 1}, 200, Settings(cors_allow_origin="https://clinic.example"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"a": 1}
    headers = response["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Access-Control-Allow-Origin"] == "https://clinic.example"
    assert headers["Vary"] == "Origin"
    assert "POST" in headers["Access-Control-Allow-Methods"]
