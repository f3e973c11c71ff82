"""Training throughput of the default SAGAN with the trainer's switches: bf16 autocast and
torch.compile against plain eager fp32, in the same process.

    python benchmarks/bench_training.py [--quick] [--gpu-only] [--feats 64,32] [--batch 256]
        [--rounds 3] [--out results.json] [--dry-run]

One "iteration" is what the trainer does per generator step with n_dis = 1: a D step (G forward
under no_grad, D forward + backward on [real; fake], Adam) and a G step (G and D forward, backward
into G, Adam), through Chapter 6's `train_iteration`. Images per second = batch / seconds per
iteration. Every mode starts from the same initial weights; modes are timed in interleaved rounds
(mode A, B, C, D, then again), so a change in machine load hits all of them, and the median over
rounds is reported with its ratio to eager fp32 (> 1: faster). Compilation happens in the warm-up and
is timed separately.

CPU section (always, unless --gpu-only or --dry-run): the cpu profile's default run's model (its width
and batch, `minisagan/profiles.py`: 16 and 32), 32x32, 10 classes, attention at 16, SN on G and D,
2 threads; eager fp32 in channels_last memory as a fifth mode.
GPU section (only with CUDA): the paper's model, 128x128, ch 64, batch 256, 1000 classes, with its
attention block at each of --feats (64: the paper's final model; 32: the cheaper one): bf16 + compile
(channels_last) against eager fp32 at PyTorch's defaults, which leave TF32 on for cuDNN's
convolutions (and off for matmuls); "eager fp32, TF32 off" is full fp32 everywhere, what this script
measured as its baseline up to 2026-12-01. Then the hours one million iterations would take.
--out writes every finished configuration's figures as JSON (rewritten after each).
--dry-run: every line of the GPU section at tiny sizes on whatever device there is (32x32, width 8,
batch 4, attention at a quarter of the first of --feats, one round of one iteration, torch.compile's
"eager" backend instead of inductor): seconds on a CPU, for CI. One attention resolution only, since
tracing G and D for compile is most of its time.
"""

import argparse
import copy
import json
import platform
import statistics
import time
from contextlib import contextmanager, nullcontext
from functools import partial
from itertools import repeat

import torch

from minisagan.profiles import sizes
from minisagan.sagan import Discriminator, Generator, SAGANConfig
from minisagan.training import make_optimizers, sample_latents, train_iteration

MODES = {"eager fp32": dict(amp=False, compile=False), "bf16": dict(amp=True, compile=False),
         "compile": dict(amp=False, compile=True), "bf16 + compile": dict(amp=True, compile=True),
         "eager fp32, TF32 off": dict(amp=False, compile=False, tf32=False),
         "eager fp32, channels_last": dict(amp=False, compile=False, channels_last=True)}
CPU_MODES = ("eager fp32", "eager fp32, channels_last", "bf16", "compile", "bf16 + compile")
GPU_MODES = ("eager fp32", "eager fp32, TF32 off", "bf16 + compile")


