"""devtools/http_front.py: the local API Gateway stand-in turns plain HTTP into proxy events for the
real handler under the emulator, and refuses what API Gateway and Lambda would refuse."""

import json
import urllib.error
import urllib.request

import pytest

from devtools.http_front import MAX_PAYLOAD, serving
from devtools.lambda_emulator import free_port

pytestmark = pytest.mark.emulator


def fetch(
    url: str, body: bytes | None = None, content_type: str = "application/json"
) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_page_and_the_api_through_the_front(endpoint: str) -> None:
    with serving(endpoint, free_port()) as url:
        status, headers, body = fetch(url)
        assert status == 200 and headers["Content-Type"].startswith("text/html") and b"<html" in body
        status, _, body = fetch(url + "predict", b'{"url": 5}')
        assert status == 400 and json.loads(body)["error"]["code"] == "invalid_url"
        status, _, body = fetch(url + "predict", b"not an image at all", content_type="image/jpeg")
        assert status == 415 and json.loads(body)["error"]["code"] == "not_an_image"
        status, _, _ = fetch(url + "predict", b"x" * (MAX_PAYLOAD + 1))
        assert status == 413
