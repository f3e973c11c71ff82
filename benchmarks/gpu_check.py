"""One GPU check that fits a 15-minute lease: a GPU user's whole path, measured once, in order.

    bash benchmarks/gpu_prepare.sh            # here, before the lease: wheels the GPU machine lacks,
                                              # the chapters as scripts (_build/gpu_chapters/)
    bash benchmarks/gpu_check.sh [--out DIR]  # on the GPU machine, from the repository's root
    bash benchmarks/gpu_check.sh --dry-run    # anywhere: tiny sizes on the CPU, every step executed (CI)

The steps, each written to ``DIR/results.json`` as soon as it ends (a kill keeps what was done),
with what it printed in ``DIR/log.txt``:

(a) ``resume``: a small 128x128 model trained 20 steps from a store that ``minisagan prepare`` made
    of generated JPEGs, resumed to 40, against the same 40 steps uninterrupted (losses and final
    weights compared); then ``minisagan sample`` of it and ``minisagan evaluate --device cuda`` of
    the book's shipped model;
(b) ``trainer``: the imagenet128 preset's model at batch 256 through the trainer and the store's
    loader, attention at 64 (feat64, the paper's final model) and at 32 (feat32): images/s,
    iterations/s, hours for one million steps, peak GPU memory, compile seconds, and which SDPA
    kernel the attention blocks' bf16 shapes run on (`sdpa_backends.py`);
(c) ``eager``: eager fp32 at PyTorch's defaults (and with TF32 off) against bf16, feat64 and feat32,
    in one process (`bench_training.py`); the compiled rate is (b)'s;
(d) ``inception``: Inception feature throughput of torch-fidelity's FID network (randomly
    initialised: the weights file cannot travel; the cost is the same) (`bench_inception.py`);
(e) ``chapters``: every chapter as a script in the ``gpu-smoke`` profile (CUDA, bf16, compile,
    channels_last at smoke sizes) (`gpu_chapters.py`), in the time left.

On a GPU the whole check is planned for about 8 minutes on one H100 or H200; each step has a time
limit, and (e) takes what is left of ``--budget`` seconds.
"""

import argparse
import datetime
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

from minisagan.checkpoint import write_text_atomically
from minisagan.reference import read_rows

ROOT = Path(__file__).resolve().parent.parent
CHAPTER_SCRIPTS = ROOT / "_build" / "gpu_chapters"


def device_slug() -> str:
    """'h100', 'h200', ... from the GPU's name; 'cpu' without one."""
    if not torch.cuda.is_available():
        return "cpu"
    name = torch.cuda.get_device_name(0)
    found = re.search(r"\b([A-Z]\d{2,4}[A-Za-z]?)\b", name)
    return (found.group(1) if found else re.sub(r"\W+", "-", name)).lower()


class Check:
    """The results of each step, rewritten after every step (atomically) to ``out/results.json``."""

    def __init__(self, out: Path, dry_run: bool, budget: float):
        self.out, self.dry_run, self.budget, self.start = out, dry_run, budget, time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        cuda = torch.cuda.is_available()
        self.results = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["bash benchmarks/gpu_check.sh", *sys.argv[1:]]),
            "dry_run": dry_run,
            "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({platform.processor() or platform.machine()}, "
                                                                  f"{torch.get_num_threads()} threads)",
            "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None,
            "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "steps": {},
        }
        self.write()

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.start)

    def write(self) -> None:
        write_text_atomically(self.out / "results.json", json.dumps(self.results, indent=2) + "\n")

    def step(self, name: str, run) -> None:
        print(f"\n=== ({name}) {time.strftime('%H:%M:%S')}, {self.left():.0f} s of the budget left", flush=True)
        started = time.perf_counter()
        try:
            record = {"ok": True, **run()}
        except Exception as err:  # every step is tried: one failure must not hide the others' results
            record = {"ok": False, "error": f"{type(err).__name__}: {err}"[:2000]}
            traceback.print_exc()
        record["seconds"] = round(time.perf_counter() - started, 1)
        self.results["steps"][name] = record
        self.write()
        print(f"=== ({name}) {'ok' if record['ok'] else 'FAILED'} in {record['seconds']} s: "
              f"{json.dumps({k: v for k, v in record.items() if k not in ('ok', 'seconds')})[:600]}", flush=True)