@contextmanager
def tf32_off():
    """Full fp32 in cuDNN's convolutions (PyTorch's default: TF32) and in matmuls (default: fp32).

    The flags are read when a kernel is launched, so setting them around one mode's iterations
    leaves the other modes at the defaults."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class Trainee:
    """One mode's copy of G and D, its optimizers and its way of running a step."""

    def __init__(self, G, D, device, amp: bool, compiled: bool, channels_last: bool = False, tf32: bool = True,
                 compile_backend: str = "inductor"):
        self.G, self.D = copy.deepcopy(G), copy.deepcopy(D)
        self.channels_last = channels_last
        if channels_last:
            self.G, self.D = self.G.to(memory_format=torch.channels_last), self.D.to(memory_format=torch.channels_last)
        self.opt_G, self.opt_D = make_optimizers(self.G, self.D)
        compile = partial(torch.compile, dynamic=False, backend=compile_backend)
        self.G_run = compile(self.G) if compiled else self.G
        self.D_run = compile(self.D) if compiled else self.D
        self.autocast = partial(torch.autocast, device.type, dtype=torch.bfloat16) if amp else nullcontext
        self.precision = nullcontext if tf32 else tf32_off
        self.device = device

    def iteration(self, real, labels, noise, z_dim, classes):
        """Chapter 6's iteration (one D step, one G step), on this mode's networks."""
        run = {"G_train": self.G_run, "D_train": self.D_run, "G_fwd": self.G_run, "D_fwd": self.D_run}
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        with self.precision():
            train_iteration(self.G, self.D, self.opt_G, self.opt_D, repeat((real, labels)),
                            lambda: sample_latents(real.shape[0], z_dim, classes, noise, self.device),
                            step=0, autocast=self.autocast, wrapped=run)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(config: SAGANConfig, batch: int, device, modes: dict, rounds: int, per_round: int, warmup: int,
            channels_last: bool = False, compile_backend: str = "inductor") -> dict[str, dict]:
    """Per mode: images/s (median over rounds), warm-up seconds, peak GPU memory in GiB (None on a CPU)."""
    torch.manual_seed(0)
    G, D = Generator(config).to(device), Discriminator(config).to(device)
    real = torch.rand(batch, 3, config.resolution, config.resolution, device=device) * 2 - 1
    labels = torch.randint(config.num_classes, (batch,), device=device)
    trainees, warmups = {}, {}
    for name, switches in modes.items():
        start = time.perf_counter()
        trainee = Trainee(G, D, device, switches["amp"], switches["compile"],
                          switches.get("channels_last", channels_last and switches["amp"]),
                          switches.get("tf32", True), compile_backend)
        noise = torch.Generator().manual_seed(1)
        for _ in range(warmup):
            trainee.iteration(real, labels, noise, config.z_dim, config.num_classes)
        sync(device)
        warmups[name] = time.perf_counter() - start
        print(f"  {name}: warm-up ({warmup} iterations, compilation included) {warmups[name]:.1f} s", flush=True)
        trainees[name] = (trainee, noise)
    rates = {name: [] for name in modes}
    peaks = {}
    for _ in range(rounds):
        for name, (trainee, noise) in trainees.items():
            sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            for _ in range(per_round):
                trainee.iteration(real, labels, noise, config.z_dim, config.num_classes)
            sync(device)
            rates[name].append(batch * per_round / (time.perf_counter() - start))
            if device.type == "cuda":  # the peak of this mode's own iterations (all modes' weights stay resident)
                peaks[name] = max(peaks.get(name, 0), torch.cuda.max_memory_allocated(device))
    for name, peak in peaks.items():
        print(f"  {name}: peak GPU memory during its iterations {peak / 2**30:.1f} GiB", flush=True)
    return {name: dict(rate=statistics.median(values), warmup_s=warmups[name],
                       peak_gib=peaks[name] / 2**30 if name in peaks else None)
            for name, values in rates.items()}


