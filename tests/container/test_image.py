"""The Lambda container image, run as users and AWS run it: `docker run` with test.py, and
`sam local start-api` with the SAM template. Run by scripts/container/container-test.sh
(`make container-test`), which builds the image and brings up podman and the SAM CLI first;
elsewhere these tests are skipped.

Networking: `docker run --network slirp4netns` (allow_host_loopback, set in podman-service.sh's
containers.conf) lets the container reach this host's 127.0.0.1 at 10.0.2.2, so test.py's URL is
served on loopback. `sam local` puts its containers on podman's bridge, where the host's loopback
is out of reach: there the image is served by a second container on the same bridge.
"""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skinlesion.classes import CLASS_CODES
from skinlesion.paths import DEFAULT_MODEL_PATH
from tests.conftest import REPO
from tests.support.image_server import ImageServer
from tests.support.images import jpeg

IMAGE = os.environ.get("CONTAINER_IMAGE", "")
SAM_CLI = os.environ.get("SAM_CLI", "")
HOST_FROM_CONTAINER = "10.0.2.2"  # slirp4netns: the host's loopback, seen from a container
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
MAX_IMAGE_BYTES = 200_000  # lowered for sam local, to check the 413 with a small body

pytestmark = pytest.mark.skipif(
    not IMAGE, reason="needs the built image and podman: run `make container-test`"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def docker(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, str], Any]:
    """POST and return (status, headers, decoded JSON body); HTTP errors are answers too."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def wait_until_answering(url: str, process_alive: Any, timeout: float) -> None:
    """Until `url` answers an invocation (a published port accepts before the server listens)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive():
            raise RuntimeError(f"the server behind {url} exited before answering")
        try:
            post(url, b"{}")
            return
        except (OSError, ValueError):
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:g} s")


def assert_contract(answer: dict[str, Any]) -> None:
    assert list(answer["probabilities"]) == list(CLASS_CODES)
    assert abs(sum(answer["probabilities"].values()) - 1) < 1e-3
    assert answer["prediction"] == max(answer["probabilities"], key=answer["probabilities"].get)
    assert answer["label"] and answer["model"]["name"]


def run_test_py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "test.py", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def lesion_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("images") / "lesion.jpg"
    path.write_bytes(jpeg(600, 450, seed=3))
    return path


@pytest.fixture(scope="module")
def container_endpoint() -> Iterator[str]:
    """`docker run -p 127.0.0.1:PORT:8080 IMAGE`, as the README says; removed afterwards."""
    port = free_port()
    container = docker(
        "run", "--detach", "--network", "slirp4netns", "--env", "ALLOW_PRIVATE_URLS=1",
        "--publish", f"127.0.0.1:{port}:8080", IMAGE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}{INVOKE_PATH}"
    try:
        wait_until_answering(
            url, lambda: docker("inspect", "--format", "{{.State.Running}}", container) == "true", 60
        )
        yield url
    finally:
        print(docker("logs", container, timeout=30)[-3000:])
        docker("rm", "--force", container)


def test_the_image_holds_serving_only() -> None:
    """No TensorFlow, no training code, no tests; the model and its card are where MODEL_PATH looks."""
    script = (
        "import importlib.util as u, os, json;"
        "print(json.dumps({'tensorflow': u.find_spec('tensorflow') is not None,"
        " 'keras': u.find_spec('keras') is not None,"
        " 'task': sorted(os.listdir('/var/task')),"
        " 'package': sorted(os.listdir('/var/task/skinlesion')),"
        " 'models': sorted(os.listdir('/var/task/models'))}))"
    )
    found = json.loads(docker("run", "--rm", "--entrypoint", "python", IMAGE, "-c", script))
    assert not found["tensorflow"] and not found["keras"]
    assert set(found["task"]) == {"__pycache__", "lambda_function.py", "models", "skinlesion"}
    assert set(found["package"]) - {"__pycache__"} == {
        "__init__.py",
        "classes.py",
        "paths.py",
        "contract.py",
        "model_card.py",
        "metadata.py",
        "temperature.py",
        "inference.py",
        "image",
        "serving",
    }
    assert found["models"] == sorted([DEFAULT_MODEL_PATH.name, DEFAULT_MODEL_PATH.with_suffix(".json").name])


