"""Trained `.h5`/`.keras` -> checked `.tflite` + model card, as `convert_model.py` runs it.

The check runs the Keras model and the converted model on the real validation images of the
recorded split, so the card's figures are those of the file that is shipped.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.model_card import MODEL_VERSION, ModelCard, card_path, new_card
from skinlesion.serving.model import LesionModel
from skinlesion.training import data
from skinlesion.training.evaluate import evaluate, format_report
from skinlesion.training.tflite import keras_to_tflite, tflite_latency_ms


@dataclass
class ExportConfig:
    model: Path
    out: Path
    summary: Path
    split: Path
    data_dir: Path
    quantize: str = "none"
    version: str = MODEL_VERSION
    check_images: int = 0  # 0: every validation image
    representative_images: int = 200


def _images(
    meta_split: pd.DataFrame, part: str, limit: int, spec: PreprocessSpec, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Preprocessed images, labels and lesion ids of one side of the split, optionally a random subset."""
    rows = meta_split[meta_split["split"] == part]
    if 0 < limit < len(rows):
        rows = rows.sample(limit, random_state=seed)
    preprocessor = Preprocessor(spec)
    x = preprocessor.preprocess(data.load_images(list(rows["path"]), preprocessor, part))
    return x, data.labels(rows["dx"]), rows["lesion_id"].to_numpy()


def agreement(keras_probs: np.ndarray, tflite_probs: np.ndarray) -> dict[str, float]:
    return {
        "max_abs_diff": float(np.abs(keras_probs - tflite_probs).max()),
        "top1_agreement": float((keras_probs.argmax(1) == tflite_probs.argmax(1)).mean()),
        "n_images": len(keras_probs),
    }


def export(config: ExportConfig) -> ModelCard:
    """Convert, check against Keras on validation images, write the `.tflite` and its card."""
    summary = json.loads(config.summary.read_text())
    spec = PreprocessSpec.from_card(summary["preprocessing"])
    model = keras.models.load_model(config.model, compile=False)
    meta = data.load_metadata(config.data_dir).merge(data.read_split(config.split), on="image_id")
    x_val, y_val, lesions = _images(meta, "val", config.check_images, spec, seed=0)
    representative = None
    if config.quantize == "int8":
        representative, _, _ = _images(meta, "train", config.representative_images, spec, seed=0)

    tflite = keras_to_tflite(model, config.quantize, representative)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    config.out.write_bytes(tflite)

    keras_probs = model.predict(x_val, batch_size=32, verbose=1)
    tflite_probs = LesionModel(tflite, ModelCard(spec), num_threads=2).predict(x_val)
    tflite_metrics = evaluate(y_val, tflite_probs, groups=lesions)
    check = {
        "quantize": config.quantize,
        "file": config.out.name,
        "file_size_bytes": len(tflite),
        **agreement(keras_probs, tflite_probs),
        "keras_balanced_accuracy": evaluate(y_val, keras_probs, n_boot=0)["balanced_accuracy"],
        "tflite_validation_metrics": tflite_metrics,
        "latency_ms_batch1_2_threads": tflite_latency_ms(tflite, x_val),
    }
    print(
        f"{config.out}: {len(tflite) / 1e6:.2f} MB, quantize={config.quantize}\n"
        f"TFLite vs Keras on {check['n_images']} validation images: "
        f"max |diff| {check['max_abs_diff']:.2e}, top-1 agreement {check['top1_agreement']:.4f}; "
        f"latency {check['latency_ms_batch1_2_threads']:.1f} ms\n"
        f"Keras balanced accuracy {check['keras_balanced_accuracy']:.4f}; "
        f"TFLite:\n{format_report(tflite_metrics)}"
    )
    card = new_card(
        spec,
        config.version,
        architecture=summary["architecture"],
        training_data={**summary["training_data"], "split_file": config.split.name},
        validation_metrics=summary["validation_metrics"],
        conversion_check=check,
        training_wall_time_s=summary["wall_time_s"],
    )
    card.write(card_path(config.out))
    print(f"model card: {card_path(config.out)}")
    return card
