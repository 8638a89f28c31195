"""Load a `.tflite` classifier and its model card once, and turn tensors into probabilities."""

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skinlesion.classes import CLASS_CODES, CLASS_NAMES
from skinlesion.preprocessing import PreprocessSpec

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


def card_path_for(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


@dataclass(frozen=True)
class ModelCard:
    """What serving needs from the card; the card itself holds much more for people."""

    name: str
    version: str
    classes: tuple[str, ...]
    preprocessing: PreprocessSpec
    output: str = "probabilities"

    @classmethod
    def read(cls, path: Path) -> "ModelCard":
        card = json.loads(path.read_text())
        classes = tuple(entry["code"] for entry in card["classes"])
        if sorted(classes) != sorted(CLASS_CODES):
            raise ValueError(f"{path}: the model's classes {classes} are not the 7 HAM10000 codes")
        output = card.get("output", "probabilities")
        if output not in ("probabilities", "logits"):
            raise ValueError(f"{path}: output must be 'probabilities' or 'logits', not {output!r}")
        return cls(
            name=str(card["name"]),
            version=str(card["version"]),
            classes=classes,
            preprocessing=PreprocessSpec.from_card(card["preprocessing"]),
            output=output,
        )


class LesionModel:
    """A loaded classifier: one interpreter per process, reused by every request."""

    def __init__(self, model_path: Path, num_threads: int | None = None) -> None:
        model_path = Path(model_path)
        if not model_path.is_file():
            raise FileNotFoundError(f"model file not found: {model_path} (set MODEL_PATH)")
        self.card = ModelCard.read(card_path_for(model_path))
        content = model_path.read_bytes()
        self.sha256 = hashlib.sha256(content).hexdigest()
        self.interpreter = interpreter_class()(model_content=content, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        width, height = self.card.preprocessing.input_size
        expected = (height, width, 3)
        if tuple(self._input["shape"][1:]) != expected:
            raise ValueError(
                f"{model_path}: input shape {self._input['shape']} does not match the card {expected}"
            )
        if self._output["shape"][-1] != len(self.card.classes):
            raise ValueError(
                f"{model_path}: {self._output['shape'][-1]} outputs for {len(self.card.classes)} classes"
            )

    @property
    def info(self) -> dict[str, str]:
        return {"name": self.card.name, "version": self.card.version, "sha256": self.sha256[:12]}

    def probabilities(self, tensor: np.ndarray) -> dict[str, float]:
        """Class code -> probability for one preprocessed (1, H, W, 3) tensor; sums to 1."""
        self.interpreter.set_tensor(self._input["index"], tensor.astype(self._input["dtype"], copy=False))
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self._output["index"])[0].astype(np.float64)
        if self.card.output == "logits":
            raw = np.exp(raw - raw.max())
        raw = np.clip(raw, 0.0, None)
        total = raw.sum()
        if not np.isfinite(total) or total <= 0:
            raise ValueError("the model produced no usable probabilities")
        return {code: float(p) for code, p in zip(self.card.classes, raw / total, strict=True)}


def prediction_payload(probabilities: dict[str, float], model_info: dict[str, Any]) -> dict[str, Any]:
    """The response contract: top class, its name, every class's probability, the model."""
    top = max(probabilities, key=probabilities.__getitem__)
    ordered = {code: probabilities[code] for code in CLASS_CODES}
    return {"prediction": top, "label": CLASS_NAMES[top], "probabilities": ordered, "model": model_info}
