"""`python -m skinlesion.analysis.metadata_prior`: age, sex and site as evidence beside the image."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skinlesion.analysis.metadata_prior import fit_metadata_model, patients
from skinlesion.classes import CLASS_CODES
from skinlesion.dataset import METADATA_FILE, lesion_split, load_metadata, write_split
from skinlesion.metadata import Patient
from skinlesion.paths import RUN_SPLIT_FILE, RUN_VAL_PROBABILITIES_FILE
from tests.support.datasets import write_tiny_dataset

REPO = Path(__file__).resolve().parents[2]
SITES = ["face", "back", "lower extremity", "trunk", "scalp", "hand", "ear"]  # one per class, in order


def _rows(**columns: list) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_the_fitted_model_reads_the_rows_as_a_request_would_and_learns_the_site() -> None:
    train = _rows(
        dx=list(CLASS_CODES) * 4,
        age=[50.0] * 28,
        sex=["male", "female"] * 14,
        localization=SITES * 4,
    )
    assert patients(_rows(age=[np.nan], sex=["unknown"], localization=["unknown"])) == [Patient()]
    assert patients(_rows(age=[45.0], sex=["female"], localization=["face"])) == [
        Patient(45.0, "female", "face")
    ]
    model = fit_metadata_model(train, weight=0.5)
    assert model.weight == 0.5 and model.prior == pytest.approx(np.full(7, 1 / 7))
    by_site = model.probabilities([Patient(site=site) for site in SITES])
    assert by_site.argmax(axis=1).tolist() == list(range(7))  # each site's own diagnosis
    assert model.probabilities([Patient()]).sum() == pytest.approx(1.0)


def test_a_class_without_training_rows_gets_no_probability() -> None:
    train = _rows(dx=["nv", "mel"] * 5, age=[30.0, 70.0] * 5, sex=["male"] * 10, localization=["back"] * 10)
    probs = fit_metadata_model(train, weight=1.0).probabilities([Patient(70.0), Patient(30.0)])
    assert probs[:, [CLASS_CODES.index("nv"), CLASS_CODES.index("mel")]].sum(axis=1) == pytest.approx(1.0)
    assert probs[0].argmax() == CLASS_CODES.index("mel") and probs[1].argmax() == CLASS_CODES.index("nv")


def test_the_command_scores_a_run_with_and_without_metadata(tmp_path: Path) -> None:
    """On a dataset where the site gives the diagnosis away, an image model that knows nothing
    (uniform probabilities) becomes right once the metadata is added; paired figures are written."""
    dataset = write_tiny_dataset(tmp_path / "ham", lesions_per_class=6)
    meta = pd.read_csv(dataset / METADATA_FILE)
    meta["localization"] = meta["dx"].map(dict(zip(CLASS_CODES, SITES, strict=True)))
    meta.to_csv(dataset / METADATA_FILE, index=False)

    run = tmp_path / "run"
    run.mkdir()
    split = lesion_split(load_metadata(dataset), 0.4, seed=0)
    write_split(split, run / RUN_SPLIT_FILE)
    n_val = int((split["split"] == "val").sum())
    np.save(run / RUN_VAL_PROBABILITIES_FILE, np.full((n_val, 7), 1 / 7))

    out = tmp_path / "metadata.json"
    done = subprocess.run(
        [sys.executable, "-m", "skinlesion.analysis.metadata_prior", str(run), "--split",
         str(run / RUN_SPLIT_FILE), "--data-dir", str(dataset), "--n-boot", "50", "--weights", "0", "1",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["metadata_alone_balanced_accuracy"] == pytest.approx(1.0)
    unchanged, added = report["weights"]["0.0"], report["weights"]["1.0"]
    assert all(r["difference"] == 0 for r in unchanged.values())
    assert added["balanced_accuracy"]["a"] == pytest.approx(1 / 7)
    assert added["balanced_accuracy"]["b"] == pytest.approx(1.0)
    assert "metadata alone (no image): balanced accuracy 1.000" in done.stdout
