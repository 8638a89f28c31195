"""Keras model -> TFLite bytes in each quantization mode."""

import keras
import numpy as np
import tensorflow as tf

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
