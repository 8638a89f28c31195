"""The patient's age, sex and body site: what a request may say, and how it moves the answer.

A dermatologist knows them for every lesion, and they carry evidence of their own (actinic
keratoses on the faces of the old, dermatofibromas on the legs, nevi in the young). This module
is their one home on both sides: the vocabulary (HAM10000's words, and the words a clinic types),
the features a metadata model reads, and the rule that adds its evidence to the image's:

    log p(c | image, patient) = log p(c | image) + w * (log p(c | patient) - log p_train(c)) + const

then divided by the card's own temperature for fused answers. Conversion fits p(c | patient)
(`skinlesion.analysis.metadata_prior.fit_metadata_model`) on the training rows and writes its
coefficients into the card; serving applies them with numpy alone.
"""

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from skinlesion.temperature import log_probabilities, softmax

SEXES = ("male", "female")
# HAM10000's body sites (`localization`), the order of the one-hot features.
SITES = (
    "abdomen",
    "acral",
    "back",
    "chest",
    "ear",
    "face",
    "foot",
    "genital",
    "hand",
    "lower extremity",
    "neck",
    "scalp",
    "trunk",
    "upper extremity",
)
UNKNOWN = "unknown"  # HAM10000's word for a sex or site not recorded; a request may say it too
SEX_SYNONYMS = {"m": "male", "man": "male", "f": "female", "woman": "female"}
# What clinics type for HAM10000's sites, ISIC's anatomic-site words among them. "head/neck" is
# not here: it could be the face, the scalp, an ear or the neck, which the model tells apart.
SITE_SYNONYMS = {
    **{word: "abdomen" for word in ("belly", "stomach", "abdominal")},
    **{word: "acral" for word in ("palm", "palms", "sole", "soles", "palms/soles", "nail", "subungual")},
    **{word: "back" for word in ("upper back", "lower back", "posterior torso")},
    **{word: "chest" for word in ("breast", "thorax")},
    **{word: "ear" for word in ("ears",)},
    **{word: "face" for word in ("cheek", "nose", "forehead", "lip", "chin", "eyelid", "temple")},
    **{word: "foot" for word in ("feet", "toe", "toes", "heel")},
    **{word: "genital" for word in ("genitals", "genitalia", "oral/genital")},
    **{word: "hand" for word in ("hands", "finger", "fingers")},
    **{
        word: "lower extremity"
        for word in (
            "leg",
            "legs",
            "thigh",
            "knee",
            "shin",
            "calf",
            "ankle",
            "lower limb",
            "lower extremities",
        )
    },
    **{word: "scalp" for word in ("hair",)},
    **{word: "trunk" for word in ("torso", "flank", "anterior torso", "lateral torso")},
    **{
        word: "upper extremity"
        for word in ("arm", "arms", "forearm", "upper arm", "shoulder", "elbow", "wrist", "upper limb")
    },
}
AGE_LIMITS = (0.0, 120.0)  # years a request may say
# HAM10000 records ages from 0 to 85 (in steps of 5); an older patient is read as 85, since the
# fitted age terms (age and its square) are not to be trusted beyond the ages they saw.
AGE_SEEN = (0.0, 85.0)
AGE_CENTRE, AGE_SCALE = 50.0, 20.0  # keeps the age terms near 1 for the regression
FEATURES = ("age", "age squared", "age missing", *(f"sex {s}" for s in SEXES), *(f"site {s}" for s in SITES))


class InvalidMetadata(ValueError):
    """A value a request gave that is not an age, a sex or a body site we know; the message says why."""


@dataclass(frozen=True)
class Patient:
    """What a request said about the patient, in HAM10000's words; None: not said (or 'unknown')."""

    age: float | None = None
    sex: str | None = None
    site: str | None = None

    @property
    def given(self) -> bool:
        return any(value is not None for value in (self.age, self.sex, self.site))

    def to_answer(self) -> dict[str, Any]:
        """The values the answer says were used, as read (a site in HAM10000's word)."""
        return {key: value for key, value in vars(self).items() if value is not None}


def _word(value: str) -> str:
    return re.sub(r"\s+", " ", value.replace("_", " ").replace("-", " ")).strip().lower()


