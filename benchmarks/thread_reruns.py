"""Is a CPU run repeatable, and what does the thread count change? (Chapter 6's thread-count section)

    python benchmarks/thread_reruns.py                     # writes data/reference/thread_count/

Trains the cpu profile's default run (seed 0) for ``--steps`` steps four times, one at a time: twice
with one torch thread, twice with two, logging every 10 steps, and writes every logged row
(``metrics.csv``: run, threads, step, losses, D's scores, gradient norms) and ``about.json`` (the
command, the machine, the date, the seconds, the load average at the start) to
``data/reference/thread_count/``. Runs of one thread count must agree to the last digit; runs of
different counts add the same numbers in another order.
"""

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("step", "loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")
RUNS = (("1 thread, first", 1), ("1 thread, again", 1), ("2 threads, first", 2), ("2 threads, again", 2))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "reference" / "thread_count")
    args = parser.parse_args(argv)
    start, load = time.time(), os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="thread-reruns-") as work:
        for index, (name, threads) in enumerate(RUNS):
            run = Path(work) / f"run{index}"
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
            subprocess.run([sys.executable, "-m", "minisagan", "train", "--profile", "cpu", "--quiet", "--seed", "0",
                            "--steps", str(args.steps), "--eval-every", "0", "--sample-every", str(args.steps),
                            "--checkpoint-every", str(args.steps), "--log-every", "10", "--device", "cpu",
                            "--run-dir", str(run)], env=env, check=True, cwd=ROOT)
            with open(run / "metrics.csv", newline="") as handle:
                rows += [{"run": name, "threads": threads, **{k: row[k] for k in COLUMNS}}
                         for row in csv.DictReader(handle)]
            print(f"{name}: done after {time.time() - start:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["run", "threads", *COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    about = {
        "what": f"the cpu profile's default run, seed 0, {args.steps} steps, twice on 1 torch thread and twice on 2",
        "command": "python benchmarks/thread_reruns.py",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "seconds": round(time.time() - start),
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, Python {platform.python_version()}, "
                   f"PyTorch {torch.__version__}",
        "threads": "1 and 2",
        "load_average_at_start": round(load, 2),
    }
    (args.out / "about.json").write_text(json.dumps(about, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