def cli(*args) -> None:
    """``minisagan ARGS`` in this process (one import of torch for the whole check); a non-zero exit
    is an error naming the command."""
    from minisagan.run.cli import main

    code = main([str(a) for a in args])
    if code:
        raise RuntimeError(f"minisagan {' '.join(map(str, args))} exited with {code}")


def script(name: str, *args, timeout: float) -> None:
    """A benchmark script in its own process, what it printed in the log."""
    command = [sys.executable, str(ROOT / "benchmarks" / name), *map(str, args)]
    print("$", " ".join(command[1:]), flush=True)
    try:
        done = subprocess.run(command, timeout=max(timeout, 10), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired as stopped:
        print(stopped.output or "", flush=True)
        raise
    print(done.stdout, end="", flush=True)
    if done.returncode:
        raise RuntimeError(f"{name} exited with {done.returncode}: {done.stdout.strip().splitlines()[-1:]}")


class Tee:
    """Everything printed goes to the terminal and to ``log.txt`` in the results folder."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text):
        self.stream.write(text)
        self.log.write(text)
        self.log.flush()

    def flush(self):
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def peak_gib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None


# --- the steps ---------------------------------------------------------------------------------------

def make_store(work: Path, dry: bool) -> Path:
    """Generated JPEGs (the built-in shapes at several sizes, odd files planted), prepared at 128x128
    (the dry run: 32x32, a few per class)."""
    from minisagan.data.jpeg_folder import write_jpeg_folder

    store = work / "store"
    if not store.exists():
        write_jpeg_folder(work / "jpegs", per_class=2 if dry else 30)
        cli("prepare", work / "jpegs", store, "--resolution", 32 if dry else 128, "--workers", 2 if dry else 8,
            "--quiet")
    return store


def resume_round_trip(work: Path, store: Path, out: Path, device: torch.device, dry: bool) -> dict:
    cuda = device.type == "cuda"
    half = 2 if dry else 20
    flags = ["--profile", "gpu" if cuda else "smoke", "--data", store, "--resolution", 32 if dry else 128,
             "--width", 8 if dry else 32, "--z-dim", 32 if dry else 128, "--batch-size", 4 if dry else 64,
             "--attention", 16 if dry else 64, "--amp", "bf16" if cuda else "none", "--compile", "false",
             "--eval-every", 0, "--log-every", 1, "--sample-every", half, "--checkpoint-every", half,
             "--device", device.type, "--quiet"]
    stopped, whole = work / "stopped", work / "whole"
    cli("train", *flags, "--steps", half, "--run-dir", stopped)
    cli("resume", stopped, "--steps", 2 * half, "--quiet")
    cli("train", *flags, "--steps", 2 * half, "--run-dir", whole)
    a, b = read_rows(stopped / "metrics.csv"), read_rows(whole / "metrics.csv")
    steps = [row["step"] for row in a]
    loss_diff = max(abs(x[k] - y[k]) for x, y in zip(a, b) for k in ("loss_d", "loss_g"))
    from minisagan.checkpoint import load_checkpoint

    wa, wb = (load_checkpoint(run / "checkpoint.pt")["G"] for run in (stopped, whole))
    weight_diff = max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa if wa[k].is_floating_point())
    cli("sample", stopped, "--n", 20, "--out", out / "resumed_samples.png")
    evaluated = work / "model_evaluation.json"
    n = 128 if dry else 5000
    began = time.perf_counter()
    cli("evaluate", ROOT / "data" / "reference" / "model", "--n", n, "--device", device.type, "--out", evaluated)
    evaluation = json.loads(evaluated.read_text())
    record = {
        "steps_logged": [int(steps[0]), int(steps[-1])], "identical_losses": loss_diff == 0.0,
        "max_loss_difference": loss_diff, "max_weight_difference_of_G": weight_diff,
        "resumed_world_size": load_checkpoint(stopped / "checkpoint.pt")["world_size"],
        "evaluate": {"checkpoint": "data/reference/model", "images": n, "device": device.type,
                     "seconds": round(time.perf_counter() - began, 1),
                     **{k: evaluation[k] for k in ("fid_shapes", "consistency", "class_accuracy")}},
    }
    # on the CPU a resumed run is bit-exact (tests/test_run_loop.py); a GPU's kernels need not be
    record["ok"] = steps == list(range(1, 2 * half + 1)) and (cuda or loss_diff == 0.0)
    return record


def trainer_throughput(work: Path, store: Path, out: Path, device: torch.device, dry: bool, attention: int) -> dict:
    cuda = device.type == "cuda"
    steps, log_every = (4, 1) if dry else (60, 10)  # compiling takes most of it: then 50 steady steps
    run = work / f"feat{attention}"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    size = ["--resolution", 32, "--width", 8, "--z-dim", 32, "--batch-size", 4] if dry else []
    cli("train", "--preset", "imagenet128", "--profile", "gpu" if cuda else "smoke", "--data", store,
        "--attention", attention // 4 if dry else attention, *size, "--steps", steps, "--log-every", log_every, "--eval-every", 0,
        "--sample-every", steps, "--checkpoint-every", steps, "--keep-every", 0, "--device", device.type,
        "--run-dir", run, "--quiet")
    rows = read_rows(run / "metrics.csv")
    steady = [row["images_per_s"] for row in rows[1:]] or [rows[0]["images_per_s"]]
    rate = statistics.median(steady)
    config = json.loads((run / "config.json").read_text())
    step_seconds = config["batch_size"] / rate
    shutil.copyfile(run / "samples" / "latest.png", out / f"samples_feat{attention}.png")
    if cuda:  # the next model compiles afresh, and this one's graphs leave the GPU's memory
        torch._dynamo.reset()
        torch.cuda.empty_cache()
    return {
        "attention": attention, "batch": config["batch_size"], "width": config["width"], "amp": config["amp"],
        "compile": config["compile"], "steps": steps,
        "images_per_s": round(rate, 1), "iterations_per_s": round(rate / config["batch_size"], 3),
        "hours_for_1M_steps": round(1e6 * step_seconds / 3600, 1),
        # the first logged interval holds the compilation; the steady rate prices its steps
        "compile_seconds": round(rows[0]["seconds"] - rows[0]["step"] * step_seconds, 1),
        "peak_gpu_memory_gib": peak_gib(device),
    }


def sdpa(device: torch.device, dry: bool, attention: int) -> dict:
    """Which SDPA kernel each attention block gets at the preset's real shapes (bf16 under autocast, G at
    batch 256, D at 512), in this process (`sdpa_backends.py`)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from sdpa_backends import print_table, sdpa_report

    from minisagan.sagan import SAGANConfig

    if dry:
        config, batch, dtype = SAGANConfig(resolution=32, width=8, num_classes=1000, attention=16), 2, "fp32"
    else:
        config, batch, dtype = SAGANConfig(resolution=128, width=64, num_classes=1000, attention=attention), 256, "bf16"
    rows = sdpa_report(config, batch, device, dtype)
    print_table(rows)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"sdpa": [{k: row[k] for k in ("network", "block", "resolution", "query", "key", "value", "dtype", "used",
                                          "accepted", "ms_forward_backward")} for row in rows]}