def test_test_py_uploads_a_file(container_endpoint: str, lesion_file: Path) -> None:
    result = run_test_py(str(lesion_file), "--endpoint", container_endpoint, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert_contract(json.loads(result.stdout))


def test_test_py_sends_a_url_served_on_loopback(container_endpoint: str) -> None:
    with ImageServer() as server:
        server.add("lesion.jpg", jpeg(450, 300, seed=4))
        url = f"http://{HOST_FROM_CONTAINER}:{server.port}/file/lesion.jpg"
        result = run_test_py(url, "--endpoint", container_endpoint)
        assert server.requests == ["/file/lesion.jpg"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("prediction: ")


@pytest.fixture(scope="module")
def bridge_image_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An image served by a container on podman's bridge (Python's http.server, in our image)."""
    folder = tmp_path_factory.mktemp("served")
    (folder / "lesion.jpg").write_bytes(jpeg(seed=5))
    container = docker(
        "run", "--detach", "--volume", f"{folder}:/srv:ro", "--entrypoint", "python", IMAGE,
        "-u", "-m", "http.server", "8000", "--directory", "/srv",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "Serving HTTP" not in docker("logs", container) and time.monotonic() < deadline:
            time.sleep(0.2)
        address = docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", container)
        yield f"http://{address}:8000/lesion.jpg"
    finally:
        docker("rm", "--force", container)


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`sam local start-api` on 127.0.0.1 with template.yaml and the built image."""
    folder = tmp_path_factory.mktemp("sam")
    env_vars = folder / "env.json"
    env_vars.write_text(
        json.dumps(
            {"ClassifierFunction": {"ALLOW_PRIVATE_URLS": "1", "MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES)}}
        )
    )
    port = free_port()
    log = folder / "sam-local.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                SAM_CLI, "local", "start-api", "--template", str(REPO / "template.yaml"),
                "--host", "127.0.0.1", "--port", str(port), "--skip-pull-image",
                "--parameter-overrides", f"ImageUri={IMAGE}", "--env-vars", str(env_vars),
            ],
            cwd=folder, env={**os.environ, "SAM_CLI_TELEMETRY": "0"}, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/predict"
    try:
        wait_until_answering(url, lambda: process.poll() is None, 120)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        print(log.read_text(errors="replace")[-3000:])


def test_api_url_body_answers_the_contract(api_url: str, bridge_image_url: str) -> None:
    status, headers, answer = post(api_url, json.dumps({"url": bridge_image_url}).encode())
    assert status == 200, answer
    assert_contract(answer)
    assert headers.get("Access-Control-Allow-Origin") == "*"


def test_api_base64_body_answers_the_contract(api_url: str, lesion_file: Path) -> None:
    body = json.dumps({"image": base64.b64encode(lesion_file.read_bytes()).decode()}).encode()
    status, _, answer = post(api_url, body)
    assert status == 200, answer
    assert_contract(answer)


def test_test_py_with_api_url(api_url: str, lesion_file: Path) -> None:
    result = run_test_py(str(lesion_file), "--api-url", api_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("prediction: ")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 400, "empty_body"),
        (b"this is not JSON", 400, "invalid_json"),
        (b'{"picture": "x"}', 400, "invalid_request"),
        (json.dumps({"image": "A" * (MAX_IMAGE_BYTES * 2)}).encode(), 413, "image_too_large"),
    ],
    ids=["empty", "not-json", "no-image", "oversized"],
)
def test_api_bad_bodies_answer_4xx(api_url: str, body: bytes, status: int, code: str) -> None:
    answer_status, headers, answer = post(api_url, body)
    assert (answer_status, answer["error"]["code"]) == (status, code), answer
    assert headers.get("Access-Control-Allow-Origin") == "*"
