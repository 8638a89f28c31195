"""Small datasets written on the fly, shaped as the real folders are: HAM10000's release and the
ISIC 2019 extra folder."""

from pathlib import Path

import numpy as np
from PIL import Image

from skinlesion.classes import CLASS_CODES
from skinlesion.dataset import EXTRA_LABELS_FILE, METADATA_FILE


def write_tiny_dataset(root: Path, lesions_per_class: int = 5, images_per_lesion: int = 2) -> Path:
    """Small JPEGs whose colour depends on the class, in the original two-folder release layout."""
    rng = np.random.default_rng(0)
    rows = ["lesion_id,image_id,dx,dx_type,age,sex,localization"]
    n = 0
    for c, code in enumerate(CLASS_CODES):
        for lesion in range(lesions_per_class):
            for _ in range(images_per_lesion):
                folder = root / f"HAM10000_images_part_{1 + n % 2}"
                folder.mkdir(parents=True, exist_ok=True)
                pixels = rng.normal(40 + 30 * c, 20, size=(30, 40, 3)).clip(0, 255).astype(np.uint8)
                image_id = f"ISIC_{n:07d}"
                Image.fromarray(pixels).save(folder / f"{image_id}.jpg", quality=90)
                rows.append(f"HAM_{c:02d}{lesion:05d},{image_id},{code},histo,50.0,male,back")
                n += 1
    (root / METADATA_FILE).write_text("\n".join(rows) + "\n")
    return root


def write_tiny_extra(root: Path, per_class: int = 3, size: int = 12) -> Path:
    """An ISIC-2019-shaped extra folder: `labels.csv` (image,dx) and small square JPEGs in images/,
    coloured by class as the tiny dataset's are, at less detail."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = ["image,dx"]
    for c, code in enumerate(CLASS_CODES):
        for i in range(per_class):
            name = f"ISIC_9{c:02d}{i:04d}.jpg"
            pixels = rng.normal(40 + 30 * c, 20, size=(size, size, 3)).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "images" / name, quality=90)
            rows.append(f"{name},{code}")
    (root / EXTRA_LABELS_FILE).write_text("\n".join(rows) + "\n")
    return root
