#!/usr/bin/env bash
# The GPU benchmark in one call: install the carried wheels (bench/gpu/prepare.sh), then run
# bench/gpu/bench.py. Its last line is one JSON object.
#   bench/gpu/run.sh            # on a machine with one NVIDIA GPU (about 6 minutes on an H200)
#   bench/gpu/run.sh --tiny     # the same code on a tiny model, on CPU (what the test runs)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
# --tiny runs with the project's environment: $PYTHON when set (the test passes its own), else .venv's
if [ "${1:-}" = "--tiny" ] && [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
elif [ "${1:-}" = "--tiny" ]; then
  :
elif ls bench/gpu/wheels/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/tunesmith-gpu-site bench/gpu/wheels/*.whl
  export PYTHONPATH=/tmp/tunesmith-gpu-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$PY" bench/gpu/bench.py "$@"
