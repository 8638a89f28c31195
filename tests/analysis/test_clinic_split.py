"""`skinlesion.analysis.clinic_split`: ISIC 2019's two collections as folders train.py and compare take."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skinlesion.analysis.clinic_split import clinic, write_clinic_folders
from skinlesion.dataset import EXTRA_LABELS_FILE, load_extra

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ISIC_0000000.jpg", "msk"),
        ("ISIC_0000017_downsampled.jpg", "msk"),
        ("ISIC_0024305.jpg", "msk"),
        ("ISIC_0034321.jpg", "bcn20000"),
        ("ISIC_0073254", "bcn20000"),
    ],
)
def test_the_isic_number_names_the_collection(image: str, expected: str) -> None:
    assert clinic(image) == expected


@pytest.mark.parametrize("image", ["ISIC_0024306.jpg", "ISIC_0030000.jpg", "ISIC_0034320.jpg"])
def test_a_ham10000_image_is_refused(image: str) -> None:
    with pytest.raises(ValueError, match="HAM10000"):
        clinic(image)


@pytest.mark.parametrize("image", ["photo.jpg", "ISIC_123.jpg", "ISIC_0000001.png.jpg"])
def test_a_name_that_is_not_an_isic_image_is_refused(image: str) -> None:
    with pytest.raises(ValueError, match="not an ISIC image name"):
        clinic(image)


def _isic_folder(root: Path, rows: list[tuple[str, str]]) -> Path:
    (root / "images").mkdir(parents=True)
    for name, _ in rows:
        pixels = np.random.default_rng(0).integers(0, 255, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / name)
    (root / EXTRA_LABELS_FILE).write_text(
        "image,dx,isic2019_class\n" + "".join(f"{n},{dx},{dx.upper()}\n" for n, dx in rows)
    )
    return root


def test_each_collection_gets_a_folder_of_its_own_rows_that_load_extra_reads(tmp_path: Path) -> None:
    rows = [
        ("ISIC_0000001.jpg", "mel"),
        ("ISIC_0000002_downsampled.jpg", "nv"),
        ("ISIC_0053469.jpg", "bcc"),
        ("ISIC_0073254.jpg", "mel"),
        ("ISIC_0060000.jpg", "akiec"),
    ]
    data = _isic_folder(tmp_path / "isic", rows)
    out = tmp_path / "clinics"
    written = write_clinic_folders(data, out)
    assert {name: len(group) for name, group in written.items()} == {"msk": 2, "bcn20000": 3}

    msk = load_extra(out / "msk")
    assert list(msk["image_id"]) == ["ISIC_0000001", "ISIC_0000002_downsampled"]
    assert list(msk["dx"]) == ["mel", "nv"]
    assert set(msk["source"]) == {"msk"}  # the per-source prior of train.py tells them apart by it
    assert all(path.is_file() for path in msk["path"])
    bcn = load_extra(out / "bcn20000")
    assert sorted(bcn["dx"]) == ["akiec", "bcc", "mel"]
    assert (out / "bcn20000" / "images").resolve() == (data / "images").resolve()

    again = write_clinic_folders(data, out)  # a second run replaces the link and the labels
    assert {name: len(group) for name, group in again.items()} == {"msk": 2, "bcn20000": 3}


def test_the_command_line_prints_each_folder(tmp_path: Path) -> None:
    data = _isic_folder(tmp_path / "isic", [("ISIC_0000001.jpg", "mel"), ("ISIC_0060000.jpg", "nv")])
    out = tmp_path / "c"
    done = subprocess.run(
        [sys.executable, "-m", "skinlesion.analysis.clinic_split", str(data), "--out-dir", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "msk: 1 images (mel 1)" in done.stdout and "bcn20000: 1 images (nv 1)" in done.stdout
