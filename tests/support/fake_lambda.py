"""A loopback stand-in for a Lambda endpoint, for the batch scorer's tests.

It answers a scripted list of failures first (throttling, gateway errors, the service's own
errors), then either passes each request on to a real endpoint, one at a time (the Runtime
Interface Emulator crashes on concurrent invocations), or answers a prediction for every image
itself. `together`: the first that many requests are held until all of them are in, which shows a
client's fan-out without depending on timing. The serving loop is bounded by MAX_REQUESTS.
"""

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from skinlesion import contract

MAX_REQUESTS = 200
HOLD_SECONDS = 10.0

# Every image gets this answer: melanoma most likely, the melanoma alert on, the malignant one
# off (0.52 < 0.6), and flagged out of distribution by two checks.
PROBABILITIES = {"akiec": 0.06, "bcc": 0.06, "bkl": 0.06, "df": 0.06, "mel": 0.4, "nv": 0.3, "vasc": 0.06}
OPERATING_POINTS = {
    "melanoma": {"threshold": 0.2, "sensitivity": 0.9, "specificity": 0.7},
    "malignant": {"threshold": 0.6, "sensitivity": 0.95, "specificity": 0.6},
}
MODEL: contract.ModelInfo = {"name": "fake", "version": "0", "sha256": "000000000000"}

Failure = tuple[int, bytes, dict[str, str]]  # status, body, headers


def prediction() -> contract.Prediction:
    ood = contract.out_of_distribution(250.0, 190.0, ["features", "texture"])
    return contract.prediction(PROBABILITIES, operating_points=OPERATING_POINTS, ood=ood)


def answer_for(payload: dict[str, Any]) -> dict[str, Any]:
    if "instances" in payload:
        return dict(contract.batch_answer([prediction() for _ in payload["instances"]], MODEL))
    return {**prediction(), "model": MODEL}


class FakeLambda:
    def __init__(
        self, failures: Sequence[Failure] = (), upstream: str | None = None, together: int = 0
    ) -> None:
        self.failures = list(failures)
        self.upstream = upstream
        self.requests: list[dict[str, Any]] = []  # every request's JSON, in arrival order
        self.sizes: list[int] = []  # and its body's bytes
        self.api_keys: list[str | None] = []  # and its x-api-key header
        self.max_in_flight = 0
        self._in_flight = 0
        self._state = threading.Lock()
        self._one_at_a_time = threading.Lock()
        self._together = threading.Barrier(together) if together > 1 else None
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.api_keys.append(self.headers.get("x-api-key"))
                status, answer, headers = fake.respond(body)
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.timeout = 0.05  # how often the loop looks at the stop flag
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/prod/predict"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set() and len(self.requests) < MAX_REQUESTS:
            self.httpd.handle_request()

    def respond(self, body: bytes) -> Failure:
        with self._state:
            index = len(self.requests)
            self.requests.append(json.loads(body))
            self.sizes.append(len(body))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            failure = self.failures.pop(0) if self.failures else None
        try:
            if self._together is not None and index < self._together.parties:
                with contextlib.suppress(threading.BrokenBarrierError):
                    self._together.wait(HOLD_SECONDS)
            if failure is not None:
                return failure
            if self.upstream is None:
                return 200, json.dumps(answer_for(json.loads(body))).encode(), {}
            with self._one_at_a_time:
                return (*self._forward(body), {})
        finally:
            with self._state:
                self._in_flight -= 1

    def _forward(self, body: bytes) -> tuple[int, bytes]:
        assert self.upstream is not None
        request = urllib.request.Request(
            self.upstream, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def __enter__(self) -> "FakeLambda":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.httpd.server_close()
