#!/usr/bin/env bash
# What only a GPU can measure, in one short session (about 6 minutes on one H200):
#   1. training throughput of the paper's 128x128 SAGAN at batch 256: eager fp32 against bf16 and
#      bf16 + torch.compile, with peak GPU memory (benchmarks/bench_training.py --gpu-only);
#   2. a short gpu-profile run of the default SAGAN on the built-in data (32x32, ch 64, batch 256,
#      bf16 + compile, EMA of G), whose logged curves the book plots beside the cpu runs.
# Usage: OUT=some/folder bash benchmarks/gpu_session.sh   (run from the repository's root)
set -u
OUT=${OUT:-gpu_session}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{
  date -u +"date %Y-%m-%dT%H:%M:%SZ"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)"
} 2>&1 | tee "$OUT/bench_training_gpu.txt"
timeout 400 python3 benchmarks/bench_training.py --gpu-only --feats 32 2>&1 | tee -a "$OUT/bench_training_gpu.txt"
RUN=$(mktemp -d)/gpu_run
timeout 180 python3 -m minisagan train --profile gpu --steps 2000 --eval-every 250 --sample-every 500 \
  --checkpoint-every 1000 --run-dir "$RUN" --quiet 2>&1 | tee "$OUT/train_log.txt"
for f in metrics.csv eval.csv curves.png; do cp "$RUN/$f" "$OUT/" 2>/dev/null; done
cp "$RUN/samples/latest.png" "$OUT/samples.png" 2>/dev/null
cp "$RUN/attention/latest.png" "$OUT/attention.png" 2>/dev/null
ls -la "$OUT"
