"""bench/heatmap_localisation.py: the images chosen, the paired interval by lesion, the summary."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.heatmap_localisation import paired_interval, summarise, validation_images
from skinlesion.paths import REPO_ROOT


def test_validation_images_are_spread_over_the_val_rows_with_their_lesions(tmp_path: Path) -> None:
    split, metadata = tmp_path / "split.csv", tmp_path / "metadata.csv"
    ids = [f"ISIC_{n:07d}" for n in range(10)]
    split.write_text(
        "image_id,split\n" + "".join(f"{i},{'val' if n % 2 else 'train'}\n" for n, i in enumerate(ids))
    )
    metadata.write_text(
        "lesion_id,image_id,dx\n" + "".join(f"HAM_{n // 2},{i},nv\n" for n, i in enumerate(ids))
    )
    assert validation_images(split, metadata, 2) == [("ISIC_0000001", "HAM_0"), ("ISIC_0000005", "HAM_2")]
    assert len(validation_images(split, metadata, 50)) == 5


def test_the_interval_resamples_lesions_not_images() -> None:
    """Two photos of each lesion: resampling lesions keeps each pair together, so a difference
    that is constant within lesions has the spread of the lesions, not of twice as many images."""
    per_lesion = np.random.default_rng(1).normal(size=40)
    differences = np.repeat(per_lesion, 2)
    lesions = [f"HAM_{n // 2}" for n in range(80)]
    low, high = paired_interval(differences, lesions)
    assert low < differences.mean() < high
    as_images = paired_interval(differences, [str(n) for n in range(80)])
    assert (high - low) > 1.2 * (as_images[1] - as_images[0])
    assert paired_interval(np.full(10, 0.25), [str(n) for n in range(10)]) == pytest.approx((0.25, 0.25))


def test_the_summary_compares_a_map_with_the_blob_image_by_image() -> None:
    shares, blob = np.array([0.8, 0.6, 0.5, 0.9]), np.array([0.5, 0.5, 0.6, 0.5])
    s = summarise(shares, blob, ["a", "b", "c", "d"])
    assert s["mean"] == pytest.approx(0.7) and s["median"] == pytest.approx(0.7)
    assert s["vs_blob"] == pytest.approx(0.175) and s["beats_blob"] == pytest.approx(0.75)
    assert s["vs_blob_low"] <= s["vs_blob"] <= s["vs_blob_high"]


def test_help_says_what_it_measures() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.heatmap_localisation", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "centred blob" in " ".join(result.stdout.split()) and "--count" in result.stdout
