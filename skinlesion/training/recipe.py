"""The whole training recipe, start to finish, writing everything into one run folder.

split -> backbone -> cached features -> head (phase 1) -> fine-tuning (phase 2) -> the best
checkpoint evaluated on the lesion-aware validation split -> `training_summary.json`, which
`convert_model.py` turns into the model card.
"""

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from skinlesion.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.training import data
from skinlesion.training.backbone import load_backbone
from skinlesion.training.evaluate import evaluate, format_report, plot_confusion, plot_history
from skinlesion.training.fit import (
    ImageBatches,
    augmentation,
    backbone_features,
    class_weights,
    fine_tune,
    fit_head,
)
from skinlesion.training.model import build_classifier

SUMMARY_FILE = "training_summary.json"
SPLIT_FILE = "split.csv"


@dataclass
class TrainConfig:
    data_dir: Path
    out_dir: Path
    weights: str = "imagenet"
    input_size: tuple[int, int] = (200, 150)  # HAM10000 as distributed here: no upsampling
    inner_size: int = 256
    dropout: float = 0.5
    learning_rate: float = 3e-4
    epochs: int = 30
    batch_size: int = 32
    fine_tune_from: str = "block_12"
    fine_tune_epochs: int = 6
    fine_tune_learning_rate: float = 5e-5
    val_fraction: float = 0.2
    split: Path | None = None
    max_images_per_class: int = 0  # 0: all; else a lesion-wise subset, for quick runs
    seed: int = 42


def _split(config: TrainConfig, meta: pd.DataFrame) -> pd.DataFrame:
    if config.split is not None:
        split = data.read_split(config.split)
        if set(split["image_id"]) != set(meta["image_id"]):
            raise ValueError(f"{config.split} does not list exactly the images of {config.data_dir}")
        return meta[["image_id", "lesion_id", "dx"]].merge(split, on="image_id")
    return data.lesion_split(meta, config.val_fraction, config.seed)


def run(config: TrainConfig) -> dict:
    """Train, evaluate, write the run folder; returns the summary."""
    started = time.monotonic()
    keras.utils.set_random_seed(config.seed)
    run_dir = config.out_dir
    run_dir.mkdir(parents=True, exist_ok=True)

    meta = data.load_metadata(config.data_dir)
    if config.max_images_per_class > 0:
        meta = data.subsample_lesions(meta, config.max_images_per_class, config.seed)
    split = _split(config, meta)
    data.write_split(split, run_dir / SPLIT_FILE)
    meta = meta.merge(split[["image_id", "split"]], on="image_id")
    train, val = meta[meta["split"] == "train"], meta[meta["split"] == "val"]
    y_train, y_val = data.labels(train["dx"]), data.labels(val["dx"])
    print(
        f"split by lesion_id: {len(train)} train / {len(val)} validation images, "
        f"{train['lesion_id'].nunique()} / {val['lesion_id'].nunique()} lesions"
    )

    backbone = load_backbone(config.weights, config.input_size)
    spec = PreprocessSpec(input_size=config.input_size, resize="bilinear", scaling=backbone.scaling)
    preprocessor = Preprocessor(spec)
    print(f"backbone weights: {backbone.weights}; preprocessing {spec.to_card()}")
    x_train = data.load_images(list(train["path"]), preprocessor, "train")
    x_val = data.load_images(list(val["path"]), preprocessor, "validation")
    timings = {"load_s": time.monotonic() - started}

    phase = time.monotonic()
    f_train = backbone_features(backbone.model, x_train, preprocessor, config.batch_size)
    f_val = backbone_features(backbone.model, x_val, preprocessor, config.batch_size)
    timings["features_s"] = time.monotonic() - phase

    phase = time.monotonic()
    clf = build_classifier(backbone.model, config.inner_size, config.dropout)
    history: list[dict] = []
    result = fit_head(
        clf,
        f_train,
        y_train,
        f_val,
        y_val,
        config.epochs,
        config.learning_rate,
        config.batch_size,
        run_dir,
        history,
    )
    timings["head_s"] = time.monotonic() - phase
    best_path, best_score = result.best_path, result.best_score

    if config.fine_tune_epochs > 0:
        phase = time.monotonic()
        clf.full.load_weights(best_path)  # fine-tune from the best head, not the last one
        batches = ImageBatches(
            x_train,
            preprocessor,
            config.batch_size,
            y_train,
            weights=class_weights(y_train),
            augment=augmentation(config.seed),
            seed=config.seed,
        )
        val_batches = ImageBatches(x_val, preprocessor, config.batch_size)
        tuned = fine_tune(
            clf,
            batches,
            val_batches,
            y_val,
            config.fine_tune_from,
            config.fine_tune_epochs,
            config.fine_tune_learning_rate,
            run_dir,
            epoch_offset=config.epochs,
            best=best_score,
            history=history,
        )
        timings["fine_tune_s"] = time.monotonic() - phase
        if tuned.best_path is not None:
            best_path, best_score = tuned.best_path, tuned.best_score

    best = keras.models.load_model(best_path)
    probs = best.predict(ImageBatches(x_val, preprocessor, config.batch_size), verbose=0)
    metrics = evaluate(y_val, probs)
    print(f"best checkpoint {best_path.name}\n{format_report(metrics)}")
    timings["total_s"] = time.monotonic() - started

    shutil.copyfile(best_path, run_dir / "best.h5")
    plot_history(history, run_dir / "training_curves.png")
    plot_confusion(metrics, run_dir / "confusion_matrix.png")
    (run_dir / "history.json").write_text(json.dumps(history, indent=1))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    np.save(run_dir / "val_probabilities.npy", probs)
    summary = {
        "best_checkpoint": best_path.name,
        "preprocessing": spec.to_card(),
        "architecture": _architecture(config, backbone.weights),
        "training_data": _data_description(config, train, val),
        "validation_metrics": metrics,
        "wall_time_s": {k: round(v, 1) for k, v in timings.items()},
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
    }
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
    print(f"run folder: {run_dir}  (wall time {timings['total_s'] / 60:.1f} min)")
    return summary


def _architecture(config: TrainConfig, weights: str) -> dict:
    return {
        "backbone": "MobileNetV2 (alpha 1.0, keras.applications), global average pooling",
        "backbone_weights": weights,
        "head": (
            f"dropout {config.dropout}, dense {config.inner_size} ReLU, dropout {config.dropout}, "
            if config.inner_size > 0
            else f"dropout {config.dropout}, "
        )
        + "dense 7 softmax",
        "training": (
            f"phase 1: head on cached frozen-backbone features, {config.epochs} epochs, Adam "
            f"{config.learning_rate}; phase 2: fine-tuning from {config.fine_tune_from} (BatchNorm frozen), "
            f"{config.fine_tune_epochs} epochs, Adam {config.fine_tune_learning_rate} after a half-epoch "
            "warm-up, cosine decay, "
            "flips, rotations, zoom, brightness/contrast; class-balanced loss weights; "
            "best epoch by validation balanced accuracy"
        ),
    }


def _data_description(config: TrainConfig, train: pd.DataFrame, val: pd.DataFrame) -> dict:
    return {
        "dataset": "HAM10000 training set (10,015 dermatoscopic images, 7 diagnoses)",
        "split": (
            f"by lesion_id (no lesion on both sides), stratified by dx, "
            f"{'from ' + config.split.name if config.split else f'seed {config.seed}'}: "
            f"{len(train)} train / {len(val)} validation images"
        ),
        "train_images": len(train),
        "validation_images": len(val),
        "validation_class_counts": val["dx"].value_counts().to_dict(),
    }
