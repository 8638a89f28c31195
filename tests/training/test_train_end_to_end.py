"""train.py -> convert_model.py -> the serving handler, on a tiny generated dataset, in seconds."""

import base64
import itertools
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ai_edge_litert.interpreter import Interpreter

from skinlesion.classes import CLASS_CODES
from skinlesion.dataset import load_metadata
from skinlesion.inference import LesionModel
from skinlesion.metadata import FEATURES
from tests.support.datasets import write_tiny_extra
from tests.test_dataset import assert_no_lesion_crosses

REPO = Path(__file__).resolve().parents[2]
TINY_ARGS = ["--weights", "none", "--input-size", "32", "--head-epochs", "2", "--fine-tune-epochs", "1",
             "--fine-tune-from", "block_15", "--batch-size", "8", "--inner-size", "8"]  # fmt: skip


def run_script(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def tiny_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    run_script("train.py", "--data-dir", str(tiny_dataset), "--out-dir", str(run_dir), *TINY_ARGS)
    return run_dir


@pytest.fixture(scope="module")
def tiny_tflite(tiny_run: Path, tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    extra = write_tiny_extra(tmp_path_factory.mktemp("isic_tiny"))  # the detector's other clinics
    out = run_script(
        "convert_model.py",
        str(tiny_run / "best.h5"),
        "--data-dir",
        str(tiny_dataset),
        "--extra-data",
        str(extra),
    )
    assert "top-1 agreement 1.0000" in out
    return tiny_run / "best.tflite"


def test_train_writes_a_complete_run_folder(tiny_run: Path, tiny_dataset: Path) -> None:
    for name in ("split.csv", "history.json", "metrics.json", "training_curves.png", "confusion_matrix.png",
                 "training_summary.json", "best.h5", "config.json", "state.json"):  # fmt: skip
        assert (tiny_run / name).is_file(), name
    checkpoints = sorted(p.name for p in tiny_run.glob("skin-lesion-class_*.h5"))
    assert checkpoints and all(re.fullmatch(r"skin-lesion-class_\d{2}_\d\.\d{3}\.h5", n) for n in checkpoints)
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["head_epochs"] == 2 and config["fine_tune_from"] == "block_15"  # the resolved config
    history = json.loads((tiny_run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]  # both phases, numbered across them
    split = pd.read_csv(tiny_run / "split.csv").merge(load_metadata(tiny_dataset), on="image_id")
    assert_no_lesion_crosses(split)
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert set(metrics["per_class"]) == set(CLASS_CODES)
    assert metrics["n_images"] == (split["split"] == "val").sum()
    assert metrics["bootstrap"]["unit"] == "lesion"
    assert metrics["bootstrap"]["n_groups"] == split[split["split"] == "val"]["lesion_id"].nunique()


def test_converted_model_gives_probabilities_and_an_ood_score(tiny_tflite: Path) -> None:
    interpreter = Interpreter(model_path=str(tiny_tflite))
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    assert list(inp["shape"]) == [1, 32, 32, 3] and inp["dtype"] == np.uint8  # pixels, scaled in the graph
    # The tiny run's head has an inner layer, so no CAM: probabilities, the score and the texture.
    assert sorted(tuple(o["shape"]) for o in interpreter.get_output_details()) == [(1, 1), (1, 2), (1, 7)]
    model = LesionModel.load(tiny_tflite)
    out = model.run(np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8))
    assert out.probabilities.shape == (len(CLASS_CODES),) and abs(out.probabilities.sum() - 1) < 1e-6
    assert np.isfinite(out.ood_score) and out.cam is None and not model.explains
    card = json.loads(tiny_tflite.with_suffix(".json").read_text())
    assert [c["code"] for c in card["classes"]] == list(CLASS_CODES)
    assert card["preprocessing"] == {
        "input_size": [32, 32],
        "resize": "bilinear",
        "scaling": "torch",
        "source_size": [40, 30],
        "source_jpeg_quality": 90,
        "color_constancy": "shades_of_gray",
    }  # the tiny dataset's images are 40x30 JPEGs at quality 90; Shades of Gray is the recipe's default
    assert card["calibration"]["temperature"] > 0 and card["calibration"]["fitted_on"]["lesions"] > 0
    assert set(card["alerts"]) == {"melanoma", "malignant"}
    assert (
        card["alerts"]["melanoma"]["sensitivity"] >= 0.9
        and card["alerts"]["malignant"]["sensitivity"] >= 0.95
    )
    assert np.isfinite(card["ood"]["threshold"])
    assert set(card["ood"]["flagged_share"]) >= {"photos", "photo crops", "generated"}
    # The detector learnt from the 21 extra images' features, so ISIC 2019's terms are in the licence.
    assert card["training_data"]["ood_extra_images"] == 21 and "ISIC 2019" in card["licence"]
    assert card["metadata"]["features"] == list(FEATURES) and set(card["metadata"]["alerts"]) == {
        "melanoma",
        "malignant",
    }
    assert card["metadata"]["calibration"]["temperature"] > 0


def test_the_handler_serves_the_converted_model(tiny_tflite: Path, tiny_dataset: Path) -> None:
    from skinlesion.serving.config import Settings
    from skinlesion.serving.handler import Service, handle

    image = load_metadata(tiny_dataset)["path"].iloc[0].read_bytes()
    service = Service(Settings(model_path=tiny_tflite))
    response = handle({"image": base64.b64encode(image).decode()}, None, service=service)
    assert set(response["probabilities"]) == set(CLASS_CODES), response
    assert abs(sum(response["probabilities"].values()) - 1) < 1e-3
    assert response["prediction"] in CLASS_CODES
    assert set(response["alerts"]) == {"melanoma", "malignant"} and "flag" in response["out_of_distribution"]
    patient = {"age": 80, "sex": "male", "site": "scalp"}
    fused = handle({"image": base64.b64encode(image).decode(), **patient}, None, service=service)
    assert fused["metadata"] == {"age": 80.0, "sex": "male", "site": "scalp"}
    assert (
        fused["alerts"]["melanoma"]["threshold"]
        == LesionModel.load(tiny_tflite).card.metadata["alerts"]["melanoma"]["threshold"]
    )


def test_a_run_on_reduced_colour_corrected_images_keeps_both_in_the_card(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    """`--source-size` trains on images reduced below the files' own 40x30 and `--color-constancy`
    on colour-corrected ones; conversion must keep both in the card (the size rather than the
    files', and no JPEG step the training images never had), so that serving prepares photos alike."""
    from skinlesion.serving.config import Settings
    from skinlesion.serving.handler import Service

    run_script("train.py", "--data-dir", str(tiny_dataset), "--out-dir", str(tmp_path), *TINY_ARGS,
               "--source-size", "20x15", "--color-constancy", "shades_of_gray",
               "--fine-tune-epochs", "0")  # fmt: skip
    summary = json.loads((tmp_path / "training_summary.json").read_text())
    assert summary["preprocessing"]["source_size"] == [20, 15]
    assert summary["preprocessing"]["color_constancy"] == "shades_of_gray"
    run_script(
        "convert_model.py", str(tmp_path / "best.h5"), "--data-dir", str(tiny_dataset),
        "--extra-data", str(tmp_path / "no-such-folder"),
    )  # fmt: skip
    card = json.loads((tmp_path / "best.json").read_text())
    assert card["preprocessing"]["source_size"] == [20, 15]
    served = Service(Settings(model_path=tmp_path / "best.tflite")).preprocessor.spec
    assert served.color_constancy == "shades_of_gray" and served.source_size == (20, 15)
    assert served.source_jpeg_quality is None  # its training images were reduced, never compressed at 20x15


def test_extra_images_join_the_training_side_only(tiny_dataset: Path, tmp_path: Path) -> None:
    """`--extra-data` adds a folder of images without lesion ids to training, never to validation,
    and `--low-detail` shows some training images at the extra images' detail, `--prior-by-source`
    logit-adjusts each by its own source's classes; all in the summary."""
    extra = write_tiny_extra(tmp_path / "isic2019-84", per_class=3)
    plain, mixed = tmp_path / "plain", tmp_path / "mixed"
    run_script("train.py", "--data-dir", str(tiny_dataset), "--out-dir", str(plain), *TINY_ARGS,
               "--fine-tune-epochs", "0")  # fmt: skip
    run_script("train.py", "--data-dir", str(tiny_dataset), "--out-dir", str(mixed), *TINY_ARGS,
               "--split", str(plain / "split.csv"), "--extra-data", str(extra),
               "--low-detail", "0.5", "--prior-by-source")  # fmt: skip
    before, after = (json.loads((run / "training_summary.json").read_text()) for run in (plain, mixed))
    assert after["training_data"]["train_images"] == before["training_data"]["train_images"] + 21
    assert after["training_data"]["extra_train_images"] == 21
    assert after["training_data"]["extra_train_class_counts"] == dict.fromkeys(CLASS_CODES, 3)
    assert after["training_data"]["validation_images"] == before["training_data"]["validation_images"]
    assert "21 more images from isic2019-84 (12x12, no lesion ids)" in after["training_data"]["dataset"]
    assert "50% of images at the extra images' detail" in after["architecture"]["training"]
    assert "prior per source" in after["architecture"]["training"]
    assert (mixed / "split.csv").read_text() == (plain / "split.csv").read_text()  # HAM10000's rows only

    # The progressive recipe's second stage: HAM10000 alone, from the mixed run's model, no phase 1.
    second = tmp_path / "second"
    out = run_script("train.py", "--data-dir", str(tiny_dataset), "--out-dir", str(second), *TINY_ARGS,
                     "--split", str(plain / "split.csv"), "--init-from", str(mixed / "best.h5"))  # fmt: skip
    assert f"phase 2 starts from {mixed / 'best.h5'}" in out
    assert [h["epoch"] for h in json.loads((second / "history.json").read_text())] == [1]
    summary = json.loads((second / "training_summary.json").read_text())
    assert summary["training_data"]["extra_train_images"] == 0
    assert summary["training_data"]["initialised_from"]["extra_train_images"] == 21
    assert summary["architecture"]["training"].startswith(f"started from {mixed / 'best.h5'} (no phase 1)")

    (extra / "labels.csv").write_text("image,dx\nISIC_9000000.jpg,scc\n")
    refused = subprocess.run(
        [sys.executable, "train.py", "--data-dir", str(tiny_dataset), "--out-dir", str(tmp_path / "bad"),
         *TINY_ARGS, "--extra-data", str(extra)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode != 0 and "diagnoses outside" in refused.stderr


def test_a_recorded_split_is_reused(tiny_run: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    run_script("train.py", "--data-dir", str(tiny_dataset), "--out-dir", str(tmp_path), "--seed", "7",
               "--split", str(tiny_run / "split.csv"), *TINY_ARGS, "--fine-tune-epochs", "0")  # fmt: skip
    assert (tmp_path / "split.csv").read_text() == (tiny_run / "split.csv").read_text()


def test_a_killed_run_resumes_after_its_last_complete_epoch(tiny_dataset: Path, tmp_path: Path) -> None:
    args = ["train.py", "--data-dir", str(tiny_dataset), "--out-dir", str(tmp_path), *TINY_ARGS,
            "--fine-tune-epochs", "6", "--batch-size", "2"]  # fmt: skip
    state_file = tmp_path / "state.json"
    with subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.DEVNULL) as proc:
        deadline = time.monotonic() + 240
        while not state_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill()
    done = json.loads(state_file.read_text())["fine_tune_epochs_done"]
    assert 1 <= done < 6, "the run was not caught mid-way"

    out = run_script("train.py", "--resume", str(tmp_path))
    assert f"resuming after fine-tuning epoch {done} of 6" in out
    numbered = [int(n) for n in re.findall(r"^epoch (\d+):", out, flags=re.MULTILINE)]
    assert numbered == list(range(2 + done + 1, 2 + 6 + 1))  # neither phase 1 nor a done epoch again
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, 2 + 6 + 1))
    # the schedule went on from where it stopped: warm-up over the first epoch, then cosine down to 0
    rates = [h["learning_rate"] for h in history[2:]]
    assert rates[-1] == pytest.approx(0.0, abs=1e-9) and all(a >= b for a, b in itertools.pairwise(rates))
    assert list((tmp_path / "training_state").glob("*.keras")) == [
        tmp_path / "training_state" / "epoch_006.keras"
    ]


def test_a_run_distils_a_teacher_run_and_refuses_one_that_saw_its_validation(
    tiny_run: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    student = tmp_path / "student"
    run_script("train.py", "--data-dir", str(tiny_dataset), "--out-dir", str(student), *TINY_ARGS,
               "--teacher", str(tiny_run), "--distill-weight", "0.7")  # fmt: skip
    teacher = np.load(student / "teacher_probabilities.npy")
    n_train = (pd.read_csv(student / "split.csv")["split"] == "train").sum()
    assert teacher.shape == (n_train, len(CLASS_CODES)) and np.allclose(teacher.sum(axis=1), 1, atol=1e-5)
    config = json.loads((student / "config.json").read_text())
    assert config["teacher"] == [str(tiny_run)] and config["distill_weight"] == 0.7
    summary = json.loads((student / "training_summary.json").read_text())
    assert f"1 teacher model(s) ({tiny_run.name}; weight 0.7)" in summary["architecture"]["training"]

    # A split drawn with another seed puts some of the teacher's training images in validation.
    refused = subprocess.run(
        [sys.executable, "train.py", "--data-dir", str(tiny_dataset), "--out-dir", str(tmp_path / "leaky"),
         *TINY_ARGS, "--seed", "3", "--teacher", str(tiny_run)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode != 0 and "trained on some of this run's validation images" in refused.stderr
