"""Metadata loading in both folder layouts, and the split by lesion."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skinlesion.classes import CLASS_CODES
from skinlesion.dataset import (
    common_image_size,
    common_jpeg_quality,
    labels,
    lesion_split,
    load_extra,
    load_metadata,
    read_split,
    subsample_lesions,
    write_split,
)
from skinlesion.image.decode import ORIENTATION_TAG
from tests.support.datasets import write_tiny_extra


def assert_no_lesion_crosses(split: pd.DataFrame) -> None:
    sides = split.groupby("lesion_id")["split"].nunique()
    crossing = sides[sides > 1]
    assert crossing.empty, f"lesions on both sides of the split: {list(crossing.index[:5])}"


def test_images_are_found_in_the_original_two_folder_layout(tiny_dataset: Path) -> None:
    meta = load_metadata(tiny_dataset)
    assert len(meta) == 70
    assert {p.parent.name for p in meta["path"]} == {"HAM10000_images_part_1", "HAM10000_images_part_2"}
    assert all(p.stem == i for p, i in zip(meta["path"], meta["image_id"], strict=True))


def test_a_missing_image_is_reported(tiny_dataset: Path, tmp_path: Path) -> None:
    (tmp_path / "HAM10000_metadata.csv").write_text((tiny_dataset / "HAM10000_metadata.csv").read_text())
    with pytest.raises(FileNotFoundError, match="70 images"):
        load_metadata(tmp_path)


def test_tiny_split_keeps_lesions_together_and_round_trips(tiny_dataset: Path, tmp_path: Path) -> None:
    split = lesion_split(load_metadata(tiny_dataset), val_fraction=0.2, seed=42)
    assert_no_lesion_crosses(split)
    assert set(split["split"]) == {"train", "val"}
    write_split(split, tmp_path / "split.csv")
    assert (tmp_path / "split.csv").read_text().startswith("image_id,split\n"), "no labels or lesions"
    pd.testing.assert_frame_equal(
        read_split(tmp_path / "split.csv"), split[["image_id", "split"]].reset_index(drop=True)
    )


def test_a_file_that_is_not_a_split_is_refused(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("image_id,dx\nISIC_1,mel\n")
    with pytest.raises(ValueError, match="not a split file"):
        read_split(tmp_path / "labels.csv")
    (tmp_path / "odd.csv").write_text("image_id,split\nISIC_1,test\n")
    with pytest.raises(ValueError, match="only hold"):
        read_split(tmp_path / "odd.csv")


def test_a_subsample_takes_whole_lesions_of_every_class(tiny_dataset: Path) -> None:
    meta = load_metadata(tiny_dataset)  # 5 lesions of 2 images per class
    subset = subsample_lesions(meta, per_class=3, seed=0)
    assert subset.groupby("dx").size().to_dict() == dict.fromkeys(CLASS_CODES, 4)
    assert (subset.groupby("lesion_id").size() == 2).all(), "a lesion must keep all its images"
    assert subset.equals(subsample_lesions(meta, per_class=3, seed=0))
    assert len(subsample_lesions(meta, per_class=100, seed=0)) == len(meta)


def test_the_common_image_size_is_the_displayed_size_all_images_share(tmp_path: Path) -> None:
    def jpeg(name: str, size: tuple[int, int], orientation: int | None = None) -> Path:
        exif = Image.Exif()
        if orientation:
            exif[ORIENTATION_TAG] = orientation
        path = tmp_path / name
        Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(path, exif=exif)
        return path

    same = [jpeg("a.jpg", (40, 30)), jpeg("b.jpg", (40, 30)), jpeg("turned.jpg", (30, 40), orientation=6)]
    assert common_image_size(same) == (40, 30)  # a quarter-turned file shows 40x30 too
    assert common_image_size([*same, jpeg("c.jpg", (60, 45))]) is None
    assert common_image_size([]) is None


def test_the_common_jpeg_quality_is_the_one_all_images_were_stored_at(tmp_path: Path) -> None:
    def saved(name: str, **options: int) -> Path:
        path = tmp_path / name
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), np.uint8)).save(
            path, **options
        )
        return path

    same = [saved("a.jpg", quality=75), saved("b.jpg", quality=75)]
    assert common_jpeg_quality(same) == 75
    assert common_jpeg_quality([saved("c.jpg", quality=92)]) == 92
    assert common_jpeg_quality([*same, saved("d.jpg", quality=90)]) is None
    assert common_jpeg_quality([*same, saved("e.png")]) is None
    assert common_jpeg_quality([]) is None


def test_labels_follow_the_model_output_order() -> None:
    assert list(labels(pd.Series(list(CLASS_CODES)))) == list(range(len(CLASS_CODES)))


@pytest.mark.dataset
def test_real_split_has_no_lesion_on_both_sides_and_every_class_on_each(real_data: Path) -> None:
    meta = load_metadata(real_data)
    split = lesion_split(meta, val_fraction=0.2, seed=42)
    assert_no_lesion_crosses(split)
    val = split[split["split"] == "val"]
    assert 0.17 < len(val) / len(split) < 0.23
    for code in CLASS_CODES:  # stratified: each class keeps roughly its share on the validation side
        share = (val["dx"] == code).sum() / (split["dx"] == code).sum()
        assert 0.12 < share < 0.28, (code, share)
    assert split.equals(lesion_split(meta, val_fraction=0.2, seed=42)), "the split must be reproducible"


def test_extra_images_are_read_with_their_labels_and_refused_when_incomplete(tmp_path: Path) -> None:
    extra = write_tiny_extra(tmp_path / "isic2019-84", per_class=2)
    rows = load_extra(extra)
    assert len(rows) == 14 and set(rows["source"]) == {"isic2019-84"}
    assert rows["image_id"].str.startswith("ISIC_9").all() and all(p.is_file() for p in rows["path"])
    assert rows["dx"].value_counts().to_dict() == dict.fromkeys(CLASS_CODES, 2)
    next((extra / "images").glob("*.jpg")).unlink()
    with pytest.raises(FileNotFoundError, match="1 images"):
        load_extra(extra)
    (extra / "labels.csv").write_text("name,diagnosis\nISIC_1.jpg,mel\n")
    with pytest.raises(ValueError, match="columns image and dx"):
        load_extra(extra)
