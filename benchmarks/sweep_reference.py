"""The long CPU runs behind the book's comparisons: Chapter 6's stabilization study and attention
against none, and Chapter 8's Table 1 at laptop scale, three seeds per arm.

    python benchmarks/sweep_reference.py                      # every study, every arm, seeds 0 1 2
    python benchmarks/sweep_reference.py --studies table1 --arms none attn8 --seeds 0
    python benchmarks/sweep_reference.py --collect-only       # only gather finished runs into data/reference/

Each run is `minisagan train --profile cpu` with its study's and arm's changes, one at a time, in
`--runs DIR/<study>/<arm>_s<seed>` (default `runs/reference`). The sweep can be stopped at any time
and started again: a finished run (its checkpoint at the last step) is skipped, an unfinished one is
resumed from its last checkpoint (the trainer resumes exactly), a folder with no checkpoint starts
over. After each run the results are gathered into `data/reference/<study>/` (a run whose folder is
not here, say one made on another day, keeps the rows already shipped): every evaluation
(`eval.csv`), the logged steps (`metrics.csv`: losses, D's scores, gammas), each run's last samples
(`<arm>_s<seed>.png`) and `runs.csv` (the command, when it ran, seconds of training, the machine
and its load average), so each result can be committed as it lands. Several sweeps may run at once (one per free core): each
skips the runs another one is training.

Studies (changes to the cpu profile's preset, `minisagan/profiles.py`):

- ``stabilization``: the paper's Figure 3 at width 16 without an average of G, 2,000 steps
  evaluated every 250: SN on D only at one rate (1e-4), SN on G and D at one rate, SN on G and D
  with TTUR (D at 4e-4).
- ``model``: the cpu preset itself (the book's default model), seed 0, 13,500 steps: the trained
  model that ships in ``data/reference/model/`` (checkpoint, configuration, logs), which `minisagan
  sample` and `minisagan evaluate` read like any run folder. The shipped one ran 8,000 steps here,
  then was resumed by hand to 13,500 (its README says how, and why 13,500).
- ``attention_8k``: the cpu preset (the book's default model) with and without attention, 8,000
  steps, three seeds, one thread each; attention's seed 0 is the shipped model's first 8,000 steps
  (``model``).
- ``table1``: the cpu preset (the book's default model) for 3,000 steps evaluated every 500: no
  attention, attention at 8 or 16, a residual block at 8 or 16. The arm ``attn16`` is the preset
  itself, so its runs are the first 3,000 steps of ``attention_8k``'s attention runs (the same
  configuration, seeds and thread count); they are not run again.
"""

import argparse
import csv
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from minisagan.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "data" / "reference"
STUDIES = {
    "stabilization": {
        "base": {"width": 16, "ema_decay": 0.0, "ema_start": 0, "steps": 2000, "eval_every": 250,
                 "sample_every": 250, "checkpoint_every": 250, "eval_samples": 1000},
        "arms": {
            "sn_d": {"sn_g": False, "lr_g": 1e-4, "lr_d": 1e-4},
            "sn_gd": {"sn_g": True, "lr_g": 1e-4, "lr_d": 1e-4},
            "sn_gd_ttur": {"sn_g": True, "lr_g": 1e-4, "lr_d": 4e-4},
        },
    },
    "table1": {
        "base": {"steps": 3000, "eval_every": 500, "sample_every": 500, "checkpoint_every": 250, "eval_samples": 1000},
        "arms": {
            "none": {"attention": 0},
            "attn8": {"attention": 8},
            "attn16": {"attention": 16},
            "res8": {"attention": 8, "attention_kind": "residual"},
            "res16": {"attention": 16, "attention_kind": "residual"},
        },
        # arm -> (the study whose runs have the same configuration and thread count, its arm): the
        # first 3,000 steps of attention_8k's one-thread default runs
        "shared": {"attn16": ("attention_8k", "attn16")},
    },
}
SEEDS = (0, 1, 2)
# The trained model that ships with the book (Chapter 8's maps, a reader's first experiment): the cpu
# profile's default run itself, seed 0, trained on past the default run's 8,000 steps to 13,500.
MODEL = {"base": {"checkpoint_every": 250, "steps": 13_500}, "arms": {"default": {}}, "seeds": (0,)}
STUDIES["model"] = MODEL
# Attention against none over the default run's whole length (Chapters 6 and 8): the cpu preset with
# and without its attention blocks, 8,000 steps, one thread. Seed 0 with attention is the shipped model.
STUDIES["attention_8k"] = {"base": {"checkpoint_every": 250}, "arms": {"none": {"attention": 0}, "attn16": {}},
                           "from_model": {("attn16", 0)}}
