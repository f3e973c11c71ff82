"""Which recipe makes the cpu profile's SAGAN draw the class it is asked for? A sweep of short runs of
the cpu profile's SAGAN (32x32, attention at 16), several configurations and seeds at once.

    python benchmarks/sweep_cpu_recipe.py --out DIR [--device cuda] [--parallel 15] [--deadline 270]
    python benchmarks/sweep_cpu_recipe.py --out DIR --device cpu --parallel 1 --configs ema --seeds 0 --steps 1800
    python benchmarks/sweep_cpu_recipe.py --out DIR --device cpu --parallel 1 --configs default --seeds 0 1 2 \
        --preset-sizes --deadline 5000       # the default run itself, three seeds

Every run is `minisagan train --profile cpu` with the configuration's changes, evaluated every
`--eval-every` steps on 1,000 samples (with `--preset-sizes`: as the preset says) (FID and KID on shape features, consistency, class accuracy,
hues present). On a GPU many runs share the card, one process each (one CPU thread per process);
the numbers are the CPU's up to float rounding, the times are not (`bench_training.py` gives the
CPU's seconds per step). Runs still going at the deadline are stopped; what they logged is kept.
Writes DIR/sweep_eval.csv (every evaluation of every run), DIR/sweep_metrics.csv (every logged
step: losses and D's scores) and DIR/samples.tar.gz (each run's last samples).
"""

import argparse
import csv
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

BASE = {"steps": 4000, "eval_every": 400, "sample_every": 400, "checkpoint_every": 4000, "eval_samples": 1000}
# The paper's recipe at the cpu profile's size until 2026-12-01 (width 32, TTUR, no average of G); every
# configuration names its changes to it, so a name keeps its meaning when the profile's preset changes.
PAPER = {"width": 32, "lr_g": 1e-4, "lr_d": 4e-4, "ema_decay": 0.0, "ema_start": 0}
EMA = {"ema_decay": 0.999, "ema_start": 500}
CONFIGS = {  # name -> the configuration's changes to the cpu profile's preset
    "default": {},  # the cpu profile's preset as it stands
    "paper": PAPER,
    "ema": {**PAPER, **EMA},
    "ema_lr2e-4": {**PAPER, **EMA, "lr_g": 2e-4, "lr_d": 2e-4},
    "ema_lrg2e-4": {**PAPER, **EMA, "lr_g": 2e-4},
    "ema_lrg4e-4": {**PAPER, **EMA, "lr_g": 4e-4},
    "ema_batch64": {**PAPER, **EMA, "batch_size": 64},
    # a narrower model (width 16: 0.14 s per step against 0.35 at width 32 on 2 cores) for more steps
    "w16_lr4e-4": {**PAPER, **EMA, "width": 16, "lr_g": 4e-4},
    "w16_lrg8e-4": {**PAPER, **EMA, "width": 16, "lr_g": 8e-4},
    "w16_lr4e-4_b64": {**PAPER, **EMA, "width": 16, "lr_g": 4e-4, "batch_size": 64},
    "w16_lrg4e-4_lrd2e-4": {**PAPER, **EMA, "width": 16, "lr_g": 4e-4, "lr_d": 2e-4},
    "w16_lrd8e-4": {**PAPER, **EMA, "width": 16, "lr_g": 4e-4, "lr_d": 8e-4},
}
SEEDS = (0, 1, 2)


def command(name: str, seed: int, out: Path, device: str, base: dict) -> list[str]:
    changes = {**base, **CONFIGS[name], "seed": seed, "device": device, "run_dir": str(out / "runs" / f"{name}_s{seed}")}
    flags = [item for key, value in changes.items() for item in (f"--{key.replace('_', '-')}", str(value))]
    return [sys.executable, "-m", "minisagan", "train", "--profile", "cpu", "--quiet", *flags]


def merge(out: Path, log: str, target: str) -> None:
    rows, columns = [], ["config", "seed"]
    for run in sorted((out / "runs").iterdir()):
        path = run / log
        if not path.exists():
            continue
        name, seed = run.name.rsplit("_s", 1)
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            columns += [c for c in reader.fieldnames or [] if c not in columns]
            rows += [{"config": name, "seed": seed, **row} for row in reader]
    with open(out / target, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--parallel", type=int, default=15)
    parser.add_argument("--deadline", type=float, default=270, help="seconds until every run is stopped")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--steps", type=int, default=BASE["steps"])
    parser.add_argument("--eval-every", type=int, default=BASE["eval_every"])
    parser.add_argument("--preset-sizes", action="store_true",
                        help="keep the preset's steps and evaluation (the default run itself, seed by seed)")
    parser.add_argument("--merge-only", action="store_true", help="only gather DIR/runs/* into the CSVs")
    args = parser.parse_args()
    base = {} if args.preset_sizes else {**BASE, "steps": args.steps, "eval_every": args.eval_every,
                                         "sample_every": args.eval_every, "checkpoint_every": args.steps}
    (args.out / "runs").mkdir(parents=True, exist_ok=True)
    # fp32 means fp32, as on a CPU; on a GPU one CPU thread per run (on a CPU: torch's own choice)
    env = {**os.environ, "NVIDIA_TF32_OVERRIDE": "0", **({"OMP_NUM_THREADS": "1"} if args.device != "cpu" else {})}
    queue = [] if args.merge_only else [(name, seed) for seed in args.seeds for name in args.configs]
    running, start = [], time.time()
    while (queue or running) and time.time() - start < args.deadline:
        while queue and len(running) < args.parallel:
            name, seed = queue.pop(0)
            running.append(subprocess.Popen(command(name, seed, args.out, args.device, base), env=env,
                                            stdout=subprocess.DEVNULL, stderr=open(args.out / f"{name}_s{seed}.err", "w")))
        time.sleep(2)
        running = [p for p in running if p.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        process.wait()
    print(f"sweep: {time.time() - start:.0f} s, {len(running)} runs stopped at the deadline, {len(queue)} never started")
    merge(args.out, "eval.csv", "sweep_eval.csv")
    merge(args.out, "metrics.csv", "sweep_metrics.csv")
    with tarfile.open(args.out / "samples.tar.gz", "w:gz") as tar:
        for run in sorted((args.out / "runs").iterdir()):
            if (run / "samples" / "latest.png").exists():
                tar.add(run / "samples" / "latest.png", arcname=f"{run.name}.png")
        for err in sorted(args.out.glob("*.err")):
            tar.add(err, arcname=f"logs/{err.name}")


if __name__ == "__main__":
    main()