def chapters(out: Path, device: torch.device, dry: bool, timeout: float, scripts: Path) -> dict:
    if not scripts.is_dir():
        raise FileNotFoundError(f"{scripts} is missing: run `bash benchmarks/gpu_prepare.sh` on the machine "
                                "with the project's .venv first, and carry _build/gpu_chapters to the GPU machine")
    target = out / "chapters.json"
    picked = ["--chapters", "00"] if dry else []
    profile = "gpu-smoke" if device.type == "cuda" else "smoke"
    # the runner's own budget lets the chapter in progress finish and marks the rest skipped
    script("gpu_chapters.py", "--run", scripts, "--profile", profile, "--out", target, *picked,
           "--budget", max(int(timeout), 10), timeout=timeout + 120)
    found = json.loads(target.read_text())
    statuses = {record["chapter"]: record["status"] for record in found["chapters"]}
    return {"profile": profile, "ok": all(status in ("ok", "skipped") for status in statuses.values()),
            "statuses": statuses, "seconds_each": {r["chapter"]: r["seconds"] for r in found["chapters"]}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on whatever device: every step, in seconds")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default data/reference/gpu_<device>_<date>; dry run: _build/gpu_check_dry)")
    parser.add_argument("--chapters-dir", type=Path, default=CHAPTER_SCRIPTS,
                        help="the chapters as scripts (default _build/gpu_chapters, written by gpu_prepare.sh)")
    parser.add_argument("--budget", type=float, default=None, help="seconds for the whole check (default 480; dry 110)")
    args = parser.parse_args()
    dry = args.dry_run
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not dry and device.type != "cuda":
        print("gpu_check: no CUDA GPU here; run with --dry-run to check the script on a CPU", file=sys.stderr)
        return 2
    out = args.out or (ROOT / "_build" / "gpu_check_dry" if dry else
                       ROOT / "data" / "reference" / f"gpu_{device_slug()}_{datetime.date.today().isoformat()}")
    check = Check(out.resolve(), dry, args.budget or (90 if dry else 480))
    log = open(check.out / "log.txt", "a")
    sys.stdout, sys.stderr = Tee(sys.__stdout__, log), Tee(sys.__stderr__, log)
    print(f"gpu_check: {check.results['device']}, torch {torch.__version__}, results in {out}", flush=True)
    if dry:
        torch.set_num_threads(min(2, torch.get_num_threads()))
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    try:
        def resume_step():
            return resume_round_trip(work, make_store(work, dry), check.out, device, dry)

        check.step("a_resume", resume_step)
        for attention in (64, 32):
            def trainer_step(attention=attention):
                record = trainer_throughput(work, make_store(work, dry), check.out, device, dry, attention)
                record.update(sdpa(device, dry, attention))
                return record

            check.step(f"b_trainer_feat{attention}", trainer_step)

        def eager_step():
            target = check.out / "bench_training.json"
            flags = ["--dry-run", "--no-compile"] if dry else ["--feats", "64,32", "--no-compile", "--rounds", "1"]
            script("bench_training.py", "--gpu-only", *flags, "--out", target, timeout=min(240, check.left()))
            bench = json.loads(target.read_text())
            ratios = {}  # the trainer's compiled rate (b) against eager fp32 at PyTorch's defaults (c)
            for configuration in bench["configurations"]:
                eager = next(m["images_per_s"] for m in configuration["modes"] if m["mode"] == "eager fp32")
                trained = check.results["steps"].get(f"b_trainer_feat{configuration['attention'] * (4 if dry else 1)}")
                if trained and trained.get("ok"):
                    ratios[f"feat{configuration['attention']}"] = round(trained["images_per_s"] / eager, 2)
            return {"bench": bench, "compiled_trainer_over_eager_fp32": ratios}

        check.step("c_eager", eager_step)

        def inception_step():
            target = check.out / ".inception.json"
            script("bench_inception.py", *(["--dry-run"] if dry else ["--device", "cuda"]), "--out", target,
                   timeout=min(120, check.left()))
            found = json.loads(target.read_text())
            target.unlink()
            return {"inception": found}

        check.step("d_inception", inception_step)
        check.step("e_chapters", lambda: chapters(check.out, device, dry, timeout=max(check.left() - 5, 30),
                                                       scripts=args.chapters_dir.resolve()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [name for name, record in check.results["steps"].items() if not record["ok"]]
    seconds = time.perf_counter() - check.start
    print(f"\ngpu_check: {len(check.results['steps']) - len(failed)} steps ok, {len(failed)} failed "
          f"({', '.join(failed) or 'none'}) in {seconds:.0f} s; results in {out}/results.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
