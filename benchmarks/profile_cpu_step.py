"""Where the default run's time goes on a CPU: one profile of `make train`'s step, in fractions.

    python benchmarks/profile_cpu_step.py [--steps 60] [--threads 2] [--dry-run]

Builds the run `make train` starts (the cpu profile's preset: 32x32 shapes, width 16, batch 32,
attention at 16, SN on G and D, an average of G) exactly as `minisagan train` does, then:

1. times ``--steps`` iterations of Chapter 6's `train_loop` under `torch.profiler`, and splits
   their CPU time by what the operators do: convolutions (forward and backward), spectral norm's
   power iteration, attention's matrix products and softmax, batch norm, Adam, the average of G,
   drawing the data and the noise, the rest;
2. times one evaluation (1,000 samples: FID / KID / IS on shape features, consistency, class
   accuracy) and says how many steps it costs; the run evaluates 16 times.

Every figure is a share of the same process's own time, so load changes the seconds but little the
shares; the thread count and the load average are printed with them. ``--dry-run``: a few steps at
the smoke profile's size, to check the script runs (CI).
"""

import argparse
import os
import tempfile
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from minisagan.run.config import TrainConfig
from minisagan.run.distributed import Processes
from minisagan.run.evaluation import evaluate
from minisagan.run.state import Run
from minisagan.run.stream import evaluation_images
from minisagan.training import train_loop

# what an operator does, by the first pattern its name holds (checked in order)
KINDS = [
    ("Adam", ("adam", "_foreach_", "optimizer")),
    ("convolutions", ("conv", "mkldnn_convolution", "slow_conv")),
    ("batch norm", ("batch_norm",)),
    ("spectral norm", ("aten::mv", "aten::dot", "linalg_vector_norm", "aten::norm")),
    ("attention", ("bmm", "softmax", "scaled_dot_product", "max_pool2d")),
    ("pooling and resizing", ("avg_pool2d", "upsample")),
]


# timed whole (their operators are in the split above too): by the start of their names
PHASES = ("Optimizer.step", "data and noise", "average of G")


def kind_of(name: str) -> str:
    name = name.lower()
    for kind, patterns in KINDS:
        if any(p in name for p in patterns):
            return kind
    return "the rest"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    profile_name, steps = ("smoke", 3) if args.dry_run else ("cpu", args.steps)
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig.for_profile(profile_name, run_dir=folder, device="cpu")
        run = Run(config, Processes(), torch.device("cpu"))
    batches = run.batches()
    options = dict(n_dis=config.n_dis, loss=config.loss, autocast=run.autocast, wrapped=run.wrapped)

    def timed_batches():
        while True:
            with record_function("data and noise"):
                batch = next(batches)
            yield batch

    def timed_latents():
        with record_function("data and noise"):
            return run.latents()

    class TimedEMA:
        def update(self, G, step):
            with record_function("average of G"):
                run.ema.update(G, step)

    loop_args = (run.G, run.D, run.opt_G, run.opt_D, timed_batches(), timed_latents)
    options.update(ema=TimedEMA() if run.ema else None, log_every=0)
    train_loop(*loop_args, steps=3, **options)  # warm-up: first-call costs out of the profile
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_loop(*loop_args, steps=3 + steps, start=3, **options)
    per_step = (time.perf_counter() - start) / steps
    events = prof.key_averages()
    shares, rest = defaultdict(float), defaultdict(float)
    for event in events:
        kind = kind_of(event.key)
        shares[kind] += event.self_cpu_time_total
        if kind == "the rest":
            rest[event.key] += event.self_cpu_time_total
    total = sum(shares.values())
    print(f"{profile_name} profile, {torch.get_num_threads()} thread(s), load average "
          f"{os.getloadavg()[0]:.2f}: {per_step:.3f} s per step under the profiler ({steps} steps)")
    for kind, value in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"  {kind:>20}: {value / total:6.1%} of the steps' CPU time")
    print("  the rest's largest: " + ", ".join(f"{name} {value / total:.1%}" for name, value in
                                            sorted(rest.items(), key=lambda item: -item[1])[:8]))
    phases = {name: sum(e.cpu_time_total for e in events if e.key.startswith(name))
              for name in PHASES}
    print("  of the same time, whole: " + ", ".join(f"{name} {value / total:.1%}"
                                                     for name, value in phases.items()))
    real = evaluation_images(config.data, run.dataset, config.eval_samples, config.resolution, config.seed)
    start = time.perf_counter()
    evaluate(run.G, real, n=config.eval_samples, z_dim=config.z_dim, num_classes=run.num_classes,
             seed=config.seed, shapes=True, device=torch.device("cpu"))
    seconds = time.perf_counter() - start
    evaluations = config.steps // config.eval_every if config.eval_every else 0
    print(f"one evaluation ({config.eval_samples} samples): {seconds:.1f} s, as long as "
          f"{seconds / per_step:.0f} steps; {evaluations} of them: "
          f"{evaluations * seconds / (evaluations * seconds + config.steps * per_step):.1%} of a run")
    return {"seconds_per_step": per_step, "evaluation_s": seconds,
            "shares": {kind: value / total for kind, value in shares.items()},
            "phases": {name: value / total for name, value in phases.items()}}


if __name__ == "__main__":
    main()
