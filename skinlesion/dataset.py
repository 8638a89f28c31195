"""HAM10000 on disk: metadata, where each image is, the lesion-aware split, and decoded images.

Several images often show the same lesion; a split that puts one lesion on both sides
measures memory, not diagnosis. The split is therefore by `lesion_id`, stratified by `dx`.
"""

import functools
import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.model_selection import StratifiedGroupKFold
from tqdm import tqdm

from skinlesion.classes import CLASS_CODES
from skinlesion.image.decode import ORIENTATION_TAG, TRANSPOSING_ORIENTATIONS, decode_image
from skinlesion.image.preprocessing import Preprocessor

METADATA_FILE = "HAM10000_metadata.csv"
# More labelled dermoscopy from other clinics (ISIC 2019's non-HAM10000 part): `image,dx` rows,
# the files in images/. It has no lesion ids, so it only ever joins the training side.
EXTRA_LABELS_FILE = "labels.csv"
# A split file names images and their side only: labels and lesions come from the user's own
# metadata, so a committed split carries none of the dataset.
SPLIT_COLUMNS = ["image_id", "split"]


def load_metadata(data_dir: Path) -> pd.DataFrame:
    """The metadata with a `path` column, finding each image by `image_id` in any subfolder.

    So both this project's `images/` folder and the original release's
    `HAM10000_images_part_1/` and `_part_2/` folders work.
    """
    meta = pd.read_csv(data_dir / METADATA_FILE)
    unknown = set(meta["dx"]) - set(CLASS_CODES)
    if unknown:
        raise ValueError(f"{data_dir / METADATA_FILE} has diagnoses outside {CLASS_CODES}: {sorted(unknown)}")
    found = {p.stem: p for p in data_dir.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}}
    missing = sorted(set(meta["image_id"]) - set(found))
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} images of the metadata are not under {data_dir}, e.g. {missing[:3]}"
        )
    meta["path"] = meta["image_id"].map(found)
    return meta


def load_extra(data_dir: Path) -> pd.DataFrame:
    """Extra training images as `image_id, dx, path, source` (source: the folder's name).

    Without lesion ids one lesion may appear several times, so these images can never be
    validated on: they are added to the training side of the HAM10000 split only.
    """
    rows = pd.read_csv(data_dir / EXTRA_LABELS_FILE)
    if not {"image", "dx"} <= set(rows.columns):
        raise ValueError(f"{data_dir / EXTRA_LABELS_FILE} needs the columns image and dx")
    unknown = set(rows["dx"]) - set(CLASS_CODES)
    if unknown:
        raise ValueError(
            f"{data_dir / EXTRA_LABELS_FILE} has diagnoses outside {CLASS_CODES}: {sorted(unknown)}"
        )
    paths = rows["image"].map(lambda name: data_dir / "images" / name)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} images of {data_dir / EXTRA_LABELS_FILE} are missing, e.g. {missing[:3]}"
        )
    return pd.DataFrame(
        {"image_id": rows["image"].map(lambda name: Path(name).stem), "dx": rows["dx"], "path": paths}
    ).assign(source=data_dir.name)


def lesion_split(meta: pd.DataFrame, val_fraction: float, seed: int) -> pd.DataFrame:
    """`image_id, lesion_id, dx, split` with split "train" or "val"; no lesion on both sides."""
    n_folds = round(1 / val_fraction)
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    _, val_index = next(folds.split(meta, meta["dx"], groups=meta["lesion_id"]))
    split = meta[["image_id", "lesion_id", "dx"]].copy()
    split["split"] = "train"
    split.iloc[val_index, split.columns.get_loc("split")] = "val"
    return split


def subsample_lesions(meta: pd.DataFrame, per_class: int, seed: int) -> pd.DataFrame:
    """Whole lesions drawn at random until each class has about `per_class` images.

    For quick runs (notebooks, smoke tests): the subset is still split by lesion, and a lesion
    is never cut in two, so its images stay on one side.
    """
    rng = np.random.default_rng(seed)
    keep: list[str] = []
    for _, rows in meta.groupby("dx"):
        sizes = rows.groupby("lesion_id").size()
        lesions = sizes.index.to_numpy()[rng.permutation(len(sizes))]
        counts = sizes[lesions].cumsum().to_numpy()
        keep += list(lesions[: int(np.searchsorted(counts, per_class)) + 1])
    return meta[meta["lesion_id"].isin(keep)].reset_index(drop=True)


def write_split(split: pd.DataFrame, path: Path) -> None:
    split[SPLIT_COLUMNS].to_csv(path, index=False)


def read_split(path: Path) -> pd.DataFrame:
    split = pd.read_csv(path)
    missing = set(SPLIT_COLUMNS) - set(split.columns)
    if missing:
        raise ValueError(f"{path} is not a split file: no column {sorted(missing)}")
    if not split["split"].isin(["train", "val"]).all():
        raise ValueError(f"{path}: the split column may only hold 'train' and 'val'")
    return split[SPLIT_COLUMNS]


def labels(dx: pd.Series) -> np.ndarray:
    """Class indices in model output order."""
    return dx.map({code: i for i, code in enumerate(CLASS_CODES)}).to_numpy(dtype=np.int64)


def load_image(path: Path, preprocessor: Preprocessor) -> np.ndarray:
    """One file as the resized uint8 HxWx3 array: the serving side's decode (and pixel limit) and resize."""
    return preprocessor.resized_array(decode_image(Path(path).read_bytes()))


def common_image_size(paths: list[Path]) -> tuple[int, int] | None:
    """The (width, height) that every image shows, read from the file headers; None if they differ.

    For the model card's `source_size`: the detail level the model learnt, which a larger photo is
    reduced to before it is served (HAM10000's copies here are all 200x150)."""
    sizes = set()
    for path in paths:
        with Image.open(path) as img:
            width, height = img.size
            if img.getexif().get(ORIENTATION_TAG) in TRANSPOSING_ORIENTATIONS:
                width, height = height, width
        sizes.add((width, height))
        if len(sizes) > 1:
            return None
    return sizes.pop() if sizes else None


@functools.cache
def _pillow_luma_table(quality: int) -> tuple[int, ...]:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as img:
        return tuple(img.quantization[0])


def common_jpeg_quality(paths: list[Path]) -> int | None:
    """The JPEG quality every image was stored at, as the quality whose luminance table Pillow
    writes (HAM10000's copies: 75); None if an image is not a JPEG or the tables differ.

    For the model card's `source_jpeg_quality`: a photo reduced to the training images' size is
    compressed as they were, since the model learnt with their artefacts."""
    tables = set()
    for path in paths:
        with Image.open(path) as img:
            if img.format != "JPEG":
                return None
            tables.add(tuple(img.quantization[0]))
        if len(tables) > 1:
            return None
    if not tables:
        return None
    table = tables.pop()
    return next((q for q in range(1, 101) if _pillow_luma_table(q) == table), None)


def load_images(paths: list[Path], preprocessor: Preprocessor, desc: str = "images") -> np.ndarray:
    """All files as one uint8 (N, H, W, 3) array; augmentation and scaling come later."""
    width, height = preprocessor.spec.input_size
    out = np.empty((len(paths), height, width, 3), dtype=np.uint8)
    for i, path in enumerate(tqdm(paths, desc=f"decoding {desc}", unit="img")):
        out[i] = load_image(path, preprocessor)
    return out