def report(results: dict[str, dict], batch: int) -> None:
    base = results["eager fp32"]["rate"]
    for name, result in results.items():
        rate = result["rate"]
        print(f"  {name:>20}: {rate:8.1f} img/s, {rate / batch:6.2f} it/s, ratio to eager fp32 {rate / base:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="SAGAN training throughput: bf16 and compile vs eager fp32")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a rough figure in about a minute)")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU section")
    parser.add_argument("--feats", default="64,32",
                        help="GPU section: feature resolutions of the attention block, comma-separated")
    parser.add_argument("--batch", type=int, default=256, help="GPU section: batch size")
    parser.add_argument("--rounds", type=int, default=3, help="GPU section: timed rounds (5 iterations each)")
    parser.add_argument("--out", help="GPU section: write the results as JSON to this file")
    parser.add_argument("--no-compile", action="store_true",
                        help="GPU section: bf16 in eager mode in place of bf16 + compile (benchmarks/gpu_check.py "
                             "takes the compiled rate from the trainer itself and spares a second compilation)")
    parser.add_argument("--dry-run", action="store_true",
                        help="the GPU section's code at tiny sizes on any device, seconds on a CPU (no CPU section)")
    args = parser.parse_args()
    feats = [int(f) for f in args.feats.split(",") if f.strip()]

    if not (args.gpu_only or args.dry_run):
        cpu_section(args.quick)
    if args.dry_run:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        gpu_section(device, [feats[0] // 4], batch=4, rounds=1, out=args.out, dry_run=True,
                    compiled=not args.no_compile)
    elif torch.cuda.is_available():
        gpu_section(torch.device("cuda"), feats, args.batch, args.rounds, args.out, compiled=not args.no_compile)
    else:
        print("GPU: no CUDA GPU on this machine; the 128x128 section (batch 256, bf16 + compile against eager "
              "fp32, peak memory, hours to 1M steps) runs where there is one")


def cpu_section(quick: bool) -> None:
    torch.set_num_threads(2)
    run = sizes("cpu").run
    print(f"CPU: the cpu profile's default run, 32x32, ch {run.width}, batch {run.batch_size}, 10 classes, "
          "attention at 16, 2 threads")
    cpu = SAGANConfig(resolution=32, width=run.width, z_dim=64, num_classes=10, attention=16)
    modes = {k: MODES[k] for k in CPU_MODES}
    report(measure(cpu, run.batch_size, torch.device("cpu"), modes, rounds=2 if quick else 5, per_round=4,
                   warmup=2), run.batch_size)


def gpu_section(device: torch.device, feats: list[int], batch: int, rounds: int, out: str | None = None,
                dry_run: bool = False, compiled: bool = True) -> None:
    """The paper's model at each attention resolution in feats (dry run: a 32x32 one, width 8)."""
    resolution, width, per_round, warmup = (32, 8, 1, 1) if dry_run else (128, 64, 5, 3)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    document = dict(device=name, torch=torch.__version__, dry_run=dry_run, resolution=resolution, width=width,
                    batch=batch, num_classes=1000, rounds=rounds, iterations_per_round=per_round,
                    warmup_iterations=warmup, tf32_defaults=dict(matmul=torch.backends.cuda.matmul.allow_tf32,
                                                                 cudnn=torch.backends.cudnn.allow_tf32),
                    configurations=[])
    names = GPU_MODES if compiled else tuple("bf16" if k == "bf16 + compile" else k for k in GPU_MODES)
    modes = {k: MODES[k] for k in names}
    for feat in feats:
        print(f"\nGPU section{' (dry run)' if dry_run else ''} on {name}: {resolution}x{resolution}, ch {width}, "
              f"batch {batch}, 1000 classes, attention at {feat}", flush=True)
        config = SAGANConfig(resolution=resolution, width=width, z_dim=128, num_classes=1000, attention=feat)
        results = measure(config, batch, device, modes, rounds=rounds, per_round=per_round, warmup=warmup,
                          channels_last=True, compile_backend="eager" if dry_run else "inductor")
        report(results, batch)
        base = results["eager fp32"]["rate"]
        rows = []
        for mode, result in results.items():
            rate, hours = result["rate"], 1e6 * batch / result["rate"] / 3600
            iterations_s = warmup * batch / rate  # the warm-up's iterations at the measured speed
            rows.append(dict(mode=mode, images_per_s=rate, iterations_per_s=rate / batch,
                             ratio_to_eager_fp32=rate / base, peak_gib=result["peak_gib"], warmup_s=result["warmup_s"],
                             compile_s=max(result["warmup_s"] - iterations_s, 0.0) if MODES[mode]["compile"] else None,
                             hours_per_million_iterations=hours))
            print(f"  {mode:>20}: one million iterations at batch {batch} would take {hours:6.1f} hours "
                  f"({hours / 24:.1f} days) on this one {'GPU' if device.type == 'cuda' else 'device'}")
        document["configurations"].append(dict(attention=feat, modes=rows))
        if out:
            with open(out, "w") as f:
                json.dump(document, f, indent=1)
            print(f"  wrote {out}", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        reset = getattr(getattr(torch, "_dynamo", None), "reset", None)
        if reset:  # the next feat's models compile afresh, not as guards on this one's graphs
            reset()


if __name__ == "__main__":
    main()
