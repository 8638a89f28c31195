"""bench/install_size.py counts a distribution and everything it requires."""

from bench.install_size import install_size


def test_install_size_follows_requirements_and_names_what_is_missing() -> None:
    size = install_size(["ai-edge-litert", "pillow", "no-such-distribution"])
    assert {"ai-edge-litert", "numpy", "pillow"} <= set(size["distributions"])  # numpy: required
    assert size["missing"] == ["no-such-distribution"]
    assert size["mb"] > 10
