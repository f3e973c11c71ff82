#!/usr/bin/env bash
# The imagenet128 preset end to end on one GPU, in a few minutes (Chapter 7's smoke path at full size):
#   1. 600 generated JPEGs (the built-in shapes at 128x128, mixed sizes, odd files planted) prepared
#      into a store by `minisagan prepare`;
#   2. `minisagan train --preset imagenet128` from that store for 300 steps: the paper's model
#      (width 64, batch 256, attention at 64, bf16 + torch.compile, channels_last) fed by the store's
#      loader; metrics.csv logs images per second, the log the peak GPU memory;
#   3. the same for --attention 32 (the official code's feat32).
# Usage: OUT=some/folder bash benchmarks/gpu_imagenet128.sh   (from the repository's root)
set -u
OUT=${OUT:-gpu_imagenet128}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
WORK=$(mktemp -d)
{
  date -u +"date %Y-%m-%dT%H:%M:%SZ"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "from minisagan.data.jpeg_folder import write_jpeg_folder as w; print(w('$WORK/train', per_class=60))"
  python3 -m minisagan prepare "$WORK/train" "$WORK/store128" --resolution 128 --quiet
} 2>&1 | tee "$OUT/log.txt"
for attention in 64 32; do
  timeout 240 python3 -m minisagan train --preset imagenet128 --data "$WORK/store128" --steps 300 \
    --attention $attention --eval-every 0 --sample-every 300 --checkpoint-every 300 --keep-every 300 \
    --log-every 10 --run-dir "$WORK/feat$attention" --quiet 2>&1 | tee -a "$OUT/log.txt"
  cp "$WORK/feat$attention/metrics.csv" "$OUT/metrics_feat$attention.csv"
  cp "$WORK/feat$attention/samples/latest.png" "$OUT/samples_feat$attention.png" 2>/dev/null
  python3 - "$OUT/metrics_feat$attention.csv" <<'PY' | tee -a "$OUT/log.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
late = [float(r["images_per_s"]) for r in rows if int(r["step"]) > 100]
print(f"{sys.argv[1]}: median {sorted(late)[len(late) // 2]:.0f} images/s after step 100 "
      f"({sorted(late)[len(late) // 2] / 256:.2f} iterations/s; 1M steps in "
      f"{1e6 * 256 / sorted(late)[len(late) // 2] / 3600:.0f} h)")
PY
done
ls -la "$OUT"
