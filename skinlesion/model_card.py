"""The model card: one schema, written by conversion, read by serving and built by the test fixtures.

A card is the JSON file beside a `.tflite` (same name, `.json`). Serving relies on the typed
fields (classes, preprocessing); everything else (licence, intended use, architecture, training
data, metrics, the conversion check) is there for people and travels in `details` untouched.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skinlesion.classes import CLASS_CODES, CLASS_NAMES
from skinlesion.image.preprocessing import PreprocessSpec
from skinlesion.metadata import MetadataEvidence

# Bumped whenever a field that serving reads changes meaning; serving refuses other versions.
SCHEMA_VERSION = 2
MODEL_NAME = "skin-lesion-class"
# The recipe of `train.py`'s defaults; 2.1: the served graph takes uint8 pixels; 2.2: no label smoothing;
# 2.2.1: the same network, its card saying the training images' size that larger photos are reduced to.
# 2.3.1: 2.3's network, its card saying the JPEG quality a reduced photo is compressed at
# (source_jpeg_quality). 2.4.0: 2.3.1's network, its card adding p(diagnosis | age, sex, site) with the
# fused answers' temperature and alerts (`metadata`). 2.5.0: the same network and answers; the
# out-of-distribution score is a detector of "not dermoscopy" trained on photos and their crops.
# 3.0.0: 2.3.1's network continued for 2 epochs on HAM10000 and ISIC 2019's 15,284 other images
# (`--init-from --extra-data --prior-by-source`, docs/training.md), so not train.py's defaults.
MODEL_VERSION = "3.0.0"
LICENCE = (
    "Trained on HAM10000 (Tschandl, Rosendahl & Kittler, Sci. Data 5, 180161, 2018), distributed under "
    "CC BY-NC-SA 4.0: this model inherits its terms and may be used and shared for non-commercial "
    "purposes only, with attribution, under the same licence."
)
EXTRA_DATA_LICENCE = (
    " Also trained on the ISIC 2019 Challenge training images that are not HAM10000 (BCN_20000, Hospital "
    "Clinic Barcelona: Combalia et al., arXiv:1908.02288, 2019; MSK, Memorial Sloan Kettering, including the "
    "ISIC 2017 challenge set: Codella et al., arXiv:1710.05006), distributed under CC BY-NC 4.0 "
    "(non-commercial, with attribution); their SCC labels are folded into akiec. Non-commercial use only."
)


def licence(training_data: dict[str, Any]) -> str:
    """The licence section: HAM10000's terms, and ISIC 2019's where the run trained on its images."""
    return LICENCE + (EXTRA_DATA_LICENCE if _saw_extra_data(training_data) else "")


def _saw_extra_data(training_data: dict[str, Any]) -> bool:
    """Whether the run, the run it started from (`initialised_from`) or the out-of-distribution
    detector (`ood_extra_images`) learnt from extra images."""
    started_from = training_data.get("initialised_from")
    seen = training_data.get("extra_train_images") or training_data.get("ood_extra_images")
    return bool(seen) or (isinstance(started_from, dict) and _saw_extra_data(started_from))


INTENDED_USE = (
    "Decision support for clinicians looking at dermatoscopic images of pigmented skin lesions: a second "
    "opinion over the 7 HAM10000 diagnoses. Not a diagnosis, not for use by patients on their own, and not "
    "validated on clinical (non-dermatoscopic) photos, other populations or other devices."
)
_TYPED = (
    "schema_version",
    "name",
    "version",
    "classes",
    "preprocessing",
    "calibration",
    "alerts",
    "ood",
    "metadata",
)
ALERTS = ("melanoma", "malignant")


def _check_alerts(alerts: dict[str, dict[str, Any]]) -> None:
    for name in ALERTS:
        for key in ("threshold", "sensitivity", "specificity"):
            float(alerts[name][key])


def card_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".json")


@dataclass(frozen=True)
class ModelCard:
    preprocessing: PreprocessSpec
    name: str = MODEL_NAME
    version: str = MODEL_VERSION
    classes: tuple[str, ...] = CLASS_CODES  # the order of the model's outputs
    # What serving applies, when conversion measured it (a card without them serves bare probabilities):
    calibration: dict[str, Any] | None = None  # {"temperature": T, ...how it was fitted and its effect}
    alerts: dict[str, dict[str, Any]] | None = None  # melanoma / malignant: {"threshold", "sensitivity", ...}
    ood: dict[str, Any] | None = None  # {"threshold": score above which an image is flagged, ...}
    # The patient's age, sex and site as evidence (skinlesion.metadata): the fitted coefficients, and the
    # temperature and alerts of fused answers, chosen on validation as `calibration` and `alerts` are.
    metadata: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)  # for people; serving ignores it

    def __post_init__(self) -> None:
        if sorted(self.classes) != sorted(CLASS_CODES):
            raise ValueError(f"the model's classes {self.classes} are not the 7 HAM10000 codes")
        clash = set(self.details) & set(_TYPED)
        if clash:
            raise ValueError(f"details cannot redefine the card's typed fields {sorted(clash)}")
        if self.calibration is not None and not float(self.calibration["temperature"]) > 0:
            raise ValueError("the calibration temperature must be positive")
        if self.alerts is not None:
            _check_alerts(self.alerts)
        if self.metadata is not None:
            MetadataEvidence.from_card(self.metadata)
            _check_alerts(self.metadata["alerts"])
        if self.ood is not None:
            float(self.ood["threshold"])
            for key in ("contrast_range", "roughness_range"):
                if len([float(bound) for bound in self.ood[key]]) != 2:
                    raise ValueError(f"ood {key} must be [low, high]")

    @property
    def metadata_evidence(self) -> MetadataEvidence | None:
        return None if self.metadata is None else MetadataEvidence.from_card(self.metadata)

    @property
    def temperature(self) -> float:
        return float(self.calibration["temperature"]) if self.calibration else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "version": self.version,
            "classes": [{"code": code, "name": CLASS_NAMES[code]} for code in self.classes],
            "preprocessing": self.preprocessing.to_card(),
            **{
                key: value
                for key in ("calibration", "alerts", "ood", "metadata")
                if (value := getattr(self, key))
            },
            **self.details,
        }

    @classmethod
    def from_json(cls, card: dict[str, Any]) -> "ModelCard":
        version = card.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"model card schema_version {version!r}; this code reads version {SCHEMA_VERSION} "
                "(re-run convert_model.py to rewrite the card)"
            )
        return cls(
            name=str(card["name"]),
            version=str(card["version"]),
            classes=tuple(entry["code"] for entry in card["classes"]),
            preprocessing=PreprocessSpec.from_card(card["preprocessing"]),
            calibration=card.get("calibration"),
            alerts=card.get("alerts"),
            ood=card.get("ood"),
            metadata=card.get("metadata"),
            details={key: value for key, value in card.items() if key not in _TYPED},
        )

    @classmethod
    def read(cls, path: Path) -> "ModelCard":
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: not a valid model card: {exc}") from exc

    def write(self, path: Path) -> None:
        """UTF-8, indented, so that a diff of two cards reads well."""
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        Path(path).write_text(text, encoding="utf-8")


def new_card(
    preprocessing: PreprocessSpec,
    version: str = MODEL_VERSION,
    answers: dict[str, Any] | None = None,
    **details: Any,
) -> ModelCard:
    """A card for a model this project trained: the licence and intended use come with it;
    `answers` holds the measured calibration, alerts, ood and metadata sections."""
    return ModelCard(
        preprocessing=preprocessing,
        version=version,
        **(answers or {}),
        details={"licence": LICENCE, "intended_use": INTENDED_USE, **details},
    )
