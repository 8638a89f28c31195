"""Fixtures for the bench tests: a few full-size JPEGs for the workers to time."""

import pytest

from tests.support.images import jpeg


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("jpegs")
    paths = [folder / f"{seed}.jpg" for seed in range(3)]
    for seed, path in enumerate(paths):
        path.write_bytes(jpeg(600, 450, seed=seed))
    return [str(path) for path in paths]
