"""Train the HAM10000 skin-lesion classifier (transfer learning) into a run folder.

The defaults reproduce the shipped model (docs/training.md). Every epoch of fine-tuning saves
a resumable state: `python train.py --resume runs/NAME` continues an interrupted run.
"""

import argparse
import json
import logging
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from skinlesion import paths
from skinlesion.image.preprocessing import COLOR_CONSTANCY, parse_size
from skinlesion.training.backbone import BACKBONES
from skinlesion.training.config import TrainConfig
from skinlesion.training.recipe import run


def optional_path(text: str) -> Path | None:
    return None if text.lower() == "none" else Path(text)


CHOICES = {"backbone": BACKBONES, "augment": ("strong", "light"), "color_constancy": tuple(COLOR_CONSTANCY)}


def parse_args() -> argparse.Namespace:
    """One option per `TrainConfig` field, grouped as the config groups them."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue the interrupted run in RUN_DIR with its own config.json (other options are ignored)",
    )
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in fields(TrainConfig):
        group = groups.setdefault(f.metadata["group"], p.add_argument_group(f.metadata["group"]))
        default = f.default if f.default is not MISSING else None
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(default, bool):
            group.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=f.metadata["help"]
            )
            continue
        if f.name == "teacher":
            group.add_argument(flag, type=Path, nargs="*", default=(), metavar="RUN", help=f.metadata["help"])
            continue
        parse = {
            "input_size": parse_size,
            "source_size": parse_size,
            "split": Path,
            "extra_data": optional_path,
            "init_from": optional_path,
        }.get(f.name) or type(default)
        group.add_argument(
            flag,
            type=parse,
            default=default,
            help=f.metadata["help"],
            **({"choices": CHOICES[f.name]} if f.name in CHOICES else {}),
        )
    return p.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)  # progress bars: stderr
    if args.resume is not None:
        saved = json.loads((args.resume / paths.RUN_CONFIG_FILE).read_text())
        config = TrainConfig.from_json({**saved, "out_dir": str(args.resume)})
        run(config, resume=True)
        return
    run(TrainConfig(**{k: v for k, v in vars(args).items() if k != "resume"}))


if __name__ == "__main__":
    main()
