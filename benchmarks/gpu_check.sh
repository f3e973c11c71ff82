#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py says what it measures), from the repository's root:
#     bash benchmarks/gpu_prepare.sh           # first, on the machine with the project's .venv
#     bash benchmarks/gpu_check.sh [--out DIR] # on the GPU machine: its own Python and PyTorch
#     bash benchmarks/gpu_check.sh --dry-run   # anywhere: tiny sizes on the CPU (CI runs it)
# Wheels in .whl/ (torch-fidelity: the GPU machine has no network and no such package) are installed
# beside that machine's Python, not into it. Then one line says whether this Python has what the
# check needs, and the check runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
if [[ -d .whl ]] && ! "$PY" -c "import torch_fidelity" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gpu_check_site .whl/*.whl
  export PYTHONPATH="/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" - "$@" <<'PY'
import importlib, sys
dry = "--dry-run" in sys.argv[1:]
have, missing = [f"python {sys.version.split()[0]}"], []
if sys.version_info < (3, 11):
    missing.append("Python >= 3.11 (tomllib)")
for module, name in (("torch", "torch"), ("torchvision", "torchvision"), ("torch_fidelity", "torch-fidelity"),
                     ("matplotlib", "matplotlib"), ("tqdm", "tqdm"), ("PIL", "pillow"), ("scipy", "scipy")):
    try:
        have.append(f"{name} {getattr(importlib.import_module(module), '__version__', '?')}")
    except Exception:
        missing.append(name + (" (bash benchmarks/gpu_prepare.sh here, carry .whl)" if module == "torch_fidelity" else ""))
cuda = "torch" not in missing and importlib.import_module("torch").cuda.is_available()
if cuda:
    torch = importlib.import_module("torch")
    have.append(f"CUDA {torch.version.cuda} on {torch.cuda.get_device_name(0)}")
elif not dry:
    missing.append("a CUDA GPU (or --dry-run)")
if missing:
    print(f"gpu_check: missing {', '.join(missing)}; found {', '.join(have)}", file=sys.stderr)
    sys.exit(2)
print(f"gpu_check: ready: {', '.join(have)}")
PY
exec "$PY" benchmarks/gpu_check.py "$@"
