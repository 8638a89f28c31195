"""Hostile and broken inputs, each with the answer the service must give.

One list feeds the end-to-end test (tests/serving/test_hostile_input.py) and the table in
docs/hostile-input.md (`python -m tests.support.hostile > docs/hostile-input.md`), so the
documentation cannot drift from what is tested.
"""

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tests.support.events import rest_api_event
from tests.support.image_server import ImageServer
from tests.support.images import encode, jpeg, lesion_like, png_declaring

MB = 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def animated_gif(frames: int) -> bytes:
    images = [Image.new("P", (16, 16), i % 256) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=1)
    return buffer.getvalue()


def sixteen_bit_png() -> bytes:
    import numpy as np

    return encode(Image.fromarray((np.arange(64 * 64, dtype=np.uint16) * 16).reshape(64, 64)), "PNG")


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    event: Callable[[ImageServer], Any]  # the event, given the loopback image server
    status: int
    code: str | None = None
    strict: bool = False  # sent to the endpoint with private addresses refused
    # Over Lambda's 6 MB invoke limit, which Lambda (and the emulator) refuse before the function
    # runs: such a case is handed to the handler in-process instead.
    in_process: bool = False


def _upload(data: bytes) -> Callable[[ImageServer], dict]:
    return lambda server: {"image": b64(data)}


def _served(name: str, data: bytes, content_type: str = "image/jpeg") -> Callable[[ImageServer], dict]:
    return lambda server: {"url": server.add(name, data, content_type)}


def _path(path: str) -> Callable[[ImageServer], dict]:
    return lambda server: {"url": server.url(path)}


def _url(url: str) -> Callable[[ImageServer], dict]:
    return lambda server: {"url": url}


def _lying_length(server: ImageServer) -> dict:
    server.add("h-lie.jpg", _JPEG)
    return {"url": server.url("/lying-length?name=h-lie.jpg")}


_JPEG = jpeg(200, 150)
_ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\0" * 200
_PDF = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

