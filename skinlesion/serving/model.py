"""A `.tflite` classifier and its model card, loaded once: preprocessed tensors in, probabilities
(calibrated as the card says), class activation maps and an out-of-distribution score out.

This is the one TFLite inference loop of the project: conversion checks and evaluation run the
converted file through it too, so they measure exactly what the Lambda serves. Outputs are told
apart by shape: (1, classes) probabilities, (1, h, w, classes) maps, (1, 1) the score, (1, d)
pooled features (in the graph that conversion fits the score on).
"""

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skinlesion.contract import ModelInfo
from skinlesion.image.texture import texture
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


@dataclass(frozen=True)
class Outputs:
    probabilities: np.ndarray  # (classes,), calibrated, sums to 1
    cam: np.ndarray | None  # (h, w, classes): per-position class scores
    ood_score: float | None
    ood_reasons: list[str] | None  # why the input looks unlike dermoscopy; None: the card has no check


def ood_reasons(score: float, tensor: np.ndarray, check: dict) -> list[str]:
    """Which of the card's out-of-distribution checks the input fails (empty: none)."""
    contrast, roughness = texture(tensor)
    reasons = []
    if score > check["threshold"]:
        reasons.append("its features are far from every diagnosis the model learned")
    low, high = check["contrast_range"]
    if not low <= contrast <= high:
        reasons.append("its contrast is " + ("too low (a blank frame?)" if contrast < low else "too high"))
    low, high = check["roughness_range"]
    if not low <= roughness <= high:
        reasons.append(
            "its texture is "
            + ("too smooth (a graphic?)" if roughness < low else "too rough (noise or text?)")
        )
    return reasons


def calibrate(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the same ranking of classes, probabilities that mean what they say."""
    logits = np.log(np.clip(probabilities, 1e-12, None)) / temperature
    scaled = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return scaled / scaled.sum(axis=-1, keepdims=True)


def _outputs_by_role(details: list[dict], n_classes: int) -> dict[str, int]:
    roles = {}
    for output in details:
        shape = tuple(output["shape"][1:])
        if len(shape) == 3 and shape[-1] == n_classes:
            roles["cam"] = output["index"]
        elif shape == (n_classes,):
            roles["probabilities"] = output["index"]
        elif shape == (1,):
            roles["ood_score"] = output["index"]
        else:
            roles["pooled_features"] = output["index"]
    return roles


class LesionModel:
    """A loaded classifier: one interpreter per process, reused by every request."""

    def __init__(self, content: bytes, card: ModelCard, num_threads: int | None = None) -> None:
        self.card = card
        self.sha256 = hashlib.sha256(content).hexdigest()
        self.interpreter = interpreter_class()(model_content=content, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._outputs = _outputs_by_role(self.interpreter.get_output_details(), len(card.classes))
        width, height = card.preprocessing.input_size
        expected = (height, width, 3)
        if tuple(self._input["shape"][1:]) != expected:
            raise ValueError(f"the model's input {self._input['shape']} is not the card's {expected}")
        if "probabilities" not in self._outputs:
            raise ValueError(f"the model has no output of {len(card.classes)} probabilities")
        if card.ood is not None and "ood_score" not in self._outputs:
            raise ValueError("the card has an ood threshold but the model no score output")

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

    @property
    def explains(self) -> bool:
        return "cam" in self._outputs

    def _invoke(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of one invoke on a preprocessed (H, W, 3) or (1, H, W, 3) tensor; the
        probabilities as the graph gives them (not calibrated), renormalised."""
        batch = tensor.reshape(1, *tensor.shape[-3:]).astype(self._input["dtype"], copy=False)
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        out = {role: self.interpreter.get_tensor(index)[0] for role, index in self._outputs.items()}
        raw = out["probabilities"].astype(np.float64).clip(0.0, None)
        total = raw.sum()
        if not np.isfinite(total) or total <= 0:
            raise ValueError("the model produced no usable probabilities")
        out["probabilities"] = raw / total
        return out

    def predict(self, tensors: np.ndarray) -> np.ndarray:
        """Uncalibrated probabilities (n, classes) for preprocessed (n, H, W, 3) tensors, one invoke
        per image as the Lambda runs them: what calibration is fitted on."""
        return self.predict_outputs(tensors)["probabilities"]

    def predict_outputs(self, tensors: np.ndarray) -> dict[str, np.ndarray]:
        """Every output for (n, H, W, 3) tensors, stacked by role."""
        rows = [self._invoke(tensor) for tensor in tensors]
        return {role: np.stack([row[role] for row in rows]) for role in self._outputs}

    def run(self, tensor: np.ndarray) -> Outputs:
        """What the service answers from: calibrated probabilities, the maps and the score."""
        out = self._invoke(tensor)
        score = None if "ood_score" not in out else float(out["ood_score"][0])
        check = self.card.ood
        return Outputs(
            probabilities=calibrate(out["probabilities"], self.card.temperature),
            cam=out.get("cam"),
            ood_score=score,
            ood_reasons=None if score is None or check is None else ood_reasons(score, tensor, check),
        )
