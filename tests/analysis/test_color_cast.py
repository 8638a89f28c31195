"""`python -m skinlesion.analysis.color_cast`: answers under another light's colour, per model."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from skinlesion.analysis.color_cast import CASTS, cast
from skinlesion.dataset import lesion_split, load_metadata, write_split
from skinlesion.model_card import ModelCard, card_path

REPO = Path(__file__).resolve().parents[2]


def test_a_cast_scales_each_channel_and_clips() -> None:
    image = Image.fromarray(np.array([[[100, 200, 250]]], dtype=np.uint8))
    assert np.asarray(cast(image, (1.1, 1.0, 1.1))).tolist() == [[[110, 200, 255]]]


def test_colour_constancy_keeps_answers_that_a_cast_changes(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    """The same network twice, its card once without and once with Shades of Gray: the cast
    images change the plain model's answers more than the corrected model's."""
    corrected = tmp_path / "corrected.tflite"
    shutil.copy(tiny_model, corrected)
    card = ModelCard.read(card_path(tiny_model))
    replace(card, preprocessing=replace(card.preprocessing, color_constancy="shades_of_gray")).write(
        card_path(corrected)
    )
    split = tmp_path / "split.csv"
    write_split(lesion_split(load_metadata(tiny_dataset), 0.4, seed=0), split)
    out = tmp_path / "casts.json"
    done = subprocess.run(
        [sys.executable, "-m", "skinlesion.analysis.color_cast", str(tiny_model), str(corrected),
         "--split", str(split), "--data-dir", str(tiny_dataset), "--n-boot", "50", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "colour constancy: shades_of_gray" in done.stdout and "warm 15 %" in done.stdout
    plain, fixed = (json.loads(out.read_text())[str(path)] for path in (tiny_model, corrected))
    for figures in (plain, fixed):
        assert list(figures) == list(CASTS)
        assert figures["none"]["change"] == 0 and figures["none"]["top1_unchanged"] == 1
        assert all(
            0 <= f["balanced_accuracy"] <= 1 and 0 <= f["melanoma_recall"] <= 1 for f in figures.values()
        )
    unchanged = [(plain[name]["top1_unchanged"], fixed[name]["top1_unchanged"]) for name in CASTS]
    assert all(f >= p for p, f in unchanged) and sum(f - p for p, f in unchanged) > 0, unchanged