MODEL_FILES = ("checkpoint.pt", "config.json", "eval.csv", "metrics.csv")
JOURNAL_SUFFIX = ".starts.jsonl"  # each run's starts, beside its folder (`starts`)
METRIC_COLUMNS = ("step", "seconds", "loss_d", "loss_g", "d_real", "d_fake", "images_per_s")


def flags(changes: dict) -> list[str]:
    return [item for key, value in changes.items() for item in (f"--{key.replace('_', '-')}", str(value))]


def finished(run: Path, steps: int | None) -> bool:
    if steps is None and (run / "config.json").exists():  # the preset's own length
        steps = json.loads((run / "config.json").read_text())["steps"]
    path = run / "eval.csv"
    if not (run / "checkpoint.pt").exists() or not path.exists():
        return False
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return bool(rows) and steps is not None and int(float(rows[-1]["step"])) >= steps


def first_steps(runs: Path, study: str, arm: str, seed: int, steps: int) -> tuple[list, list]:
    """The evaluations and logged steps up to ``steps`` of another study's run: from what it shipped,
    else from its run folder while it is still training (once it has passed ``steps``); none yet: []."""
    shipped_rows, run = REFERENCE / study, runs / study / f"{arm}_s{seed}"
    for folder, mine in ((shipped_rows, lambda row: row["arm"] == arm and row["seed"] == str(seed)),
                         (run, lambda row: True)):
        if (folder / "eval.csv").exists():
            evals = [r for r in read_csv(folder / "eval.csv") if mine(r) and float(r["step"]) <= steps]
            if evals and float(evals[-1]["step"]) >= steps:
                return evals, [r for r in read_csv(folder / "metrics.csv")
                               if mine(r) and float(r["step"]) <= steps]
    return [], []


def busy(run: Path) -> bool:
    """Another process is training this run now (it holds the run folder's lock): leave it to that one."""
    if not (run / ".lock").exists():
        return False
    with open(run / ".lock") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def command(study: str, arm: str, seed: int, run: Path) -> list[str]:
    spec = STUDIES[study]
    if (run / "checkpoint.pt").exists():
        return [sys.executable, "-m", "minisagan", "resume", str(run), "--quiet"]
    changes = {**spec["base"], **spec["arms"][arm], "seed": seed, "device": "cpu", "run_dir": str(run)}
    return [sys.executable, "-m", "minisagan", "train", "--profile", "cpu", "--quiet", "--overwrite", *flags(changes)]


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, PyTorch {torch.__version__}"


def run_one(study: str, arm: str, seed: int, runs: Path, threads: int) -> None:
    run = runs / study / f"{arm}_s{seed}"
    argv = command(study, arm, seed, run)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started, load = datetime.now(timezone.utc), os.getloadavg()[0]
    print(f"{started:%H:%M} {study}/{arm} seed {seed}: {' '.join(argv[1:4])} ...", flush=True)
    log = {"study": study, "arm": arm, "seed": seed,
           "command": " ".join(["python", "-m", "minisagan", *argv[3:]]).replace(str(runs), "RUNS"),
           "started": f"{started:%Y-%m-%d %H:%M}", "finished": "", "threads": threads,
           "load_start": f"{load:.2f}", "load_end": "", "machine": machine()}
    # one line per start, written before it runs: a start that is stopped keeps its line, with no end
    # (a resumed run has several lines); beside the run folder, which a fresh run must find empty
    journal = run.with_name(run.name + JOURNAL_SUFFIX)
    before = journal.read_text() if journal.exists() else ""
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text(before + json.dumps(log) + "\n")
    subprocess.run(argv, env=env, check=True)
    log.update(finished=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}", load_end=f"{os.getloadavg()[0]:.2f}")
    journal.write_text(before + json.dumps(log) + "\n")


