"""Goal: in the cpu profile, SAGAN as the paper trains it beats the same model without attention on
the consistency score within 15 minutes of training on a 2-core CPU.

    python benchmarks/bench_attention_vs_none.py [--steps 1800] [--out data/reference/cpu_attention_vs_none.csv]

Trains the paper's recipe at the cpu profile's chapter size (conditional, attention at 16x16 in G
and D, SN on G and D, TTUR, 1:1, no average of G, batch 32, width 32: the cpu profile's default run
until 2026-12-01) and the same model with attention = 0, one after the other with 2 threads
each, through the real trainer (`minisagan.run.loop.train`), evaluating every 150 steps on 1,000
samples against 1,000 held-out images (domain FID / KID on the shapes classifier's features, and the
consistency score). Prints both curves and writes them as one CSV (model, step, seconds, metrics) that
Chapter 6 plots next to the reader's own run. About 32 minutes in all on an idle 2-core machine.
"""

import argparse
import csv
import shutil
import tempfile
from pathlib import Path

import torch

from minisagan.run.config import TrainConfig
from minisagan.run.loop import read_log, train

MODELS = {"attention": dict(attention=16), "no attention": dict(attention=0)}
PAPER_RECIPE = dict(width=32, lr_g=1e-4, lr_d=4e-4, ema_decay=0.0, ema_start=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--out", type=Path, default=Path("data/reference/cpu_attention_vs_none.csv"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for name, changes in MODELS.items():
            config = TrainConfig.for_profile("cpu", steps=args.steps, eval_every=150, eval_samples=1000,
                                             device="cpu", run_dir=str(Path(root) / name.replace(" ", "_")),
                                             **PAPER_RECIPE, **changes)
            run = train(config, progress=False)
            evals = read_log(run / "eval.csv")
            steps = read_log(run / "metrics.csv")
            print(f"\n{name}: {args.steps} steps in {steps['seconds'][-1] / 60:.1f} min of training "
                  f"({sum(steps['images_per_s']) / len(steps['images_per_s']):.1f} img/s on average)")
            print(f"{'step':>6} {'minutes':>8} {'FID':>8} {'KID':>8} {'consistency':>12}")
            for i, step in enumerate(evals["step"]):
                print(f"{step:>6.0f} {evals['seconds'][i] / 60:>8.1f} {evals['fid_shapes'][i]:>8.2f} "
                      f"{evals['kid_shapes'][i]:>8.3f} {evals['consistency'][i]:>12.3f}")
                rows.append({"model": name, "step": int(step), "seconds": evals["seconds"][i],
                             "fid_shapes": evals["fid_shapes"][i], "kid_shapes": evals["kid_shapes"][i],
                             "consistency": evals["consistency"][i]})
            keep = args.out.parent / f"cpu_{name.replace(' ', '_')}_samples.png"
            shutil.copy(run / "samples" / "latest.png", keep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    final = {name: [r for r in rows if r["model"] == name][-1]["consistency"] for name in MODELS}
    ratio = final["attention"] / max(final["no attention"], 1e-9)
    print(f"\nfinal consistency: attention {final['attention']:.3f}, no attention {final['no attention']:.3f} "
          f"(ratio {ratio:.2f}); wrote {args.out}")


if __name__ == "__main__":
    main()
