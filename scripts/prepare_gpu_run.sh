#!/usr/bin/env bash
# Here, before a call of the lent GPU machine: fill .gpu/ (git-excluded, never committed) with
# what train.py needs there and that machine lacks (it has JAX but no TensorFlow, no Keras, no
# internet): the data, the pinned ImageNet weights, and Keras with its pure-Python companions
# as Python 3.12 wheels. scripts/train_on_gpu.sh runs there on what this leaves.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${HAM10000_DIR:-../shared/data/ham10000}
mkdir -p .git/info .gpu/wheels .gpu/ham10000
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >>.git/info/exclude

cp "$data/HAM10000_metadata.csv" .gpu/ham10000/
rm -rf .gpu/ham10000/images && cp -r "$data/images" .gpu/ham10000/
.venv/bin/python -c "
import shutil
from skinlesion.training.offline_weights import mobilenet_v2_pth
shutil.copy(mobilenet_v2_pth(), '.gpu/')"

keras_version=$(.venv/bin/python -c "import keras; print(keras.__version__)")
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu/wheels "keras==$keras_version" namex optree
du -sh --apparent-size .gpu
