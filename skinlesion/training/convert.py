"""Keras model -> TFLite bytes, the check that the conversion kept the model, and the model card.

The serving side reads only the `.tflite` and its card, so the card carries everything it
needs to reproduce the training-time input (the `PreprocessSpec`) and to label the outputs.
"""

import json
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from skinlesion.classes import CLASS_CODES, CLASS_NAMES
from skinlesion.preprocessing import PreprocessSpec

QUANTIZATIONS = ("none", "dynamic", "float16", "int8")
MODEL_NAME = "skin-lesion-class"
MODEL_VERSION = "2.0.0"  # of the recipe that `train.py`'s defaults run; written into the card
LICENCE = (
    "Trained on HAM10000 (Tschandl, Rosendahl & Kittler, Sci. Data 5, 180161, 2018), distributed under "
    "CC BY-NC-SA 4.0: this model inherits its terms and may be used and shared for non-commercial "
    "purposes only, with attribution, under the same licence."
)
INTENDED_USE = (
    "Decision support for clinicians looking at dermatoscopic images of pigmented skin lesions: a second "
    "opinion over the 7 HAM10000 diagnoses. Not a diagnosis, not for use by patients on their own, and not "
    "validated on clinical (non-dermatoscopic) photos, other populations or other devices."
)


def keras_to_tflite(
    model: keras.Model, quantize: str = "none", representative: np.ndarray | None = None
) -> bytes:
    """Convert; `quantize` is none | dynamic | float16 | int8 (int8 needs `representative` inputs).

    int8 quantizes weights and activations but keeps float32 input and output, so the model
    card's contract (preprocessed float input, probabilities out) holds for every variant.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("int8 quantization needs representative preprocessed inputs")
        converter.representative_dataset = lambda: ([x[None].astype(np.float32)] for x in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def tflite_predict(tflite: bytes, x: np.ndarray, num_threads: int = 2) -> np.ndarray:
    """Probabilities for a batch, one image at a time as the Lambda runs it."""
    interpreter = Interpreter(model_content=tflite, num_threads=num_threads)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    probs = []
    for image in x:
        interpreter.set_tensor(inp["index"], image[None].astype(np.float32))
        interpreter.invoke()
        probs.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(probs)


def tflite_latency_ms(tflite: bytes, x: np.ndarray, repeats: int = 50, num_threads: int = 2) -> float:
    """Median batch-1 inference time after a warm-up."""
    interpreter = Interpreter(model_content=tflite, num_threads=num_threads)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    interpreter.set_tensor(inp["index"], x[:1].astype(np.float32))
    interpreter.invoke()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def agreement(keras_probs: np.ndarray, tflite_probs: np.ndarray) -> dict[str, float]:
    return {
        "max_abs_diff": float(np.abs(keras_probs - tflite_probs).max()),
        "top1_agreement": float((keras_probs.argmax(1) == tflite_probs.argmax(1)).mean()),
        "n_images": len(keras_probs),
    }


def model_card(version: str, spec: PreprocessSpec, **details: Any) -> dict[str, Any]:
    """The card's fixed part (what serving relies on) plus free-form `details` (training, metrics...)."""
    return {
        "name": MODEL_NAME,
        "version": version,
        "classes": [{"code": code, "name": CLASS_NAMES[code]} for code in CLASS_CODES],
        "input": {
            "dtype": "float32",
            "shape": [1, spec.input_size[1], spec.input_size[0], 3],
            "layout": "NHWC",
        },
        "output": "probabilities",
        "preprocessing": spec.to_card(),
        "licence": LICENCE,
        "intended_use": INTENDED_USE,
        **details,
    }


def write_card(path: Path, version: str, spec: PreprocessSpec, **details: Any) -> dict[str, Any]:
    """Write the model card JSON (UTF-8, indented) and return it."""
    card = model_card(version, spec, **details)
    Path(path).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return card
