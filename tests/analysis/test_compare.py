"""`python -m skinlesion.analysis.compare`: two models or runs, the same validation lesions, paired."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from skinlesion.analysis.compare import probabilities
from skinlesion.classes import CLASS_CODES
from skinlesion.dataset import labels, lesion_split, load_metadata, write_split
from skinlesion.image.preprocessing import PreprocessSpec
from skinlesion.model_card import ModelCard, card_path
from skinlesion.paths import RUN_BEST_MODEL_FILE, RUN_SPLIT_FILE, RUN_SUMMARY_FILE, RUN_VAL_PROBABILITIES_FILE
from tests.support.datasets import write_tiny_extra

REPO = Path(__file__).resolve().parents[2]


def test_a_model_compared_with_itself_differs_by_nothing(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    split = tmp_path / "split.csv"
    write_split(lesion_split(load_metadata(tiny_dataset), 0.4, seed=0), split)
    out = tmp_path / "comparison.json"
    done = subprocess.run(
        [sys.executable, "-m", "skinlesion.analysis.compare", str(tiny_model), str(tiny_model),
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


def _compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "skinlesion.analysis.compare", *args, "--n-boot", "50"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_run_folder_compares_by_its_saved_validation_probabilities(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    """A run folder holding the model's own probabilities matches the model; another split is refused."""
    run = tmp_path / "run"
    run.mkdir()
    split = lesion_split(load_metadata(tiny_dataset), 0.4, seed=0)
    write_split(split, run / RUN_SPLIT_FILE)
    meta = load_metadata(tiny_dataset).merge(split[["image_id", "split"]], on="image_id")
    np.save(run / RUN_VAL_PROBABILITIES_FILE, probabilities(tiny_model, meta[meta["split"] == "val"]))

    out = tmp_path / "comparison.json"
    same = _compare(str(run), str(tiny_model), "--split", str(run / RUN_SPLIT_FILE),
                    "--data-dir", str(tiny_dataset), "--json", str(out))  # fmt: skip
    assert same.returncode == 0, same.stderr[-3000:]
    assert all(r["a"] == r["b"] and r["difference"] == 0 for r in json.loads(out.read_text()).values())

    other = tmp_path / "other.csv"
    write_split(lesion_split(load_metadata(tiny_dataset), 0.4, seed=1), other)
    refused = _compare(str(run), str(tiny_model), "--split", str(other), "--data-dir", str(tiny_dataset))
    assert refused.returncode != 0 and "validated on other images" in refused.stderr


def test_several_candidates_are_scored_as_the_mean_of_their_probabilities(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    split = lesion_split(load_metadata(tiny_dataset), 0.4, seed=0)
    meta = load_metadata(tiny_dataset).merge(split[["image_id", "split"]], on="image_id")
    val = meta[meta["split"] == "val"]
    model_probs = probabilities(tiny_model, val)
    other_probs = np.random.default_rng(0).dirichlet(np.ones(7), size=len(val))
    other = tmp_path / "other-run"
    other.mkdir()
    write_split(split, other / RUN_SPLIT_FILE)
    np.save(other / RUN_VAL_PROBABILITIES_FILE, other_probs)

    out = tmp_path / "comparison.json"
    done = _compare(str(tiny_model), str(tiny_model), str(other), "--split", str(other / RUN_SPLIT_FILE),
                    "--data-dir", str(tiny_dataset), "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"B = {tiny_model.name} + other-run" in done.stdout
    ensemble = (model_probs + other_probs) / 2
    expected = balanced_accuracy_score(labels(val["dx"]), ensemble.argmax(axis=1))
    assert json.loads(out.read_text())["balanced_accuracy"]["b"] == pytest.approx(expected)


def test_images_of_a_labelled_folder_score_a_model_and_a_run_checkpoint_alike(tmp_path: Path) -> None:
    """--images: a .tflite and a run folder holding the same network in Keras (its best checkpoint,
    run on those images since no probabilities were saved for them) agree; intervals are by image."""
    import keras

    from skinlesion.conversion.tflite import keras_to_tflite

    keras.utils.set_random_seed(3)
    inputs = keras.Input((48, 64, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    network = keras.Model(inputs, keras.layers.Dense(len(CLASS_CODES), activation="softmax")(x))
    spec = PreprocessSpec(input_size=(64, 48))
    tflite = tmp_path / "net.tflite"
    tflite.write_bytes(keras_to_tflite(network))
    ModelCard(spec, name="net", version="0.0.1").write(card_path(tflite))
    run = tmp_path / "run"
    run.mkdir()
    network.save(run / RUN_BEST_MODEL_FILE)
    (run / RUN_SUMMARY_FILE).write_text(json.dumps({"preprocessing": spec.to_card()}))
    images = write_tiny_extra(tmp_path / "clinic", per_class=4)

    out = tmp_path / "comparison.json"
    done = _compare(str(tflite), str(run), "--images", str(images), "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"28 images of {images}" in done.stdout and "intervals by image" in done.stdout
    result = json.loads(out.read_text())
    assert result["balanced_accuracy"]["b"] == pytest.approx(result["balanced_accuracy"]["a"], abs=1e-9)
    assert result["macro_roc_auc"]["b"] == pytest.approx(result["macro_roc_auc"]["a"], abs=1e-3)
