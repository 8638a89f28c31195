"""Every hostile or broken input of tests/support/hostile.py, sent to the real handler under
the Lambda emulator: each gets its documented answer within the deadline, and the process
keeps answering afterwards."""

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.lambda_emulator import free_port, running
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Service, handle
from tests.conftest import REPO
from tests.support.hostile import CASES, Case, b64, render_table
from tests.support.image_server import ImageServer
from tests.support.images import jpeg

pytestmark = pytest.mark.emulator

# The handler's fetch deadline in these endpoints is 3 s; nothing may take much longer.
ANSWER_WITHIN = 8.0


@pytest.fixture(scope="module")
def strict_endpoint(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The production setting: private addresses refused."""
    log = tmp_path_factory.mktemp("strict-emulator") / "emulator.log"
    with running(free_port(), env={"MODEL_PATH": str(tiny_model), "ALLOW_PRIVATE_URLS": "0"}, log=log) as url:
        yield url


def invoke(url: str, event: object) -> tuple[dict, float]:
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read()), time.monotonic() - started


def status_and_code(answer: dict) -> tuple[int, str | None]:
    if "statusCode" in answer:  # an API Gateway event gets an API Gateway response
        body = json.loads(answer["body"]) if answer["body"] else {}
        return answer["statusCode"], body.get("error", {}).get("code")
    if "error" in answer:
        return answer["error"]["status"], answer["error"]["code"]
    assert "errorMessage" not in answer, f"the runtime itself failed: {answer}"
    return 200, None


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hostile_input_gets_its_documented_answer(
    case: Case, endpoint: str, strict_endpoint: str, image_server: ImageServer, tiny_model: Path
) -> None:
    if case.in_process:
        started = time.monotonic()
        answer = handle(case.event(image_server), None, Service(Settings(model_path=tiny_model)))
        seconds = time.monotonic() - started
    else:
        answer, seconds = invoke(strict_endpoint if case.strict else endpoint, case.event(image_server))
    assert status_and_code(answer) == (case.status, case.code), answer
    assert seconds < ANSWER_WITHIN
    if case.status == 200:
        assert abs(sum(answer["probabilities"].values()) - 1) < 1e-3
    else:
        assert "Traceback" not in json.dumps(answer)


def test_still_healthy_after_everything(endpoint: str, strict_endpoint: str) -> None:
    for url in (endpoint, strict_endpoint):
        answer, _ = invoke(url, {"image": b64(jpeg())})
        assert status_and_code(answer) == (200, None)


def test_documentation_table_matches_the_cases() -> None:
    assert (REPO / "docs" / "hostile-input.md").read_text() == render_table()
