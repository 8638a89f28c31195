"""`python -m skinlesion.training.metadata_prior`: age, sex and site as evidence beside the image."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skinlesion.classes import CLASS_CODES
from skinlesion.paths import RUN_SPLIT_FILE, RUN_VAL_PROBABILITIES_FILE
from skinlesion.training.data import METADATA_FILE, lesion_split, load_metadata, write_split
from skinlesion.training.metadata_prior import MetadataModel, fuse
from tests.training.conftest import write_tiny_dataset

REPO = Path(__file__).resolve().parents[2]
SITES = ["face", "back", "lower extremity", "trunk", "scalp", "hand", "ear"]  # one per class, in order


def _rows(**columns: list) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_weight_zero_or_an_uninformative_metadata_leave_the_image_probabilities() -> None:
    rng = np.random.default_rng(0)
    image = rng.dirichlet(np.ones(7), size=20)
    prior = rng.dirichlet(np.ones(7))
    informative = rng.dirichlet(np.ones(7), size=20)
    np.testing.assert_allclose(fuse(image, informative, prior, 0.0), image, atol=1e-12)
    np.testing.assert_allclose(fuse(image, np.tile(prior, (20, 1)), prior, 1.0), image, atol=1e-12)
    fused = fuse(image, informative, prior, 0.5)
    np.testing.assert_allclose(fused.sum(axis=1), 1.0)
    assert not np.allclose(fused, image)


def test_metadata_that_favours_a_class_raises_it_and_its_weight_scales_the_shift() -> None:
    image = np.full((1, 7), 1 / 7)
    prior = np.full(7, 1 / 7)
    metadata = np.array([[0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]])
    half, full = fuse(image, metadata, prior, 0.5), fuse(image, metadata, prior, 1.0)
    assert half[0, 0] > 1 / 7 and full[0, 0] > half[0, 0]
    np.testing.assert_allclose(full, metadata)  # a flat image and a flat prior: the metadata's own answer


def test_unknown_and_missing_values_add_no_evidence() -> None:
    train = _rows(
        dx=list(CLASS_CODES) * 2,
        age=[30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 20.0] * 2,
        sex=["male", "female"] * 7,
        localization=SITES * 2,
    )
    model = MetadataModel(train)
    assert model.sites == sorted(SITES)
    x = model.features(_rows(age=[np.nan, 50.0], sex=["unknown", "female"], localization=["unknown", "palm"]))
    # age, age^2, age missing, male, female, then one column per training site
    assert x.shape == (2, 5 + len(SITES))
    np.testing.assert_array_equal(x[0], [0, 0, 1, 0, 0] + [0] * len(SITES))
    np.testing.assert_array_equal(x[1], [0, 0, 0, 0, 1] + [0] * len(SITES))  # an unseen site: zeros
    probs = model.probabilities(_rows(age=[50.0], sex=["male"], localization=["face"]))
    assert probs.shape == (1, 7) and probs.sum() == pytest.approx(1.0)


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
        [sys.executable, "-m", "skinlesion.training.metadata_prior", str(run), "--split",
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
