"""How many samples does the end of a run need? Evaluate one checkpoint twice (two noise seeds) at
several sample counts and print how far FID on shape features and class accuracy move between the
two evaluations.

    python benchmarks/eval_stability.py RUN/checkpoint.pt [--sizes 1000 2000 5000] [--seeds 0 1]

The real images are the run's held-out set at each size, the same for both seeds, so the spread is
the samples' alone. Prints one row per size: each seed's figures and the relative difference.
"""

import argparse
import time
from pathlib import Path

import torch

from minisagan.run.evaluation import evaluate
from minisagan.run.models import load_generator
from minisagan.run.stream import evaluation_images, make_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--seeds", type=int, nargs=2, default=[0, 1])
    args = parser.parse_args()
    G, config, num_classes = load_generator(args.checkpoint, average=True)
    dataset, _ = make_dataset(config.data, config.resolution, config.data_size, config.seed)
    print(f"{args.checkpoint}: width {config.width}, trained {config.steps} steps; seeds {args.seeds}")
    print(f"{'images':>7} | {'FID (shapes)':>22} {'diff':>6} | {'class accuracy':>15} {'diff':>6} | seconds")
    for n in args.sizes:
        real = evaluation_images(config.data, dataset, n, config.resolution, config.seed)
        start, runs = time.perf_counter(), []
        for seed in args.seeds:
            runs.append(evaluate(G, real, n=n, z_dim=config.z_dim, num_classes=num_classes, seed=seed, shapes=True,
                                 device=torch.device("cpu")))
        fid, acc = [r["fid_shapes"] for r in runs], [r["class_accuracy"] for r in runs]
        print(f"{n:>7} | {fid[0]:>10.2f} {fid[1]:>10.2f} {abs(fid[0] - fid[1]) / min(fid):>6.1%} | "
              f"{acc[0]:>7.3f} {acc[1]:>7.3f} {abs(acc[0] - acc[1]) / min(acc):>6.1%} | "
              f"{(time.perf_counter() - start) / 2:.1f}", flush=True)


if __name__ == "__main__":
    main()
