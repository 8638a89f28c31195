"""Keras model -> TFLite bytes in each quantization mode, and its single-image latency."""

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from skinlesion.serving.model import median_invoke_ms

QUANTIZATIONS = ("none", "dynamic", "float16", "int8")


def keras_to_tflite(
    model: keras.Model, quantize: str = "none", representative: np.ndarray | None = None
) -> bytes:
    """Convert; `quantize` is none | dynamic | float16 | int8 (int8 needs `representative` inputs).

    int8 quantizes weights and activations but keeps the graph's own input type (uint8 pixels
    for the served graph) and float32 outputs, so serving reads every variant the same way.
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
            raise ValueError("int8 quantization needs representative inputs")
        converter.representative_dataset = lambda: ([x[None]] for x in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def tflite_latency_ms(tflite: bytes, x: np.ndarray, repeats: int = 50, num_threads: int = 2) -> float:
    """Median batch-1 inference time of the first image of `x`, after a warm-up."""
    interpreter = Interpreter(model_content=tflite, num_threads=num_threads)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    interpreter.set_tensor(inp["index"], x[:1].astype(inp["dtype"]))
    return median_invoke_ms(interpreter, repeats)
