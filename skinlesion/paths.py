"""Where the repository's own folders and the HAM10000 data are: defined once, derived everywhere.

In the Lambda image the package sits in `/var/task/skinlesion` beside `/var/task/models`, so the
same rule finds the shipped model there.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "models"
# The shipped model: its card, Keras file, split and quantized variant are named after it
# (`.json`, `.h5`, `_split.csv`, `_dynamic.tflite`); the Dockerfile copies the `.tflite` and `.json`.
DEFAULT_MODEL_PATH = MODELS_DIR / "skin-lesion-class_v3.tflite"

# What a `train.py` run folder holds. The split and the best checkpoint's validation probabilities
# (metadata order) are also read back by `skinlesion.analysis.compare`, without TensorFlow (only
# its --images runs the checkpoint itself).
RUN_CONFIG_FILE = "config.json"  # the resolved options, read back by --resume
RUN_SPLIT_FILE = "split.csv"
RUN_STATE_FILE = "state.json"  # epoch, schedule position, RNG state, history
RUN_STATE_DIR = "training_state"  # the model and optimizer state of the last epoch
RUN_TEACHER_PROBABILITIES_FILE = "teacher_probabilities.npy"
RUN_BEST_MODEL_FILE = "best.h5"
RUN_VAL_PROBABILITIES_FILE = "val_probabilities.npy"
RUN_SUMMARY_FILE = "training_summary.json"  # metrics and preprocessing, turned into the model card

DATA_DIR_ENV = "HAM10000_DIR"
EXTRA_DATA_DIR_ENV = "ISIC2019_DIR"
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def default_data_dir() -> Path:
    """`$HAM10000_DIR`, else the shared data beside the repository (../shared/data/ham10000)."""
    return Path(os.environ.get(DATA_DIR_ENV) or SHARED_DATA_DIR / "ham10000")


def default_extra_data_dir() -> Path:
    """`$ISIC2019_DIR`, else ISIC 2019's non-HAM10000 images beside the repo (../shared/data/isic2019-84)."""
    return Path(os.environ.get(EXTRA_DATA_DIR_ENV) or SHARED_DATA_DIR / "isic2019-84")
