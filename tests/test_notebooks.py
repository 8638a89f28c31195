"""Both notebooks executed for real (scripts/run_notebooks.py): the real data, the shipped model and
the local Lambda endpoint. A failing cell fails the test; the committed copies must be executed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REAL_DATA, REPO, SHIPPED_MODEL

pytestmark = [pytest.mark.dataset, pytest.mark.emulator]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def cells(notebook: Path) -> list[dict]:
    return [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]


def test_both_notebooks_are_there() -> None:
    assert [n.name for n in NOTEBOOKS] == ["Demonstration_notebook.ipynb", "Notebook.ipynb"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda n: n.stem)
def test_committed_notebook_carries_the_outputs_of_a_full_run(notebook: Path) -> None:
    code = cells(notebook)
    assert all(c["execution_count"] is not None for c in code), "run scripts/run_notebooks.py --in-place"
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), "cells ran out of order"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors
    assert any(o.get("data", {}).get("image/png") for c in code for o in c["outputs"]), "no plot rendered"


def test_notebooks_execute_without_error(tmp_path: Path) -> None:
    if not (REAL_DATA / "HAM10000_metadata.csv").exists() or not SHIPPED_MODEL.exists():
        pytest.skip("needs ../shared/data and the shipped model")
    done = subprocess.run(
        [sys.executable, "scripts/run_notebooks.py", "--output-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    for notebook in NOTEBOOKS:
        executed = tmp_path / notebook.name
        assert len(cells(executed)) == len(cells(notebook))
        assert all(c["execution_count"] is not None for c in cells(executed))
