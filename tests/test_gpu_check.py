"""The GPU check's dry run: every step of `benchmarks/gpu_check.sh` executed on the CPU at tiny sizes,
so that no minute of a GPU lease is lost to a typo. What it measures on a GPU is in its docstring."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["a_resume", "b_trainer_feat64", "b_trainer_feat32", "c_eager", "d_inception", "e_chapters"]


def test_the_gpu_checks_dry_run_executes_every_step(tmp_path):
    scripts = tmp_path / "chapters"
    subprocess.run([sys.executable, "benchmarks/gpu_chapters.py", "--convert", str(scripts), "--chapters", "00"],
                   cwd=ROOT, check=True, capture_output=True)
    out = tmp_path / "results"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run", "--out", str(out), "--chapters-dir",
                           str(scripts)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.startswith("gpu_check: ready: python 3.")  # the one line that checks what it needs
    results = json.loads((out / "results.json").read_text())
    assert list(results["steps"]) == STEPS and all(step["ok"] for step in results["steps"].values())
    assert results["dry_run"] and results["torch"] == __import__("torch").__version__
    resumed = results["steps"]["a_resume"]
    assert resumed["steps_logged"] == [1, 4] and resumed["identical_losses"] and resumed["resumed_world_size"] == 1
    assert resumed["evaluate"]["device"] == "cpu" and 0 <= resumed["evaluate"]["consistency"] <= 1
    for attention in (64, 32):
        trainer = results["steps"][f"b_trainer_feat{attention}"]
        assert trainer["attention"] == attention and trainer["images_per_s"] > 0 and trainer["sdpa"]
    assert results["steps"]["e_chapters"]["statuses"] == {"00_how_to_read": "ok"}
    assert (out / "log.txt").read_text().count("=== (") == 2 * len(STEPS)
    assert {p.name for p in out.iterdir()} <= {"results.json", "log.txt", "resumed_samples.png", "samples_feat64.png",
                                               "samples_feat32.png", "bench_training.json", "chapters.json"}
