#!/usr/bin/env bash
# The wheels the GPU machine lacks, downloaded into .whl/ (ignored by git) for the device tool's `carry`.
# That machine has Python 3.12 with PyTorch, torchvision, numpy, scipy, Pillow, matplotlib and tqdm, and
# no network; of the package's needs it lacks only torch-fidelity (a pure-Python wheel, the version
# pyproject.toml pins; its own requirements are all there, so --no-deps). Run from the repository's root:
#     bash benchmarks/gpu_wheels.sh            # idempotent: a wheel already there is kept
#     bash benchmarks/gpu_wheels.sh --dry-run  # only say what it would fetch (no network)
# and there, before running anything:
#     python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
#     export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail
PYTHON=${PYTHON:-python3}
DEST=.whl
DRY_RUN=0
[[ ${1:-} == --dry-run ]] && DRY_RUN=1

pinned() {  # the version pyproject.toml pins for a distribution, e.g. `pinned torch-fidelity` -> 0.4.0
  sed -n "s/^ *\"$1==\([^\"]*\)\".*/\1/p" pyproject.toml | head -n 1
}

fetch() {  # fetch NAME VERSION: one wheel for CPython 3.12 on x86-64 Linux, unless that version is there
  local name=$1 version=$2 file=${1//-/_}
  local have=("$DEST/$file"-"$version"-*.whl)
  if [[ -e ${have[0]} ]]; then
    echo "have    ${have[0]}"
    return
  fi
  if (( DRY_RUN )); then
    echo "would fetch $name==$version into $DEST/"
    return
  fi
  mkdir -p "$DEST"
  rm -f "$DEST/$file"-*.whl  # another version: two stop the install there
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEST" "$name==$version"
  have=("$DEST/$file"-"$version"-*.whl)
  echo "fetched ${have[0]} ($(du -h "${have[0]}" | cut -f1))"
  unzip -p "${have[0]}" '*/METADATA' | sed -n 's/^Requires-Dist: /        needs /p' | grep -v "extra ==" || true
}

version=$(pinned torch-fidelity)
[[ -n $version ]] || { echo "pyproject.toml pins no torch-fidelity" >&2; exit 1; }
fetch torch-fidelity "$version"
(( DRY_RUN )) || echo "in $DEST: $(ls "$DEST" | tr '\n' ' ')($(du -sh "$DEST" | cut -f1))"
