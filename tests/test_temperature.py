"""Temperature scaling's arithmetic: finite on extreme inputs, never reordering, refusing bad T."""

import numpy as np
import pytest

from skinlesion.temperature import calibrate, log_probabilities, softmax

N_CLASSES = 7


def test_temperature_never_changes_the_argmax() -> None:
    logits = np.random.default_rng(2).normal(scale=5, size=(500, N_CLASSES))
    logits[0] = [1000, 999, -1000, 0, 0, 0, 0]  # would overflow a naive exp
    for temperature in (0.01, 0.3, 1.0, 2.0, 100.0):
        probs = softmax(logits, temperature)
        assert np.isfinite(probs).all()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0)
        np.testing.assert_array_equal(probs.argmax(axis=1), logits.argmax(axis=1))


def test_log_probabilities_survive_zeros_and_round_trip() -> None:
    probs = np.array([[0.7, 0.2, 0.1, 0, 0, 0, 0], [1 / 7] * 7])
    logits = log_probabilities(probs)
    assert np.isfinite(logits).all()
    np.testing.assert_allclose(softmax(logits, 1.0), probs, atol=1e-11)


def test_calibrate_is_softmax_of_the_log_probabilities_for_one_answer_or_many() -> None:
    probs = np.array([[0.7, 0.2, 0.1, 0, 0, 0, 0], [1 / 7] * 7])
    np.testing.assert_array_equal(calibrate(probs, 2.0), softmax(log_probabilities(probs), 2.0))
    np.testing.assert_array_equal(calibrate(probs[0], 2.0), calibrate(probs, 2.0)[0])
    assert calibrate(probs, 2.0)[0, 0] < 0.7  # T > 1 softens


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_a_temperature_that_is_not_positive_and_finite_is_refused(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        softmax(np.zeros((4, N_CLASSES)), temperature)
