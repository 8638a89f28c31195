"""The contract's one registry of error codes: documented, and every code in it really raised."""

import ast

import pytest

from skinlesion.contract import (
    CLIENT_ERRORS,
    ERRORS,
    ServiceError,
    batch_answer,
    client_error_code,
    error_table,
    prediction,
)
from skinlesion.paths import REPO_ROOT


def raised_codes() -> set[str]:
    """Every literal code passed to ServiceError(...) in the product code."""
    codes = set()
    for path in (REPO_ROOT / "skinlesion").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ServiceError":
                codes.add(node.args[0].value)
    return codes


def test_every_raised_code_is_registered_and_every_registered_code_is_raised() -> None:
    assert raised_codes() == set(ERRORS)


def test_the_readme_table_is_the_registry() -> None:
    assert error_table() in (REPO_ROOT / "README.md").read_text()


def test_an_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown error code"):
        ServiceError("teapot", "short and stout")


def test_answers_have_the_documented_shapes() -> None:
    probabilities = {"akiec": 0.1, "bcc": 0.1, "bkl": 0.1, "df": 0.1, "mel": 0.3, "nv": 0.2, "vasc": 0.1}
    model = {"name": "m", "version": "1", "sha256": "abc"}
    single = prediction(dict(reversed(probabilities.items())), model)
    assert single == {
        "prediction": "mel",
        "label": "Melanoma",
        "probabilities": probabilities,
        "malignant_probability": pytest.approx(0.5),
        "model": model,
    }
    assert list(single["probabilities"]) == list(probabilities)  # always in the class order
    error = ServiceError("not_an_image", "no")
    batch = batch_answer([prediction(probabilities), error], model)
    assert batch["predictions"][1] == {"error": {"code": "not_an_image", "message": "no", "status": 415}}
    assert "model" not in batch["predictions"][0] and batch["model"] == model


def test_alerts_flag_at_their_thresholds_and_say_what_a_flag_means() -> None:
    probabilities = {"akiec": 0.05, "bcc": 0.05, "bkl": 0.1, "df": 0.05, "mel": 0.2, "nv": 0.5, "vasc": 0.05}
    points = {
        "melanoma": {"threshold": 0.2, "sensitivity": 0.9, "specificity": 0.62, "n_positive": 222},
        "malignant": {"threshold": 0.31, "sensitivity": 0.95, "specificity": 0.54},
    }
    answer = prediction(probabilities, operating_points=points)
    assert answer["malignant_probability"] == pytest.approx(0.3)
    melanoma, malignant = answer["alerts"]["melanoma"], answer["alerts"]["malignant"]
    assert melanoma["flag"] and not malignant["flag"]  # at the threshold flags; below does not
    assert (
        "90%" in melanoma["meaning"]
        and "62%" in melanoma["meaning"]
        and "not a diagnosis" in melanoma["meaning"]
    )
    assert set(melanoma) == {"flag", "probability", "threshold", "sensitivity", "specificity", "meaning"}


def test_an_out_of_distribution_flag_comes_with_its_reasons_and_a_message() -> None:
    from skinlesion.contract import out_of_distribution

    assert out_of_distribution(10.0, 300.0, []) == {
        "flag": False,
        "score": 10.0,
        "threshold": 300.0,
        "reasons": [],
    }
    flagged = out_of_distribution(10.0, 300.0, ["its contrast is too low (a blank frame?)"])
    assert flagged["flag"] and "should not be trusted" in flagged["message"]


def test_client_codes_are_checked_and_http_stands_for_any_status() -> None:
    assert client_error_code("throttled") == "throttled"
    assert client_error_code("http_403") == "http_403"
    for unknown in ("http_", "http_40", "http_4033", "not_a_code", "fetch_failed"):
        with pytest.raises(ValueError, match="unknown client error code"):
            client_error_code(unknown)
    assert not set(CLIENT_ERRORS) & set(ERRORS)  # a client never writes the service's codes


def test_the_scorer_writes_only_client_codes_of_its_own() -> None:
    from skinlesion.score.backends import error_answer

    assert error_answer("http_502", "x")["error"]["code"] == "http_502"
    with pytest.raises(ValueError):
        error_answer("gateway_down", "x")
