import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.support.images import jpeg

PROBE = """
import json, sys, lambda_function
heavy = sorted(name for name in sys.modules if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))
print(json.dumps(heavy))
"""


def test_serving_never_imports_tensorflow(tiny_model: Path) -> None:
    env = {**os.environ, "MODEL_PATH": str(tiny_model)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_entry_point_answers_with_the_configured_model(tiny_model: Path) -> None:
    env = {**os.environ, "MODEL_PATH": str(tiny_model)}
    script = (
        "import json, sys, lambda_function; "
        "print(json.dumps(lambda_function.lambda_handler(json.loads(sys.stdin.read()), None)))"
    )
    event = json.dumps({"image": base64.b64encode(jpeg()).decode()})
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        input=event,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["model"]["name"] == "tiny-test-model"
    assert abs(sum(answer["probabilities"].values()) - 1) < 1e-3


IMPORTED = """
import json, sys, lambda_function
print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'skinlesion')))
"""


def test_every_module_the_handler_imports_is_in_the_image(tiny_model: Path) -> None:
    """The Dockerfile copies the serving modules by name (and .dockerignore allows them by name): a
    new module the handler imports must be on both lists, or the image fails at its first request."""
    env = {**os.environ, "MODEL_PATH": str(tiny_model)}
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = [
        Path(f).resolve().relative_to(REPO).as_posix() for f in json.loads(result.stdout.splitlines()[-1])
    ]
    dockerfile = (REPO / "Dockerfile").read_text()
    allowed = [line[1:] for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    for module in imported:
        folder = module.rsplit("/", 1)[0] + "/"
        assert module in dockerfile or folder in dockerfile, f"the Dockerfile does not copy {module}"
        assert module in allowed or folder in allowed, (
            f".dockerignore keeps {module} out of the build context"
        )
