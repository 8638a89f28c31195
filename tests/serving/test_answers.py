"""What a clinician gets beyond the probabilities, from the shipped model: calibrated
probabilities, the two alerts, the "outside what I know" flag and the activation map."""

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skinlesion.analysis.lesion_mask import (
    cam_mass_on_lesion,
    centred_blob,
    judged,
    lesion_mask,
    share_inside,
)
from skinlesion.conversion import ood_probes
from skinlesion.paths import DEFAULT_MODEL_PATH, default_data_dir
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Service, handle
from skinlesion.temperature import calibrate
from tests.support.images import encode


@pytest.fixture(scope="module")
def shipped() -> Service:
    return Service(Settings(model_path=DEFAULT_MODEL_PATH))


def ask(service: Service, image: Image.Image | bytes, **extra: object) -> dict:
    data = image if isinstance(image, bytes) else encode(image, "PNG")
    return handle({"image": base64.b64encode(data).decode(), **extra}, None, service)


def test_calibration_keeps_the_ranking_and_the_card_says_how_it_was_fitted(shipped: Service) -> None:
    card = shipped.model.card
    assert card.temperature > 0 and card.calibration["fitted_on"]["lesions"] > 100
    raw = np.random.default_rng(0).dirichlet(np.ones(7) * 0.3, size=200)
    assert (calibrate(raw, card.temperature).argmax(1) == raw.argmax(1)).all()


def test_every_answer_carries_both_alerts_and_the_flag(shipped: Service, fullres_images: list[Path]) -> None:
    answer = ask(shipped, fullres_images[0].read_bytes())
    probabilities = answer["probabilities"]
    assert abs(sum(probabilities.values()) - 1) < 1e-6 and answer["prediction"] == max(
        probabilities, key=probabilities.get
    )
    assert answer["malignant_probability"] == pytest.approx(
        probabilities["mel"] + probabilities["bcc"] + probabilities["akiec"]
    )
    for name, score in (("melanoma", probabilities["mel"]), ("malignant", answer["malignant_probability"])):
        alert = answer["alerts"][name]
        assert alert["flag"] == (score >= alert["threshold"]) and alert["probability"] == pytest.approx(score)
        assert alert == {
            **alert,
            **{k: shipped.model.card.alerts[name][k] for k in ("threshold", "sensitivity", "specificity")},
        }
        assert "refer / review" in alert["meaning"] and "not a diagnosis" in alert["meaning"]
    assert answer["out_of_distribution"]["threshold"] == shipped.model.card.ood["threshold"]


def test_the_operating_points_meet_their_stated_sensitivity(shipped: Service) -> None:
    alerts = shipped.model.card.alerts
    assert alerts["melanoma"]["sensitivity"] >= 0.90 and alerts["malignant"]["sensitivity"] >= 0.95
    for alert in alerts.values():
        low, high = alert["specificity_ci"]
        assert low <= alert["specificity"] <= high


def test_non_dermoscopy_is_flagged_with_a_message(shipped: Service) -> None:
    """Held apart: the detector never saw these photos or any crop of them (ood_probes)."""
    images = {**ood_probes.photos(), **ood_probes.crops(), **ood_probes.generated()}
    answers = {name: ask(shipped, image)["out_of_distribution"] for name, image in images.items()}
    flagged = [name for name, ood in answers.items() if ood["flag"]]
    assert len(flagged) >= 0.95 * len(images), [name for name in images if name not in flagged]
    assert all("should not be trusted" in answers[name]["message"] for name in flagged)


def test_dermoscopy_at_full_size_is_mostly_not_flagged(shipped: Service, fullres_images: list[Path]) -> None:
    flagged = [ask(shipped, path.read_bytes())["out_of_distribution"]["flag"] for path in fullres_images[:40]]
    assert np.mean(flagged) <= 0.2


