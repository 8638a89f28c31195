"""Split ISIC 2019's non-HAM10000 images by the collection they came from: a test clinic.

HAM10000's validation split cannot say whether images from other clinics help on other clinics,
and the ISIC folder has no lesion ids to validate on by lesion. Its two collections can stand in
for an unseen clinic instead: train on HAM10000 and one, score on the other. They come from
different hospitals on different continents, so no lesion or patient is on both sides. The ISIC
number tells them apart (HAM10000 took ISIC_0024306 to ISIC_0034320):

- `msk`: the numbers below HAM10000's, the ISIC archive's older images (ISIC 2019 lists them as
  MSK, Memorial Sloan Kettering, New York); only nv, mel and bkl;
- `bcn20000`: the numbers above, BCN_20000 (Hospital Clinic Barcelona); all seven classes.

    python -m skinlesion.analysis.clinic_split --out-dir runs/clinics
    python train.py --extra-data runs/clinics/bcn20000 ...           # HAM10000 + Barcelona
    python -m skinlesion.analysis.compare MODEL_A RUN_B --images runs/clinics/msk

Each folder gets the rows of its collection in `labels.csv` and a link `images` to the
original images: nothing is copied.
"""

import argparse
import re
from pathlib import Path

import pandas as pd

from skinlesion import paths
from skinlesion.dataset import EXTRA_LABELS_FILE

HAM10000_NUMBERS = range(24306, 34321)  # ISIC_0024306 .. ISIC_0034320
CLINICS = ("msk", "bcn20000")


def clinic(image: str) -> str:
    """The collection an ISIC 2019 image belongs to, from its ISIC number (e.g.
    `ISIC_0000017_downsampled.jpg` -> `msk`); a HAM10000 number or another name is refused."""
    found = re.fullmatch(r"ISIC_(\d{7})(_downsampled)?(\.jpe?g)?", image)
    if found is None:
        raise ValueError(f"{image!r} is not an ISIC image name (ISIC_NNNNNNN.jpg)")
    number = int(found.group(1))
    if number in HAM10000_NUMBERS:
        raise ValueError(f"{image} is a HAM10000 image; this split is for the images outside it")
    return CLINICS[0] if number < HAM10000_NUMBERS.start else CLINICS[1]


def write_clinic_folders(data_dir: Path, out_dir: Path) -> dict[str, pd.DataFrame]:
    """One folder per collection under `out_dir`, each shaped like `data_dir` (labels.csv and
    images/), so `train.py --extra-data` and `compare --images` take it as they take the whole."""
    rows = pd.read_csv(data_dir / EXTRA_LABELS_FILE)
    by_clinic = {name: group for name, group in rows.groupby(rows["image"].map(clinic))}
    for name, group in by_clinic.items():
        folder = out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        group.to_csv(folder / EXTRA_LABELS_FILE, index=False)
        link = folder / "images"
        if link.is_symlink():
            link.unlink()
        link.symlink_to((data_dir / "images").resolve(), target_is_directory=True)
    return by_clinic


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "data_dir",
        type=Path,
        nargs="?",
        default=paths.default_extra_data_dir(),
        help="ISIC 2019's non-HAM10000 folder (labels.csv, images/; default: $ISIC2019_DIR)",
    )
    p.add_argument("--out-dir", type=Path, default=Path("runs/clinics"), help="where the folders go")
    args = p.parse_args()
    for name, group in write_clinic_folders(args.data_dir, args.out_dir).items():
        counts = ", ".join(f"{dx} {n}" for dx, n in group["dx"].value_counts().items())
        print(f"{args.out_dir / name}: {len(group)} images ({counts})")


if __name__ == "__main__":
    main()
