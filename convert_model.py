"""Convert a trained Keras model (.h5 or .keras) to TFLite, check it on real validation images,
and write its model card (JSON beside the .tflite) for the serving side.
"""

import argparse
import logging
import sys
from pathlib import Path

from skinlesion.conversion.export import ExportConfig, export
from skinlesion.conversion.tflite import QUANTIZATIONS
from skinlesion.model_card import MODEL_VERSION
from skinlesion.paths import (
    DATA_DIR_ENV,
    EXTRA_DATA_DIR_ENV,
    RUN_SPLIT_FILE,
    RUN_SUMMARY_FILE,
    default_data_dir,
    default_extra_data_dir,
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", type=Path, help="trained Keras model, .h5 or .keras")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output .tflite; the card goes beside it with .json (default: the model's path with "
        ".tflite, or _<quantize>.tflite for a quantized variant)",
    )
    p.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        default="none",
        help="none: float32; dynamic: int8 weights; float16: float16 weights; int8: weights and "
        "activations, calibrated on training images (input and output stay float32)",
    )
    p.add_argument(
        "--summary",
        type=Path,
        default=None,
        help=f"the run's {RUN_SUMMARY_FILE} (preprocessing, architecture, metrics for the card); "
        "default: beside the model",
    )
    p.add_argument(
        "--split",
        type=Path,
        default=None,
        help=f"split CSV whose validation images check the conversion; default: {RUN_SPLIT_FILE} beside "
        "the summary",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help=f"HAM10000 folder (default: ${DATA_DIR_ENV}, else ../shared/data/ham10000)",
    )
    p.add_argument("--version", default=MODEL_VERSION, help="model version written into the card")
    p.add_argument(
        "--check-images",
        type=int,
        default=0,
        help="validation images to compare Keras and TFLite on; 0 for all",
    )
    p.add_argument(
        "--ood-train-images",
        type=int,
        default=0,
        help="training images the out-of-distribution detector is fitted on; 0 for all",
    )
    p.add_argument(
        "--extra-data",
        type=Path,
        default=default_extra_data_dir(),
        help="other clinics' dermoscopy (the ISIC 2019 folder train.py --extra-data takes) that the "
        f"out-of-distribution detector learns to leave unflagged (default: ${EXTRA_DATA_DIR_ENV}, else "
        "../shared/data/isic2019-84); used only if the folder exists, and named in the card's licence",
    )
    p.add_argument(
        "--representative-images",
        type=int,
        default=200,
        help="training images that calibrate int8 quantization",
    )
    return p.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)  # progress bars: stderr
    suffix = ".tflite" if args.quantize == "none" else f"_{args.quantize}.tflite"
    out = args.out or args.model.with_name(args.model.stem + suffix)
    summary = args.summary or args.model.with_name(RUN_SUMMARY_FILE)
    split = args.split or summary.with_name(RUN_SPLIT_FILE)
    export(
        ExportConfig(
            model=args.model,
            out=out,
            summary=summary,
            split=split,
            data_dir=args.data_dir,
            quantize=args.quantize,
            version=args.version,
            check_images=args.check_images,
            representative_images=args.representative_images,
            ood_train_images=args.ood_train_images,
            extra_data=args.extra_data if args.extra_data.is_dir() else None,
        )
    )


if __name__ == "__main__":
    main()
