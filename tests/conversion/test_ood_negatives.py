"""The detector's training negatives: real photos and their crops, never the held-apart probes."""

import hashlib

import numpy as np
from PIL import Image

from skinlesion.conversion import ood_negatives, ood_probes


def _digest(image: Image.Image) -> str:
    return hashlib.sha256(np.asarray(image.convert("RGB")).tobytes()).hexdigest()


def test_no_probe_photo_is_a_training_source() -> None:
    """Split by source photo: the flag's figures are measured on photos the detector never saw."""
    sources = {_digest(photo) for photo in ood_negatives.photos().values()}
    probes = {_digest(photo) for photo in ood_probes.photos().values()}
    assert len(sources) == len(ood_negatives.PHOTOS) and not sources & probes


def test_views_are_the_photo_then_crops_inside_it() -> None:
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    views = list(ood_negatives.views(photo, 30, np.random.default_rng(1)))
    assert len(views) == 30 and views[0] is photo
    low = ood_negatives.CROP_SCALES[0]
    for view in views[1:]:
        short, long = sorted(view.size)
        assert view.mode == "RGB" and short >= 8 and long <= 400  # turned crops may swap the sides
        assert max(view.size) >= round(low * 300) - 1  # no crop is smaller than the smallest share allows


def test_negatives_name_a_source_for_every_image() -> None:
    images, sources = ood_negatives.negatives(views_per_photo=3, n_generated=4, seed=0)
    assert len(images) == len(sources) == 3 * len(ood_negatives.PHOTOS) + 100 + 4
    assert set(ood_negatives.PHOTOS) | {"faces"} <= set(sources)
    assert all(image.mode == "RGB" for image in images)
    again, _ = ood_negatives.negatives(views_per_photo=3, n_generated=4, seed=0)
    assert [_digest(a) for a in images[:20]] == [_digest(b) for b in again[:20]]  # reproducible


def test_held_apart_crops_cover_every_probe_photo() -> None:
    crops = ood_probes.crops(random_per_photo=2)
    for name in ood_probes.PHOTOS:
        assert {f"{name}, centre 50%", f"{name}, centre 60%", f"{name}, crop 2"} <= set(crops)
    assert len(crops) == 4 * len(ood_probes.PHOTOS)
