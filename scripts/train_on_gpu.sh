#!/usr/bin/env bash
# On the lent GPU machine (the `device` tool), from the repository root: train.py's runs listed in
# .gpu/runs.txt, all at once on the one GPU, Keras 3 on JAX (that machine has no TensorFlow).
#
# .gpu/ comes from scripts/prepare_gpu_run.sh and travels with the call (carry: [".gpu"]).
# .gpu/runs.txt holds one run per line: NAME then train.py options, e.g.
#     bn-s42 --split models/skin-lesion-class_v3_split.csv --train-batchnorm --fine-tune-epochs 20
# Each run is stopped after BUDGET_S seconds (default 480) and is resumable from its folder.
# Back in $OUT: NAME.h5 (each run's best checkpoint) and runs.tar.gz (every run folder without
# its checkpoints and training state, plus the logs); convert_model.py turns an .h5 into the
# served model here, on the CPU machine.
set -uo pipefail
budget=${BUDGET_S:-480}
out=${OUT:-/tmp/gpu-out}
runs=/tmp/gpu-runs
mkdir -p "$runs" "$out"

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/wheels/*.whl || exit
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
export HAM10000_DIR=$PWD/.gpu/ham10000
python3 -c "import jax, keras; print('keras', keras.__version__, 'jax', jax.__version__, jax.devices())" || exit
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

weights=$(ls .gpu/*.pth | head -1)
while read -r name options; do
    [ -z "$name" ] && continue
    # shellcheck disable=SC2086  # the options are words on purpose
    timeout "$budget" python3 train.py --out-dir "$runs/$name" --weights "$weights" $options \
        </dev/null >"$runs/$name.log" 2>&1 &
    echo "started $name: $options"
done <.gpu/runs.txt

started=$SECONDS
while [ -n "$(jobs -r)" ]; do
    sleep 60
    echo "--- $((SECONDS - started)) s"
    for log in "$runs"/*.log; do
        echo "$(basename "$log" .log): $(grep -a "^epoch" "$log" | tail -1)"
    done
done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader

for dir in "$runs"/*/; do
    name=$(basename "$dir")
    best=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['best']['path'] or '')" \
        "$dir/state.json" 2>/dev/null)
    if [ -f "$dir/best.h5" ]; then cp "$dir/best.h5" "$out/$name.h5"
    elif [ -n "$best" ]; then cp "$dir/$best" "$out/$name.h5"; fi
    echo "$name: $(grep -a "balanced accuracy" "$runs/$name.log" | tail -1)"
done
tar -czf "$out/runs.tar.gz" -C "$runs" --exclude="*.h5" --exclude="training_state" .
ls -la "$out"
