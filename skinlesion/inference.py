"""A `.tflite` classifier and its model card, loaded once: resized uint8 pixels in, probabilities
(calibrated as the card says), class activation maps and an out-of-distribution check out.

This is the one TFLite inference loop of the project: conversion checks and evaluation run the
converted file through it too, so they measure exactly what the Lambda serves. The shipped graph
scales its uint8 input itself (`conversion/serving_graph.py`); for a graph with a float input
(older or test models) the card's scaling is applied here. Outputs are told apart by shape:
(1, classes) probabilities, (1, h, w, classes) maps, (1, 1) the score, (1, 2) the texture
statistics, (1, d) pooled features (in the graph that conversion fits the score on).
"""

import hashlib
import importlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skinlesion.contract import ModelInfo
from skinlesion.image.preprocessing import Preprocessor
from skinlesion.metadata import Patient
from skinlesion.model_card import ModelCard, card_path
from skinlesion.temperature import calibrate

# The maintained runtime first; the others only where that is what the image has.
RUNTIMES = (
    ("ai_edge_litert.interpreter", "Interpreter"),
    ("tflite_runtime.interpreter", "Interpreter"),
    ("tensorflow.lite", "Interpreter"),
)


INVOKE_WARMUP = 5  # invokes before timing starts: the first ones pay for XNNPACK's weight packing


def median_invoke_ms(interpreter: Any, invokes: int, warmup: int = INVOKE_WARMUP) -> float:
    """Median milliseconds of `invokes` invokes of an interpreter whose inputs are set, after
    `warmup` untimed ones: the one timing loop of conversion checks and benchmarks."""
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(invokes):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


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


def ood_reasons(score: float, texture: np.ndarray, check: dict) -> list[str]:
    """Which of the card's out-of-distribution checks the input fails (empty: none), from the
    graph's score and (contrast, roughness)."""
    contrast, roughness = (float(v) for v in texture)
    reasons = []
    if score > check["threshold"]:
        reasons.append("it does not look like a dermoscopy image to the detector")
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


def shifted(pixels: np.ndarray, down: int, right: int) -> np.ndarray:
    """(H, W, 3) pixels moved up by `down` rows and left by `right` columns, the last row and
    column repeated into the gap: the network's cells then sit that much lower and further right
    on the original image."""
    padded = np.pad(pixels, ((0, down), (0, right), (0, 0)), mode="edge")
    return padded[down:, right:]


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
        elif shape == (2,):
            roles["texture"] = output["index"]
        else:
            roles["pooled_features"] = output["index"]
    return roles


class LesionModel:
    """A loaded classifier: one interpreter per process, reused by every request."""

    def __init__(self, content: bytes, card: ModelCard, num_threads: int | None = None) -> None:
        self.card = card
        self.metadata = card.metadata_evidence  # None: the model takes no age, sex or site
        self.sha256 = hashlib.sha256(content).hexdigest()
        self.interpreter = interpreter_class()(model_content=content, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        # The shipped graph takes uint8 pixels; a float graph gets the card's scaling here.
        self._scale = (
            None if self._input["dtype"] == np.uint8 else Preprocessor(card.preprocessing).preprocess
        )
        self._outputs = _outputs_by_role(self.interpreter.get_output_details(), len(card.classes))
        width, height = card.preprocessing.input_size
        expected = (height, width, 3)
        if tuple(self._input["shape"][1:]) != expected:
            raise ValueError(f"the model's input {self._input['shape']} is not the card's {expected}")
        if "probabilities" not in self._outputs:
            raise ValueError(f"the model has no output of {len(card.classes)} probabilities")
        if card.ood is not None and not {"ood_score", "texture"} <= set(self._outputs):
            raise ValueError(
                "the card has out-of-distribution checks but the model no score or texture output"
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

    @property
    def explains(self) -> bool:
        return "cam" in self._outputs

    def _set_input(self, pixels: np.ndarray) -> None:
        """Resized uint8 (H, W, 3) or (1, H, W, 3) pixels into the input, scaled if the graph
        takes floats."""
        batch = pixels.reshape(1, *pixels.shape[-3:])
        if self._scale is not None:
            batch = self._scale(batch)
        self.interpreter.set_tensor(self._input["index"], batch.astype(self._input["dtype"], copy=False))

    def _invoke(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of one invoke on resized uint8 pixels; the probabilities as the graph
        gives them (not calibrated), renormalised."""
        self._set_input(pixels)
        self.interpreter.invoke()
        out = {role: self.interpreter.get_tensor(index)[0] for role, index in self._outputs.items()}
        raw = out["probabilities"].astype(np.float64).clip(0.0, None)
        total = raw.sum()
        if not np.isfinite(total) or total <= 0:
            raise ValueError("the model produced no usable probabilities")
        out["probabilities"] = raw / total
        return out

    def latency_ms(self, pixels: np.ndarray, invokes: int = 50) -> float:
        """Median milliseconds of one invoke on these resized uint8 pixels (`median_invoke_ms`)."""
        self._set_input(pixels)
        return median_invoke_ms(self.interpreter, invokes)

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Uncalibrated probabilities (n, classes) for resized uint8 (n, H, W, 3) images, one
        invoke per image as the Lambda runs them (a batched invoke measured slower per image on
        one thread: docs/results.md): what calibration is fitted on."""
        return self.predict_outputs(pixels)["probabilities"]

    def predict_outputs(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """Every output for resized uint8 (n, H, W, 3) images, stacked by role."""
        rows = [self._invoke(image) for image in pixels]
        return {role: np.stack([row[role] for row in rows]) for role in self._outputs}

    def fine_cam(self, pixels: np.ndarray, cam: np.ndarray) -> np.ndarray:
        """The class activation maps at twice the resolution, (2h, 2w, classes), by shift and
        stitch: the network invoked on the image moved by half a cell down, right and both, each
        map's cells interleaved between those of `cam` (the unshifted image's, from `run`). Every
        value is the served network's exact map at that position, for three more invokes; a 6x8
        map says little more than "the middle", the 12x16 one follows the lesion
        (docs/results.md)."""
        rows, cols, n_classes = cam.shape
        height, width = pixels.shape[-3:-1]
        step_down, step_right = height // (2 * rows), width // (2 * cols)
        fine = np.empty((2 * rows, 2 * cols, n_classes), dtype=np.float32)
        fine[0::2, 0::2] = cam
        for down, right in ((1, 0), (0, 1), (1, 1)):
            moved = shifted(pixels.reshape(pixels.shape[-3:]), down * step_down, right * step_right)
            fine[down::2, right::2] = self._invoke(moved)["cam"]
        return fine

    def run(self, pixels: np.ndarray, patient: Patient | None = None) -> Outputs:
        """What the service answers from, for one resized uint8 image: calibrated probabilities
        (with the patient's metadata as evidence, when given), the maps and the out-of-distribution
        check."""
        out = self._invoke(pixels)
        score = None if "ood_score" not in out else float(out["ood_score"][0])
        check = self.card.ood
        if patient is not None and patient.given:
            if self.metadata is None:
                raise ValueError("this model's card has no metadata model")
            probabilities = self.metadata.fuse(out["probabilities"][None], [patient])[0]
        else:
            probabilities = calibrate(out["probabilities"], self.card.temperature)
        return Outputs(
            probabilities=probabilities,
            cam=out.get("cam"),
            ood_score=score,
            ood_reasons=None if check is None else ood_reasons(score, out["texture"], check),
        )
