"""A loopback HTTP server that plays every kind of image host a client might point us at.

Routes (GET): /file/<name> serves a registered body with its content type; /redirect?to=URL
answers 302; /loop redirects to itself; /status/<code>; /drip sends a byte at a time slowly;
/endless streams forever; /lying-length declares more bytes than it sends; /no-length
streams a registered body without Content-Length. Every loop is bounded by the client's
deadline and by MAX_STREAM_SECONDS here, so nothing outlives a test.
"""

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_STREAM_SECONDS = 30.0


class ImageServer:
    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []
        self.user_agents: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                server.requests.append(self.path)
                server.user_agents.append(self.headers.get("User-Agent", ""))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server.route(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, name: str, body: bytes, content_type: str = "image/jpeg") -> str:
        self.files[name] = (body, content_type)
        return self.url(f"/file/{name}")

    def route(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path, query = parts.path, parse_qs(parts.query)
        if path.startswith("/file/") and path[6:] in self.files:
            body, content_type = self.files[path[6:]]
            self._send(h, 200, body, content_type)
        elif path == "/redirect":
            self._send(h, 302, b"", "text/plain", {"Location": query["to"][0]})
        elif path == "/loop":
            self._send(h, 302, b"", "text/plain", {"Location": "/loop"})
        elif path.startswith("/status/"):
            self._send(h, int(path[8:]), b"nope", "text/plain")
        elif path == "/drip":
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            self._stream(h, b"\xff", float(query.get("interval", ["0.5"])[0]))
        elif path == "/endless":
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.end_headers()
            self._stream(h, b"\0" * 65536, 0.0)
        elif path == "/lying-length":
            body, content_type = self.files[query["name"][0]]
            h.send_response(200)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body) * 2))
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
            h.close_connection = True
        elif path == "/no-length":
            body, content_type = self.files[query["name"][0]]
            h.send_response(200)
            h.send_header("Content-Type", content_type)
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(body)
            h.close_connection = True
        else:
            self._send(h, 404, b"not found", "text/plain")

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def _stream(h: BaseHTTPRequestHandler, chunk: bytes, interval: float) -> None:
        stop = time.monotonic() + MAX_STREAM_SECONDS
        h.close_connection = True
        while time.monotonic() < stop:
            h.wfile.write(chunk)
            h.wfile.flush()
            if interval:
                time.sleep(interval)

    def __enter__(self) -> "ImageServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
