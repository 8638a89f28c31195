"""End to end: the real handler under the AWS Lambda Runtime Interface Emulator and
awslambdaric, called by test.py over HTTP on 127.0.0.1, as a user would."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.lambda_emulator import free_port
from skinlesion.classes import CLASS_CODES
from tests.conftest import FULLRES_DIR, REPO, SHIPPED_MODEL
from tests.support.image_server import ImageServer

pytestmark = pytest.mark.emulator


def run_test_py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "test.py", *args], cwd=REPO, capture_output=True, text=True, timeout=90
    )


def test_file_upload(endpoint: str, fullres_images: list[Path]) -> None:
    result = run_test_py(str(fullres_images[0]), "--endpoint", endpoint, "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert list(answer["probabilities"]) == list(CLASS_CODES)
    assert answer["model"]["name"] == "tiny-test-model"


def test_url_on_loopback(endpoint: str, image_server: ImageServer, fullres_images: list[Path]) -> None:
    url = image_server.add("e2e.jpg", fullres_images[1].read_bytes())
    result = run_test_py(url, "--endpoint", endpoint)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("prediction: ")
    assert all(f"  {code} " in result.stdout for code in CLASS_CODES)


def test_errors_come_back_as_json(endpoint: str, image_server: ImageServer) -> None:
    result = run_test_py(image_server.url("/status/404"), "--endpoint", endpoint, "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "fetch_failed"


def test_the_patient_goes_with_the_image_and_bad_values_come_back_as_400(
    endpoint: str, fullres_images: list[Path]
) -> None:
    """The tiny model behind the emulator takes no metadata: said as 501; a bad value is a 400 first."""
    image = str(fullres_images[0])
    unavailable = run_test_py(image, "--endpoint", endpoint, "--json", "--age", "63", "--site", "thigh")
    assert unavailable.returncode == 1
    assert json.loads(unavailable.stdout)["error"]["code"] == "metadata_unavailable"
    invalid = run_test_py(image, "--endpoint", endpoint, "--json", "--sex", "x")
    assert invalid.returncode == 1 and json.loads(invalid.stdout)["error"]["code"] == "invalid_metadata"


def test_unreachable_endpoint_is_said_plainly(fullres_images: list[Path]) -> None:
    result = run_test_py(
        str(fullres_images[0]), "--endpoint", f"http://127.0.0.1:{free_port()}/x", "--timeout", "5"
    )
    assert result.returncode == 3
    assert "cannot reach" in result.stderr and "make serve" in result.stderr


def test_make_demo_serves_the_shipped_model(fullres_images: list[Path]) -> None:
    """What the README's first command runs: the default model, a full-size HAM10000 image."""
    if not SHIPPED_MODEL.exists():
        pytest.fail(f"the shipped model {SHIPPED_MODEL} is missing")
    labels = dict(line.split(",")[1:3] for line in (FULLRES_DIR / "labels.csv").read_text().splitlines()[1:])
    melanoma = next(p for p in fullres_images if labels[p.stem] == "mel")
    result = subprocess.run(
        [sys.executable, "-m", "devtools.lambda_emulator", "--port", str(free_port()), "demo", str(melanoma)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "prediction: " in result.stdout
    assert all(f"  {code} " in result.stdout for code in CLASS_CODES)
    assert "model: skin-lesion-class " in result.stdout
