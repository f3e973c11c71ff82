"""Training throughput of the default SAGAN with the trainer's switches: bf16 autocast and
torch.compile against plain eager fp32, in the same process.

    python benchmarks/bench_training.py [--quick]

One "iteration" is what the trainer does per generator step with n_dis = 1: a D step (G forward
under no_grad, D forward + backward on [real; fake], Adam) and a G step (G and D forward, backward
into G, Adam), through Chapter 6's `d_step` and `g_step`. Images per second = batch / seconds per
iteration. Every mode starts from the same initial weights; modes are timed in interleaved rounds
(mode A, B, C, D, then again), so a change in machine load hits all of them, and the median over
rounds is reported with its ratio to eager fp32 (> 1: faster). Compilation happens in the warm-up and
is timed separately.

CPU section (always): the cpu profile's default model, 32x32, ch 32, batch 32, 10 classes, attention
at 16, SN on G and D, 2 threads.
GPU section (only with CUDA): the paper's model, 128x128, ch 64, batch 256, 1000 classes, attention
at 32; eager fp32 against bf16 + compile (channels_last), and the hours one million iterations
would take at that speed.
"""

import argparse
import copy
import statistics
import time
from contextlib import nullcontext
from functools import partial

import torch

from minisagan.sagan import Discriminator, Generator, SAGANConfig
from minisagan.training import d_step, g_step, make_optimizers, sample_latents

MODES = {"eager fp32": dict(amp=False, compile=False), "bf16": dict(amp=True, compile=False),
         "compile": dict(amp=False, compile=True), "bf16 + compile": dict(amp=True, compile=True)}


class Trainee:
    """One mode's copy of G and D, its optimizers and its way of running a step."""

    def __init__(self, G, D, device, amp: bool, compiled: bool, channels_last: bool = False):
        self.G, self.D = copy.deepcopy(G), copy.deepcopy(D)
        if channels_last:
            self.G, self.D = self.G.to(memory_format=torch.channels_last), self.D.to(memory_format=torch.channels_last)
        self.opt_G, self.opt_D = make_optimizers(self.G, self.D)
        self.G_run = torch.compile(self.G, dynamic=False) if compiled else self.G
        self.D_run = torch.compile(self.D, dynamic=False) if compiled else self.D
        self.autocast = partial(torch.autocast, device.type, dtype=torch.bfloat16) if amp else nullcontext
        self.device = device

    def iteration(self, real, labels, noise, z_dim, classes):
        z, y = sample_latents(real.shape[0], z_dim, classes, noise, self.device)
        d_step(self.G_run, self.D_run, self.opt_D, real, labels, z, y, autocast=self.autocast)
        z, y = sample_latents(real.shape[0], z_dim, classes, noise, self.device)
        g_step(self.G_run, self.D_run, self.opt_G, z, y, autocast=self.autocast)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(config: SAGANConfig, batch: int, device, modes: dict, rounds: int, per_round: int, warmup: int,
            channels_last: bool = False) -> dict[str, float]:
    torch.manual_seed(0)
    G, D = Generator(config).to(device), Discriminator(config).to(device)
    real = torch.rand(batch, 3, config.resolution, config.resolution, device=device) * 2 - 1
    labels = torch.randint(config.num_classes, (batch,), device=device)
    trainees = {}
    for name, switches in modes.items():
        start = time.perf_counter()
        trainee = Trainee(G, D, device, switches["amp"], switches["compile"], channels_last and switches["amp"])
        noise = torch.Generator().manual_seed(1)
        for _ in range(warmup):
            trainee.iteration(real, labels, noise, config.z_dim, config.num_classes)
        sync(device)
        print(f"  {name}: warm-up ({warmup} iterations, compilation included) {time.perf_counter() - start:.1f} s",
              flush=True)
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
    return {name: statistics.median(values) for name, values in rates.items()}


def report(rates: dict[str, float], batch: int) -> None:
    base = rates["eager fp32"]
    for name, rate in rates.items():
        print(f"  {name:>15}: {rate:8.1f} img/s, {rate / batch:6.2f} it/s, ratio to eager fp32 {rate / base:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="SAGAN training throughput: bf16 and compile vs eager fp32")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a rough figure in about a minute)")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU section")
    args = parser.parse_args()

    if not args.gpu_only:
        cpu_section(args.quick)
    if torch.cuda.is_available():
        gpu_section()
    else:
        print("GPU: no CUDA GPU on this machine; the 128x128 section (batch 256, bf16 + compile against eager "
              "fp32, peak memory, hours to 1M steps) runs where there is one")


def cpu_section(quick: bool) -> None:
    torch.set_num_threads(2)
    print("CPU: the chapters' SAGAN, 32x32, ch 32, batch 32, 10 classes, attention at 16, 2 threads")
    cpu = SAGANConfig(resolution=32, width=32, z_dim=64, num_classes=10, attention=16)
    rates = measure(cpu, 32, torch.device("cpu"), MODES, rounds=2 if quick else 5, per_round=4,
                    warmup=2)
    report(rates, 32)


def gpu_section() -> None:
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here
    torch.backends.cudnn.allow_tf32 = False
    print(f"\nGPU ({torch.cuda.get_device_name(device)}): the paper's model, 128x128, ch 64, batch 256, "
          "1000 classes, attention at 32")
    paper = SAGANConfig(resolution=128, width=64, z_dim=128, num_classes=1000, attention=32)
    modes = {k: MODES[k] for k in ("eager fp32", "bf16", "bf16 + compile")}
    rates = measure(paper, 256, device, modes, rounds=3, per_round=5, warmup=3, channels_last=True)
    report(rates, 256)
    for name, rate in rates.items():
        hours = 1e6 * 256 / rate / 3600
        print(f"  {name:>15}: one million iterations at batch 256 would take {hours:6.1f} hours "
              f"({hours / 24:.1f} days) on this one GPU")


if __name__ == "__main__":
    main()
