"""The patient's age, sex and site: what a request may say, the features, and the fusion rule."""

import numpy as np
import pytest

from skinlesion.classes import CLASS_CODES
from skinlesion.metadata import (
    AGE_SEEN,
    FEATURES,
    SITES,
    InvalidMetadata,
    MetadataEvidence,
    Patient,
    features,
    fuse,
    parse_patient,
)


def evidence(site_class: dict[str, str], weight: float = 1.0, temperature: float = 1.0) -> MetadataEvidence:
    """Evidence whose only terms favour `site_class[site]` strongly at that site."""
    coefficients = np.zeros((len(CLASS_CODES), len(FEATURES)))
    for site, code in site_class.items():
        coefficients[CLASS_CODES.index(code), FEATURES.index(f"site {site}")] = 4.0
    prior = np.full(len(CLASS_CODES), 1 / len(CLASS_CODES))
    return MetadataEvidence(coefficients, np.zeros(len(CLASS_CODES)), prior, weight, temperature)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, Patient()),
        ({"age": 63, "sex": "male", "site": "back"}, Patient(63.0, "male", "back")),
        ({"age": 0, "sex": "F", "site": "Lower_Extremity"}, Patient(0.0, "female", "lower extremity")),
        ({"age": 120.0, "sex": " Woman ", "site": "thigh"}, Patient(120.0, "female", "lower extremity")),
        ({"sex": "unknown", "site": "UNKNOWN", "age": None}, Patient()),
        ({"site": "palms/soles"}, Patient(site="acral")),
        ({"site": "posterior torso"}, Patient(site="back")),
        ({"site": "upper-arm"}, Patient(site="upper extremity")),
    ],
)
def test_requests_are_read_in_ham10000s_words(values: dict, expected: Patient) -> None:
    assert parse_patient(values) == expected


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"age": -1}, "'age'"),
        ({"age": 121}, "'age'"),
        ({"age": "63"}, "'age'"),
        ({"age": True}, "'age'"),
        ({"age": float("nan")}, "'age'"),
        ({"sex": "other"}, "'sex'"),
        ({"sex": 1}, "'sex'"),
        ({"site": "head/neck"}, "'site'"),  # face, scalp, ear or neck: the model tells them apart
        ({"site": ["back"]}, "'site'"),
    ],
)
def test_values_we_cannot_read_are_refused_with_the_field_named(values: dict, field: str) -> None:
    with pytest.raises(InvalidMetadata, match=field):
        parse_patient(values)


def test_every_site_and_synonym_is_a_site_the_features_know() -> None:
    from skinlesion.metadata import SITE_SYNONYMS

    assert set(SITE_SYNONYMS.values()) <= set(SITES)
    for site in SITES:
        assert parse_patient({"site": site}).site == site


def test_features_are_zero_for_what_was_not_given_and_ages_beyond_those_seen_are_capped() -> None:
    x = features([Patient(), Patient(50.0, "female", "face"), Patient(110.0), Patient(AGE_SEEN[1])])
    assert x.shape == (4, len(FEATURES))
    np.testing.assert_array_equal(x[0], np.eye(len(FEATURES))[FEATURES.index("age missing")])
    expected = np.zeros(len(FEATURES))
    expected[[FEATURES.index("sex female"), FEATURES.index("site face")]] = 1.0
    np.testing.assert_array_equal(x[1], expected)  # age 50 is the centre: both age terms 0
    np.testing.assert_array_equal(x[2], x[3])


def test_weight_zero_or_an_uninformative_metadata_leave_the_image_probabilities() -> None:
    rng = np.random.default_rng(0)
    image = rng.dirichlet(np.ones(7), size=20)
    prior = rng.dirichlet(np.ones(7))
    informative = rng.dirichlet(np.ones(7), size=20)
    np.testing.assert_allclose(fuse(image, informative, prior, 0.0), image, atol=1e-12)
    np.testing.assert_allclose(fuse(image, np.tile(prior, (20, 1)), prior, 1.0), image, atol=1e-12)
    fused = fuse(image, informative, prior, 0.5)
    np.testing.assert_allclose(fused.sum(axis=1), 1.0)
    assert not np.allclose(fused, image)


def test_metadata_that_favours_a_class_raises_it_and_its_weight_scales_the_shift() -> None:
    image = np.full((1, 7), 1 / 7)
    prior = np.full(7, 1 / 7)
    metadata = np.array([[0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]])
    half, full = fuse(image, metadata, prior, 0.5), fuse(image, metadata, prior, 1.0)
    assert half[0, 0] > 1 / 7 and full[0, 0] > half[0, 0]
    np.testing.assert_allclose(full, metadata)  # a flat image and a flat prior: the metadata's own answer


def test_the_fused_temperature_softens_without_reordering() -> None:
    image = np.array([[0.5, 0.2, 0.1, 0.05, 0.05, 0.05, 0.05]])
    sharp = evidence({"face": "akiec"}).fuse(image, [Patient(site="face")])
    soft = evidence({"face": "akiec"}, temperature=2.0).fuse(image, [Patient(site="face")])
    assert soft[0].argsort().tolist() == sharp[0].argsort().tolist()
    assert soft[0].max() < sharp[0].max()


def test_evidence_travels_through_the_card_and_refuses_a_card_of_other_features() -> None:
    fitted = evidence({"lower extremity": "df"}, weight=0.5, temperature=1.3)
    section = {
        "features": list(FEATURES),
        "coefficients": fitted.coefficients.tolist(),
        "intercept": fitted.intercept.tolist(),
        "prior": fitted.prior.tolist(),
        "weight": 0.5,
        "calibration": {"temperature": 1.3},
    }
    read = MetadataEvidence.from_card(section)
    patients = [Patient(40.0, "male", "lower extremity"), Patient()]
    image = np.full((2, 7), 1 / 7)
    np.testing.assert_allclose(read.fuse(image, patients), fitted.fuse(image, patients))
    assert read.fuse(image, patients)[0].argmax() == CLASS_CODES.index("df")
    with pytest.raises(ValueError, match="features"):
        MetadataEvidence.from_card({**section, "features": list(FEATURES)[:-1]})
    with pytest.raises(ValueError, match="do not fit"):
        MetadataEvidence.from_card({**section, "intercept": [0.0] * 6})
