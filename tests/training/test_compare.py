"""`python -m skinlesion.training.compare`: two served models, the same validation lesions, paired."""

import json
import subprocess
import sys
from pathlib import Path

from skinlesion.training.data import lesion_split, load_metadata, write_split

REPO = Path(__file__).resolve().parents[2]


def test_a_model_compared_with_itself_differs_by_nothing(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    split = tmp_path / "split.csv"
    write_split(lesion_split(load_metadata(tiny_dataset), 0.4, seed=0), split)
    out = tmp_path / "comparison.json"
    done = subprocess.run(
        [sys.executable, "-m", "skinlesion.training.compare", str(tiny_model), str(tiny_model),
         "--split", str(split), "--data-dir", str(tiny_dataset), "--n-boot", "50", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result) >= {
        "balanced_accuracy",
        "melanoma_roc_auc",
        "melanoma_sensitivity_at_specificity_0.90",
    }
    assert all(r["a"] == r["b"] and r["difference"] == 0 for r in result.values())
    assert "balanced_accuracy" in done.stdout and "+0.000 [+0.000, +0.000]" in done.stdout
