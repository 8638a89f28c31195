"""config.TrainConfig: the resolved config written into a run folder reads back as the same config."""

import json
from pathlib import Path

import pytest

from skinlesion.training.config import TrainConfig


def test_config_survives_its_json_round_trip(tmp_path: Path) -> None:
    config = TrainConfig(
        split=Path("models/x_split.csv"),
        input_size=(320, 240),
        source_size=(100, 75),
        teacher=(tmp_path / "a", tmp_path / "b"),
        out_dir=tmp_path,
    )
    back = TrainConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert back == config
    assert back.teacher == (tmp_path / "a", tmp_path / "b") and back.input_size == (320, 240)
    assert back.source_size == (100, 75)


def test_strings_and_lists_become_paths_and_tuples() -> None:
    config = TrainConfig(
        data_dir="d", out_dir="o", split="s.csv", input_size=[64, 48], source_size=[32, 24], teacher=["t"]
    )
    assert (config.data_dir, config.out_dir, config.split) == (Path("d"), Path("o"), Path("s.csv"))
    assert config.input_size == (64, 48) and config.source_size == (32, 24) and config.teacher == (Path("t"),)
    assert TrainConfig().split is None and TrainConfig().teacher == () and TrainConfig().source_size is None


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_json({**TrainConfig().to_json(), "learning_rate": 1})


@pytest.mark.parametrize("option", ["mixup_alpha", "cutmix_alpha"])
def test_a_negative_mixing_alpha_is_refused_before_any_work(option: str) -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        TrainConfig(**{option: -0.2})


def test_a_run_from_before_colour_constancy_resumes_without_it(tmp_path: Path) -> None:
    saved = TrainConfig(out_dir=tmp_path).to_json()
    assert saved.pop("color_constancy") == "shades_of_gray"  # the default since model 2.3
    assert TrainConfig.from_json(saved).color_constancy == "none"
