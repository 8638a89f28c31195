"""The serving variants compared, named once: the table, the targets and the plot find rows by
these names."""

SHIPPED, QUANTIZED, KERAS, ONNX = (
    "TFLite float32 (shipped)",
    "TFLite dynamic-range",
    "Keras model(x)",
    "onnxruntime",
)
HANDLER = "whole handler, float32"