def parse_age(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidMetadata(f"'age' must be a number of years, got {value!r}")
    low, high = AGE_LIMITS
    if not low <= value <= high:
        raise InvalidMetadata(f"'age' must be between {low:g} and {high:g} years, got {value:g}")
    return float(value)


def _in_vocabulary(
    value: Any, name: str, synonyms: dict[str, str], words: tuple[str, ...], hint: str
) -> str | None:
    """`value` as one of `words` (case, spaces, '_' and '-' aside; synonyms read); None for
    'unknown' or empty; InvalidMetadata naming the field for anything else."""
    if value is None:
        return None
    word = _word(value) if isinstance(value, str) else None
    if word == UNKNOWN or word == "":
        return None
    found = synonyms.get(word, word) if word is not None else None
    if found not in words:
        raise InvalidMetadata(f"'{name}' must be one of {', '.join(words)} ({hint}), got {value!r}")
    return found


def parse_sex(value: Any) -> str | None:
    return _in_vocabulary(value, "sex", SEX_SYNONYMS, SEXES, "or m, f, unknown")


def parse_site(value: Any) -> str | None:
    return _in_vocabulary(
        value, "site", SITE_SYNONYMS, SITES, "or a common synonym such as leg, arm, palm, torso"
    )


def parse_patient(values: dict[str, Any]) -> Patient:
    """`age`, `sex` and `site` of a request object (each optional); InvalidMetadata names the field."""
    return Patient(parse_age(values.get("age")), parse_sex(values.get("sex")), parse_site(values.get("site")))


def features(patients: list[Patient]) -> np.ndarray:
    """(n, len(FEATURES)): age centred and its square (risk is not linear in age), whether it is
    missing, sex and site one-hot; a value not given is all zeros, so it adds no evidence."""
    rows = []
    for patient in patients:
        missing = patient.age is None
        age = 0.0 if missing else (min(max(patient.age, AGE_SEEN[0]), AGE_SEEN[1]) - AGE_CENTRE) / AGE_SCALE
        rows.append(
            [age, age**2, float(missing)]
            + [float(patient.sex == sex) for sex in SEXES]
            + [float(patient.site == site) for site in SITES]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(patients), len(FEATURES))


def fuse(
    image_probs: np.ndarray,
    metadata_probs: np.ndarray,
    prior: np.ndarray,
    weight: float,
    temperature: float = 1.0,
) -> np.ndarray:
    """The image's probabilities times the metadata's likelihood ratio to the power `weight`,
    renormalised at `temperature`; weight 0 and T 1 give the image's probabilities back."""
    log_ratio = log_probabilities(metadata_probs) - log_probabilities(prior)
    return softmax(log_probabilities(image_probs) + weight * log_ratio, temperature)


@dataclass(frozen=True)
class MetadataEvidence:
    """The card's fitted p(c | patient): a multinomial logistic regression on `features`."""

    coefficients: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)
    prior: np.ndarray  # the training rows' class frequencies, which p(c | patient) is read against
    weight: float  # w in the rule above
    temperature: float  # of the fused answers

    def __post_init__(self) -> None:
        n_classes = len(self.prior)
        if self.coefficients.shape != (n_classes, len(FEATURES)) or self.intercept.shape != (n_classes,):
            raise ValueError(
                f"metadata coefficients {self.coefficients.shape} and intercept {self.intercept.shape} "
                f"do not fit {n_classes} classes and the features {FEATURES}"
            )
        if not self.temperature > 0 or not self.weight >= 0:
            raise ValueError("the metadata temperature must be positive and its weight not negative")

    @classmethod
    def from_card(cls, section: dict[str, Any]) -> "MetadataEvidence":
        if list(section["features"]) != list(FEATURES):
            raise ValueError(f"the card's metadata features {section['features']} are not {FEATURES}")
        return cls(
            coefficients=np.asarray(section["coefficients"], dtype=np.float64),
            intercept=np.asarray(section["intercept"], dtype=np.float64),
            prior=np.asarray(section["prior"], dtype=np.float64),
            weight=float(section["weight"]),
            temperature=float(section["calibration"]["temperature"]),
        )

    def probabilities(self, patients: list[Patient]) -> np.ndarray:
        """p(c | patient), (n, classes)."""
        return softmax(features(patients) @ self.coefficients.T + self.intercept)

    def fuse(
        self, image_probs: np.ndarray, patients: list[Patient], temperature: float | None = None
    ) -> np.ndarray:
        """The fused answers for uncalibrated image probabilities (n, classes), at the card's
        temperature (or `temperature`: 1 while conversion fits it)."""
        t = self.temperature if temperature is None else temperature
        return fuse(image_probs, self.probabilities(patients), self.prior, self.weight, t)