def starts(run: Path) -> list[dict]:
    """Every start of one run, in order: its journal beside the folder, after the lines that runs
    collected before 2026-12-06 16:00 kept inside it (``sweep_run.json``, written at the end only)."""
    paths = (run / "sweep_run.json", run.with_name(run.name + JOURNAL_SUFFIX))
    return [json.loads(line) for path in paths if path.exists() for line in path.read_text().splitlines()]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")  # several sweeps may gather at once
    with os.fdopen(handle, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def shipped(out: Path, name: str, arm: str, seed: int) -> list[dict]:
    """The rows of one run already in data/reference/<study>/<name> (its run folder may be gone)."""
    path = out / name
    return [r for r in read_csv(path) if r["arm"] == arm and r["seed"] == str(seed)] if path.exists() else []


def collect(study: str, runs: Path) -> None:
    """Gather the finished runs of one study into data/reference/<study>/, under a lock (several sweeps
    may finish at once)."""
    out = REFERENCE / study
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".collect.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _collect(study, runs, out)


def _collect(study: str, runs: Path, out: Path) -> None:
    spec = STUDIES[study]
    steps = spec["base"].get("steps")
    if study == "model":
        run = runs / study / "default_s0"
        if finished(run, steps):
            for name in MODEL_FILES:
                shutil.copy(run / name, out / name)
            for folder in ("samples", "attention"):
                shutil.copy(run / folder / "latest.png", out / f"{folder}.png")
            write_csv(out / "runs.csv", starts(run))
        return
    evals, metrics, log = [], [], []
    for arm in spec["arms"]:
        shared = spec.get("shared", {}).get(arm)
        for seed in SEEDS:
            if (arm, seed) in spec.get("from_model", ()):
                # the shipped model's first steps (it trained on past the study's length)
                source, length = REFERENCE / "model", steps or PROFILES["cpu"].run.steps
                arm_evals, arm_metrics = ([r for r in read_csv(source / name) if float(r["step"]) <= length]
                                          for name in ("eval.csv", "metrics.csv"))
                log.append({"study": study, "arm": arm, "seed": seed,
                            "command": "the shipped model, data/reference/model (see its README and runs.csv)"})
            elif shared:
                arm_evals, arm_metrics = first_steps(runs, *shared, seed, steps)
                if not arm_evals:
                    continue
                log.append({"study": study, "arm": arm, "seed": seed,
                            "command": f"the first {steps} steps of data/reference/{shared[0]}, arm {shared[1]}, "
                                       f"seed {seed} (see its runs.csv)"})
            else:
                run = runs / study / f"{arm}_s{seed}"
                if not finished(run, steps):  # keep what was shipped from a run folder of another day
                    evals += shipped(out, "eval.csv", arm, seed)
                    metrics += shipped(out, "metrics.csv", arm, seed)
                    log += shipped(out, "runs.csv", arm, seed)
                    continue
                arm_evals, arm_metrics = read_csv(run / "eval.csv"), read_csv(run / "metrics.csv")
                log += starts(run)
                shutil.copy(run / "samples" / "latest.png", out / f"{arm}_s{seed}.png")
            keys = lambda row: {k: v for k, v in row.items() if k not in ("config", "seed")}  # noqa: E731
            evals += [{"arm": arm, "seed": seed, **keys(r)} for r in arm_evals]
            metrics += [{"arm": arm, "seed": seed, **{k: v for k, v in keys(r).items()
                                                       if k in METRIC_COLUMNS or k.startswith("gamma_")}}
                        for r in arm_metrics]
    if evals:
        write_csv(out / "eval.csv", evals)
        write_csv(out / "metrics.csv", metrics)
        write_csv(out / "runs.csv", log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", nargs="+", default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument("--arms", nargs="+", help="only these arms (default: every arm of each study)")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "reference")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (1: leave a core free)")
    parser.add_argument("--collect-only", action="store_true")
    args = parser.parse_args()
    for study in args.studies:
        spec = STUDIES[study]
        arms = [a for a in spec["arms"] if (args.arms is None or a in args.arms) and a not in spec.get("shared", {})]
        for seed in [seed for seed in args.seeds if seed in spec.get("seeds", SEEDS)]:
            for arm in arms:
                run = args.runs / study / f"{arm}_s{seed}"
                if (args.collect_only or finished(run, spec["base"].get("steps")) or busy(run)
                        or (arm, seed) in spec.get("from_model", ())):
                    continue
                start = time.time()
                run_one(study, arm, seed, args.runs, args.threads)
                print(f"   done in {(time.time() - start) / 60:.1f} min", flush=True)
                collect(study, args.runs)
        collect(study, args.runs)


if __name__ == "__main__":
    main()
