#!/usr/bin/env bash
# Before a GPU lease, on the machine with the project's .venv (from the repository's root): what the
# GPU machine cannot make itself. It has its own Python and PyTorch, no network, no jupytext.
#   .whl/                 wheels it lacks (benchmarks/gpu_wheels.sh: torch-fidelity)
#   _build/gpu_chapters/  every chapter as a Python script (benchmarks/gpu_chapters.py --convert)
# Both are ignored by git: carry them (the device tool's `carry: [".whl", "_build/gpu_chapters"]`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash benchmarks/gpu_wheels.sh
.venv/bin/python benchmarks/gpu_chapters.py --convert _build/gpu_chapters
echo "gpu_prepare: ready; on the GPU machine: bash benchmarks/gpu_check.sh --out \$OUT"
