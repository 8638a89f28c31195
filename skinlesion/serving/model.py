"""A `.tflite` classifier and its model card, loaded once: preprocessed tensors in, probabilities out.

This is the one TFLite inference loop of the project: conversion checks and evaluation run the
converted file through it too, so they measure exactly what the Lambda serves.
"""

import hashlib
import importlib
from pathlib import Path

import numpy as np

from skinlesion.contract import ModelInfo
from skinlesion.model_card import ModelCard, card_path

# The maintained runtime first; the others only where that is what the image has.
RUNTIMES = (
    ("ai_edge_litert.interpreter", "Interpreter"),
    ("tflite_runtime.interpreter", "Interpreter"),
    ("tensorflow.lite", "Interpreter"),
)


def interpreter_class() -> type:
    """The first TFLite interpreter class that imports."""
    for module_name, attribute in RUNTIMES:
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except ImportError:
            continue
    raise ImportError("no TFLite runtime: install ai-edge-litert (or tflite-runtime, or tensorflow)")


class LesionModel:
    """A loaded classifier: one interpreter per process, reused by every request."""

    def __init__(self, content: bytes, card: ModelCard, num_threads: int | None = None) -> None:
        self.card = card
        self.sha256 = hashlib.sha256(content).hexdigest()
        self.interpreter = interpreter_class()(model_content=content, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        width, height = card.preprocessing.input_size
        expected = (height, width, 3)
        if tuple(self._input["shape"][1:]) != expected:
            raise ValueError(
                f"the model's input shape {self._input['shape']} does not match the card {expected}"
            )
        if self._output["shape"][-1] != len(card.classes):
            raise ValueError(
                f"the model has {self._output['shape'][-1]} outputs for {len(card.classes)} classes"
            )

    @classmethod
    def load(cls, model_path: Path, num_threads: int | None = None) -> "LesionModel":
        """The `.tflite` file and the card beside it."""
        model_path = Path(model_path)
        if not model_path.is_file():
            raise FileNotFoundError(f"model file not found: {model_path} (set MODEL_PATH)")
        return cls(model_path.read_bytes(), ModelCard.read(card_path(model_path)), num_threads)

    @property
    def info(self) -> ModelInfo:
        return {"name": self.card.name, "version": self.card.version, "sha256": self.sha256[:12]}

    def predict(self, tensors: np.ndarray) -> np.ndarray:
        """Probabilities (n, classes) for preprocessed (n, H, W, 3) tensors, one invoke per image as
        the Lambda runs them; rows sum to 1."""
        rows = []
        for tensor in tensors:
            self.interpreter.set_tensor(
                self._input["index"], tensor[None].astype(self._input["dtype"], copy=False)
            )
            self.interpreter.invoke()
            raw = np.clip(self.interpreter.get_tensor(self._output["index"])[0].astype(np.float64), 0.0, None)
            total = raw.sum()
            if not np.isfinite(total) or total <= 0:
                raise ValueError("the model produced no usable probabilities")
            rows.append(raw / total)
        return np.stack(rows)

    def probabilities(self, tensor: np.ndarray) -> dict[str, float]:
        """Class code -> probability for one preprocessed (1, H, W, 3) tensor."""
        return {code: float(p) for code, p in zip(self.card.classes, self.predict(tensor)[0], strict=True)}
