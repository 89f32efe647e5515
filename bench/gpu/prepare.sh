#!/usr/bin/env bash
# Fetch the wheels bench/gpu/run.sh installs on a GPU machine that has torch, transformers, peft and
# accelerate but no network (the lent H200's image): TRL and what it needs that the image lacks, pydantic
# for tunesmith's own modules, liger-kernel, and this machine's PEFT (the image's version is not known;
# its transformers 5.17, huggingface_hub 1.33 and accelerate 1.15 ran `run.sh --tiny` here with these) and
# PyArrow (datasets 5 needs a recent one; the image's version is not known either).
# At most 60 MiB (a device call carries 64).
#   bench/gpu/prepare.sh            # writes bench/gpu/wheels/ (git-ignored), prints the total size
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-../../.venv/bin/python}
[ -x "$PY" ] || PY=python3
version() { "$PY" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'; }
rm -rf wheels && mkdir wheels
packages=(
  "trl==$(version trl)" "peft==$(version peft)" "datasets==$(version datasets)" "dill==$(version dill)" "pyarrow==$(version pyarrow)"
  "multiprocess==$(version multiprocess)" "pydantic==$(version pydantic)" "pydantic-core==$(version pydantic-core)"
  "annotated-types==$(version annotated-types)" "typing-inspection==$(version typing-inspection)" "liger-kernel"
)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d wheels "${packages[@]}"
total=$(du -sm wheels | cut -f1)
echo "wheels: $(ls wheels | wc -l) files, ${total} MiB"
[ "$total" -le 60 ] || { echo "over 60 MiB: a device call carries 64 MiB with the working tree" >&2; exit 1; }
