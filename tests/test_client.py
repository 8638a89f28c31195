import base64
from pathlib import Path

import pytest

from devtools.lambda_emulator import free_port
from skinlesion.client import EndpointUnreachable, build_request, is_error, post_json, report
from tests.support.image_server import ImageServer


def test_urls_are_sent_and_files_uploaded(tmp_path: Path) -> None:
    assert build_request("https://x.test/a.jpg") == {"url": "https://x.test/a.jpg"}
    image = tmp_path / "a.jpg"
    image.write_bytes(b"\xff\xd8bytes")
    assert build_request(image) == {"image": base64.b64encode(b"\xff\xd8bytes").decode()}
    with pytest.raises(FileNotFoundError):
        build_request(tmp_path / "missing.jpg")


def test_http_errors_without_json_become_error_objects(image_server: ImageServer) -> None:
    # http.server answers a POST it does not implement with 501 and an HTML page.
    answer = post_json(image_server.url("/status/404"), {"url": "x"}, timeout=5)
    assert answer["error"]["code"] == "http_501" and is_error(answer)


def test_unreachable_endpoint() -> None:
    with pytest.raises(EndpointUnreachable, match="cannot reach"):
        post_json(f"http://127.0.0.1:{free_port()}/", {}, timeout=5)


def test_report_ranks_classes() -> None:
    answer = {
        "prediction": "mel",
        "label": "Melanoma",
        "probabilities": {"akiec": 0, "bcc": 0.1, "bkl": 0, "df": 0, "mel": 0.7, "nv": 0.2, "vasc": 0},
        "model": {"name": "m", "version": "1", "sha256": "abc"},
    }
    lines = report(answer).splitlines()
    assert lines[0] == "prediction: mel (Melanoma), p = 0.700"
    assert [line.split()[0] for line in lines[1:4]] == ["mel", "nv", "bcc"]
    error = {"error": {"code": "not_an_image", "message": "no", "status": 415}}
    assert report(error) == "error 415 not_an_image: no"


def test_report_states_the_alerts_and_the_flag_and_the_overlay_is_saved(tmp_path: Path) -> None:
    from skinlesion.client import save_overlay
    from skinlesion.contract import out_of_distribution, prediction

    probabilities = {"akiec": 0.05, "bcc": 0.05, "bkl": 0.1, "df": 0.05, "mel": 0.3, "nv": 0.4, "vasc": 0.05}
    points = {
        "melanoma": {"threshold": 0.044, "sensitivity": 0.9, "specificity": 0.63},
        "malignant": {"threshold": 0.5, "sensitivity": 0.95, "specificity": 0.54},
    }
    ood = out_of_distribution(500.0, 338.5, ["it does not look like a dermoscopy image to the detector"])
    answer = prediction(
        probabilities, {"name": "m", "version": "1", "sha256": "abc"}, operating_points=points, ood=ood
    )
    text = report(answer)
    assert "melanoma alert: ALERT (0.300 vs threshold 0.044" in text and "malignant alert: no alert" in text
    assert (
        "refer / review" in text
        and "OUTSIDE what the model knows" in text
        and "should not be trusted" in text
    )
    assert save_overlay(answer, tmp_path / "x.png") is None  # no explanation asked
    answer["explanation"] = {
        "class": "mel",
        "grid": [[1.0]],
        "grid_shape": [1, 1],
        "overlay_png": "iVBORw0KGgo=",
    }
    assert save_overlay(answer, tmp_path / "x.png").read_bytes() == b"\x89PNG\r\n\x1a\n"
    assert build_request("https://x.test/a.jpg", explain="mel") == {
        "url": "https://x.test/a.jpg",
        "explain": "mel",
    }


def test_the_api_key_goes_as_x_api_key() -> None:
    from skinlesion.client import post_json
    from tests.support.fake_lambda import FakeLambda

    with FakeLambda() as fake:
        post_json(fake.url, {"url": "https://x.test/a.jpg"}, timeout=10, api_key="k-123")
        post_json(fake.url, {"url": "https://x.test/a.jpg"}, timeout=10)
    assert fake.api_keys == ["k-123", None]


def test_the_patient_travels_with_the_image_and_the_report_says_it_was_used() -> None:
    request = build_request("https://x.test/a.jpg", patient={"age": 63.0, "sex": "female", "site": None})
    assert request == {"url": "https://x.test/a.jpg", "age": 63.0, "sex": "female"}
    answer = {
        "prediction": "nv",
        "label": "Melanocytic nevus",
        "probabilities": {"nv": 0.9, "mel": 0.1},
        "metadata": {"age": 63.0, "site": "lower extremity"},
        "model": {},
    }
    assert "with the patient's age 63, site lower extremity" in report(answer)