CASES: list[Case] = [
    # Request structure
    Case(
        "json-invalid",
        "API Gateway body that is not JSON",
        lambda server: rest_api_event("{'url': oops"),
        400,
        "invalid_json",
    ),
    Case(
        "json-array",
        "JSON array instead of an object",
        lambda server: rest_api_event("[1, 2, 3]"),
        400,
        "invalid_request",
    ),
    Case(
        "missing-fields",
        "object with neither `url` nor `image`",
        lambda server: {"hello": "world"},
        400,
        "invalid_request",
    ),
    Case(
        "both-fields",
        "both `url` and `image`",
        lambda server: {"url": "https://x.test/a.jpg", "image": "AA=="},
        400,
        "invalid_request",
    ),
    Case("url-wrong-type", "`url` is a number", lambda server: {"url": 12345}, 400, "invalid_url"),
    Case(
        "explain-unknown-class",
        "`explain` names no class (`melanoma` for `mel`)",
        lambda server: {"url": "https://x.test/a.jpg", "explain": "melanoma"},
        400,
        "invalid_explain",
    ),
    Case(
        "explain-wrong-type",
        "`explain` is a number",
        lambda server: {"url": "https://x.test/a.jpg", "explain": 1},
        400,
        "invalid_explain",
    ),
    Case("image-wrong-type", "`image` is a list", lambda server: {"image": [1, 2]}, 400, "invalid_base64"),
    Case(
        "instances-wrong-type",
        "`instances` is an object",
        lambda server: {"instances": {"url": "x"}},
        400,
        "invalid_request",
    ),
    Case(
        "instances-too-many",
        "batch of 17 (limit 16)",
        lambda server: {"instances": [{"image": "AA=="}] * 17},
        413,
        "batch_too_large",
    ),
    Case(
        "empty-body",
        "API Gateway request with an empty body",
        lambda server: rest_api_event(""),
        400,
        "empty_body",
    ),
    Case(
        "body-over-6mb",
        "API Gateway body over Lambda's 6 MB",
        lambda server: rest_api_event("x" * (6 * MB + 10)),
        413,
        "body_too_large",
        in_process=True,
    ),
    Case(
        "method-get",
        "GET instead of POST",
        lambda server: rest_api_event("{}", method="GET"),
        405,
        "method_not_allowed",
    ),
    # Base64
    Case(
        "base64-invalid",
        "`image` with characters outside base64",
        lambda server: {"image": "not*base64!"},
        400,
        "invalid_base64",
    ),
    Case(
        "base64-overpadded",
        "`image` with excess padding",
        lambda server: {"image": "QUJD===="},
        400,
        "invalid_base64",
    ),
    Case(
        "base64-inner-padding",
        "`image` with padding in the middle",
        lambda server: {"image": "QQ==QQ=="},
        400,
        "invalid_base64",
    ),
    Case("base64-empty", "`image` is an empty string", lambda server: {"image": ""}, 400, "invalid_base64"),
    Case(
        "image-over-10mb",
        "`image` of 10 MB + 1 byte",
        lambda server: {"image": b64(b"\xff" * (10 * MB + 1))},
        413,
        "image_too_large",
        in_process=True,
    ),
    # File contents
    Case(
        "empty-file",
        "an empty file (base64 of zero bytes, written as '=')",
        lambda server: {"image": "===="},
        400,
        "invalid_base64",
    ),
    Case(
        "text-file",
        "plain text uploaded as an image",
        _upload(b"just some words\n" * 20),
        415,
        "not_an_image",
    ),
    Case(
        "html-file",
        "an HTML page uploaded as an image",
        _upload(b"<!doctype html><html><body>hi</body></html>"),
        415,
        "not_an_image",
    ),
    Case("zip-file", "a ZIP archive", _upload(_ZIP), 415, "not_an_image"),
    Case("pdf-file", "a PDF document", _upload(_PDF), 415, "not_an_image"),
    Case(
        "polyglot-jpeg-zip",
        "a valid JPEG with a ZIP appended (polyglot): the image is classified",
        _upload(_JPEG + _ZIP),
        200,
    ),
    Case("truncated-jpeg", "a JPEG cut in half", _upload(_JPEG[: len(_JPEG) // 2]), 422, "undecodable_image"),
    Case(
        "decompression-bomb",
        "a 100-byte PNG declaring 50,000 x 50,000 pixels",
        _upload(png_declaring(50_000, 50_000)),
        413,
        "too_many_pixels",
    ),
    Case(
        "gif-3000-frames",
        "an animated GIF with 3,000 frames: the first frame is classified",
        _upload(animated_gif(3000)),
        200,
    ),
    Case(
        "one-by-100000",
        "a 1 x 100,000 pixel image",
        _upload(encode(Image.new("RGB", (1, 100_000), "tan"), "PNG")),
        200,
    ),
    Case("one-pixel", "a 1 x 1 pixel image", _upload(encode(Image.new("RGB", (1, 1), "tan"), "PNG")), 200),
    Case("sixteen-bit", "a 16-bit greyscale PNG", _upload(sixteen_bit_png()), 200),
    Case("cmyk-jpeg", "a CMYK JPEG", _upload(encode(lesion_like(120, 90).convert("CMYK"), "JPEG")), 200),
    # URLs refused before any connection (private addresses refused, as in production)
    Case("url-file", "`file:///etc/passwd`", _url("file:///etc/passwd"), 400, "url_refused", strict=True),
    Case("url-ftp", "`ftp://` URL", _url("ftp://ftp.example.com/a.jpg"), 400, "url_refused", strict=True),
    Case(
        "url-gopher", "`gopher://` URL", _url("gopher://127.0.0.1:70/_GET"), 400, "url_refused", strict=True
    ),
    Case(
        "url-data", "`data:` URL", _url("data:image/png;base64,iVBORw0KGgo="), 400, "url_refused", strict=True
    ),
    Case(
        "url-credentials",
        "credentials in the URL",
        _url("http://admin:secret@example.com/a.jpg"),
        400,
        "url_refused",
        strict=True,
    ),
    Case("url-ipv6-loopback", "`http://[::1]/`", _url("http://[::1]/a.jpg"), 400, "url_refused", strict=True),
    Case(
        "url-hex-ip",
        "`http://0x7f000001/` (127.0.0.1 in hex)",
        _url("http://0x7f000001/a.jpg"),
        400,
        "url_refused",
        strict=True,
    ),
    Case(
        "url-decimal-ip",
        "`http://2130706433/` (127.0.0.1 as a number)",
        _url("http://2130706433/a.jpg"),
        400,
        "url_refused",
        strict=True,
    ),
    Case(
        "url-metadata",
        "`http://169.254.169.254/` (cloud metadata)",
        _url("http://169.254.169.254/latest/meta-data/"),
        400,
        "url_refused",
        strict=True,
    ),
    Case(
        "url-ipv4-mapped",
        "`http://[::ffff:127.0.0.1]/` (IPv4-mapped IPv6)",
        _url("http://[::ffff:127.0.0.1]/"),
        400,
        "url_refused",
        strict=True,
    ),
    Case(
        "url-name-to-private",
        "a host name that resolves to a private address (`localhost`)",
        _url("http://localhost/a.jpg"),
        400,
        "url_refused",
        strict=True,
    ),
    # Hostile servers (reached through loopback, private addresses allowed for the test)
    Case(
        "served-text",
        "a URL serving text with `Content-Type: image/jpeg`",
        _served("h-text.jpg", b"hello " * 100),
        415,
        "not_an_image",
    ),
    Case(
        "served-html",
        "a URL serving an HTML page",
        _served("h-page.html", b"<html>login</html>", "text/html"),
        415,
        "not_an_image",
    ),
    Case(
        "served-wrong-type",
        "a real JPEG served as `text/plain`: content decides",
        _served("h-mislabelled", _JPEG, "text/plain"),
        200,
    ),
    Case("served-404", "a URL answering 404", _path("/status/404"), 502, "fetch_failed"),
    Case("redirect-loop", "a redirect loop", _path("/loop"), 502, "too_many_redirects"),
    Case("drip", "a server sending one byte every 0.5 s", _path("/drip?interval=0.5"), 504, "fetch_timeout"),
    Case("endless", "a server streaming forever", _path("/endless"), 413, "image_too_large"),
    Case("lying-length", "`Content-Length` larger than the body", _lying_length, 502, "fetch_failed"),
    Case(
        "served-11mb",
        "a URL serving 11 MB",
        _served("h-big.jpg", b"\xff" * (11 * MB)),
        413,
        "image_too_large",
    ),
    Case("served-empty", "a URL serving an empty body", _served("h-empty.jpg", b""), 415, "not_an_image"),
]

# Tested at the unit level, where a resolver can be injected and a public address simulated
# (tests/serving/test_fetch.py): listed so the table covers them.
UNIT_LEVEL = [
    ("redirect to a private address from a public host", 400, "url_refused"),
    ("redirect to 169.254.169.254 from a public host", 400, "url_refused"),
    ("a public name resolving to 10.0.0.7, or to a public and a private address", 400, "url_refused"),
    ("IPv4 inside 6to4 (2002::/16) or NAT64 (64:ff9b::/96)", 400, "url_refused"),
    ("a server that accepts the connection and never answers", 504, "fetch_timeout"),
]


def render_table() -> str:
    lines = [
        "# Hostile and broken input: what the service answers",
        "",
        "Generated from `tests/support/hostile.py`",
        "(`python -m tests.support.hostile > docs/hostile-input.md`);",
        "every row is checked end to end through the Lambda Runtime Interface Emulator by",
        "`tests/serving/test_hostile_input.py`, which also checks the process still answers afterwards.",
        "Rows marked *unit* are checked in `tests/serving/test_fetch.py`, where DNS can be simulated;",
        "rows marked *in-process* exceed Lambda's 6 MB invoke payload, which Lambda itself refuses",
        "(413) before the function runs, so they are handed to the handler directly.",
        "",
        "| input | status | error code |",
        "|---|---|---|",
    ]
    for case in CASES:
        where = " (*in-process*)" if case.in_process else ""
        lines.append(f"| {case.what}{where} | {case.status} | {case.code or '(prediction)'} |")
    lines += [f"| {what} (*unit*) | {status} | {code} |" for what, status, code in UNIT_LEVEL]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_table(), end="")
