"""A local stand-in for API Gateway in front of the Lambda emulator: plain HTTP on 127.0.0.1 in,
REST API proxy events out, so that a browser can use the clinic page over the real handler.

`GET /` is the page, `POST /predict` the API, exactly as deployed (`template.yaml`), with the
handler answering both. Bodies over Lambda's 6 MB synchronous payload get API Gateway's 413.
"""

import base64
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from skinlesion.contract import FUNCTION_TIMEOUT_S

MAX_PAYLOAD = 6 * 1024 * 1024
STAGE = "local"


def proxy_event(method: str, path: str, headers: dict[str, str], body: bytes) -> dict:
    """The REST API (payload 1.0) proxy event API Gateway would send for this request."""
    route = path.split("?", 1)[0]
    content_type = headers.get("Content-Type", "")
    binary = content_type.startswith("image/")  # the API's binary media types
    return {
        "resource": route,
        "path": route,
        "httpMethod": method,
        "headers": headers,
        "queryStringParameters": None,
        "body": (base64.b64encode(body).decode() if binary else body.decode("utf-8", "surrogateescape"))
        if body
        else None,
        "isBase64Encoded": binary,
        "requestContext": {"stage": STAGE, "requestId": str(uuid.uuid4()), "resourcePath": route},
    }


def _handler(invoke_url: str) -> type[BaseHTTPRequestHandler]:
    class Front(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)  # read whole even when refused, so the client hears the answer
            if length > MAX_PAYLOAD:
                self._reply(413, {"Content-Type": "application/json"}, b'{"message":"Request Too Long"}')
                return
            event = proxy_event(self.command, self.path, dict(self.headers.items()), body)
            request = urllib.request.Request(invoke_url, data=json.dumps(event).encode(), method="POST")
            try:  # as long as the function may run, and its cold start (the model load)
                with urllib.request.urlopen(request, timeout=FUNCTION_TIMEOUT_S + 10) as response:
                    answer = json.loads(response.read())
            except (OSError, ValueError) as error:  # refused, reset, timed out (URLError is one), not JSON
                self._reply(
                    502, {"Content-Type": "application/json"}, json.dumps({"message": str(error)}).encode()
                )
                return
            if "statusCode" not in answer:  # the runtime's own error object, as API Gateway shows it
                self._reply(502, {"Content-Type": "application/json"}, b'{"message":"Internal server error"}')
                return
            data = answer.get("body") or ""
            payload = base64.b64decode(data) if answer.get("isBase64Encoded") else data.encode()
            self._reply(answer["statusCode"], answer.get("headers") or {}, payload)

        def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_OPTIONS = _forward  # noqa: N815 (http.server's names)

    return Front


@contextmanager
def serving(invoke_url: str, port: int) -> Iterator[str]:
    """Serve the front on 127.0.0.1:port in a thread; yield the page's URL; stop on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(invoke_url))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