@pytest.mark.parametrize("explain", [True, "mel", "nv"])
def test_explain_returns_the_map_and_an_overlay(
    shipped: Service, fullres_images: list[Path], explain: object
) -> None:
    answer = ask(shipped, fullres_images[1].read_bytes(), explain=explain)
    explanation = answer["explanation"]
    assert explanation["class"] == (answer["prediction"] if explain is True else explain)
    grid = np.array(explanation["grid"])
    assert grid.shape == tuple(explanation["grid_shape"]) == (12, 16) and grid.min() >= 0 and grid.max() <= 1
    overlay = Image.open(io.BytesIO(base64.b64decode(explanation["overlay_png"])))
    assert overlay.format == "PNG" and max(overlay.size) == 256
    json.dumps(answer)  # the whole answer is JSON


def test_explaining_changes_nothing_else_in_the_answer(shipped: Service, fullres_images: list[Path]) -> None:
    """The finer map's extra invokes come after the answer's own: same probabilities, same top-1."""
    for path in fullres_images[:5]:
        plain = ask(shipped, path.read_bytes())
        explained = ask(shipped, path.read_bytes(), explain=True)
        assert {key: value for key, value in explained.items() if key != "explanation"} == plain


def test_batch_items_explain_on_their_own(shipped: Service, fullres_images: list[Path]) -> None:
    image = base64.b64encode(fullres_images[2].read_bytes()).decode()
    answer = handle({"instances": [{"image": image, "explain": "bcc"}, {"image": image}]}, None, shipped)
    first, second = answer["predictions"]
    assert first["explanation"]["class"] == "bcc" and "explanation" not in second
    assert "alerts" in second and "out_of_distribution" in second


def test_explain_on_a_model_without_maps_is_a_clear_501(tiny_model: Path) -> None:
    answer = ask(Service(Settings(model_path=tiny_model)), Image.new("RGB", (64, 64)), explain=True)
    assert answer["error"]["code"] == "explain_unavailable" and answer["error"]["status"] == 501


@pytest.mark.dataset
def test_the_map_falls_on_the_lesion_more_than_on_the_skin(
    shipped: Service, real_data_images: list[Path]
) -> None:
    """Class activation maps of the predicted class, against a dark-region segmentation of the
    image: the map's mean inside the lesion beats its mean on the surrounding skin for most images."""
    wins = []
    for path in real_data_images:
        image = Image.open(path).convert("RGB")
        answer = ask(shipped, path.read_bytes(), explain=True)
        inside, outside = cam_mass_on_lesion(
            np.array(answer["explanation"]["grid"]), lesion_mask(np.asarray(image))
        )
        wins.append(inside > outside)
    # Measured on every 50th image (201): 200 for model 2.2.
    assert np.mean(wins) >= 0.9, f"{np.mean(wins):.2f} of {len(wins)} images"


@pytest.mark.dataset
def test_the_served_map_puts_more_of_its_mass_on_the_lesion_than_a_centred_blob(shipped: Service) -> None:
    """Issue 30's measure on 50 validation images (every 40th of the shipped split's, by id):
    the share of the map's mass inside the dark-region lesion mask against a centred Gaussian's
    (sigma 0.15 of each side). Measured on 200 such images (docs/results.md): 0.633 against 0.553,
    the map ahead on 87 % of them; the 6x8 map served before had 0.499."""
    split = DEFAULT_MODEL_PATH.with_name(DEFAULT_MODEL_PATH.stem + "_split.csv")
    images = default_data_dir() / "images"
    if not images.is_dir():
        pytest.skip(f"the HAM10000 images are not under {default_data_dir()} (set HAM10000_DIR)")
    with split.open() as f:
        ids = sorted(line.split(",")[0] for line in f if line.rstrip().endswith(",val"))
    shares = []
    for image_id in ids[::40][:50]:
        path = images / f"{image_id}.jpg"
        mask = lesion_mask(np.asarray(Image.open(path).convert("RGB")))
        if not judged(mask):
            continue
        grid = np.array(ask(shipped, path.read_bytes(), explain=True)["explanation"]["grid"])
        shares.append(share_inside(grid, mask) - share_inside(centred_blob(*mask.shape), mask))
    differences = np.array(shares)
    ahead = np.mean(differences > 0)
    assert len(differences) >= 40
    assert differences.mean() > 0.04 and ahead >= 0.7, f"{differences.mean():+.3f}, ahead on {ahead:.0%}"
