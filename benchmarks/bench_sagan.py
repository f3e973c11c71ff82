"""Training-step throughput of chapter 4's Generator and Discriminator at 32, 64 and 128 pixels.

    python benchmarks/bench_sagan.py

CPU section (always): the cpu profile's sizes, class-conditional on 10 classes (the built-in shapes
data), official pooled attention, SN on G and D, Xavier init, training mode:
- 32x32: ch 32, batch 32, attention at 16
- 64x64: ch 32, batch 16, attention at 32
- 128x128: ch 32, batch 8, attention at 32 (the paper's feat32 place)
Two measurements per resolution, as one training iteration does them:
- "D step": D forward + backward on one concatenated batch of BATCH real and BATCH fake images
  (fakes made beforehand under no_grad, not timed), hinge loss relu(1 - D(real)) + relu(1 + D(fake));
- "G step": G forward on BATCH latents, D forward on the fakes, backward of -mean D(G(z), y) through D
  and G (what the generator update costs).
Figures: images per second = BATCH / median seconds of REPEATS timed runs after WARMUP runs (the D
step handles 2 x BATCH images for that, real and fake). G and D steps are interleaved repeat by
repeat, so a change in machine load hits both. torch.set_num_threads(THREADS).

GPU section (only when CUDA is available): the paper's model size, 128x128, ch 64, batch 64, 1000
classes, attention at 32; the same G + D steps in fp32 (NCHW) and in bf16 autocast with channels_last
memory format, timed in the same process, interleaved, with CUDA synchronization; prints both and the
fp32 / bf16 time ratio (> 1: bf16 + channels_last is faster).
"""

import statistics
import time

import torch
import torch.nn.functional as F

from minisagan.sagan import Discriminator, Generator, SAGANConfig

THREADS = 2
CPU_CASES = [  # (resolution, ch, batch, attention): the cpu profile's
    (32, 32, 32, 16),
    (64, 32, 16, 32),
    (128, 32, 8, 32),
]
NUM_CLASSES, Z_DIM = 10, 128
WARMUP, REPEATS = 1, {32: 9, 64: 7, 128: 5}  # about 45 s in all on 2 idle CPU threads
GPU_CASE = (128, 64, 64, 32)
GPU_CLASSES, GPU_WARMUP, GPU_REPEATS = 1000, 3, 10


def build(resolution, ch, attention, num_classes, device, seed=0):
    torch.manual_seed(seed)
    config = SAGANConfig(resolution=resolution, width=ch, z_dim=Z_DIM, num_classes=num_classes, attention=attention)
    return Generator(config).to(device).train(), Discriminator(config).to(device).train()


def batch_of(resolution, batch, num_classes, device):
    real = torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1  # stands in for data in [-1, 1]
    labels = torch.randint(0, num_classes, (batch,), device=device)
    z = torch.randn(batch, Z_DIM, device=device)
    return real, labels, z


def d_step(D, real, fake, labels):
    scores = D(torch.cat([real, fake]), torch.cat([labels, labels]))  # one call: one power iteration
    real_scores, fake_scores = scores.chunk(2)  # [2B] -> [B], [B]
    (F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()).backward()


def g_step(G, D, z, labels):
    (-D(G(z, labels), labels).mean()).backward()


def timed(name, G, D, data, sync=lambda: None):
    """Seconds of one step; the D step's fakes are made before the clock starts."""
    real, labels, z = data
    if name == "D step":
        with torch.no_grad():
            fake = G(z, labels)
        run = lambda: d_step(D, real, fake, labels)
    else:
        run = lambda: g_step(G, D, z, labels)
    sync()
    start = time.perf_counter()
    run()
    sync()
    elapsed = time.perf_counter() - start
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    return elapsed


def median_times(G, D, data, warmup, repeats, sync=lambda: None):
    """{'D step': s, 'G step': s}: medians, the two steps interleaved (order swapped every repeat)."""
    names = ["D step", "G step"]
    for _ in range(warmup):
        for name in names:
            timed(name, G, D, data, sync)
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(timed(name, G, D, data, sync))
    return {name: statistics.median(t) for name, t in times.items()}


def cpu_section():
    torch.set_num_threads(THREADS)
    print(f"CPU, {torch.get_num_threads()} threads, training mode, SN on G and D, {NUM_CLASSES} classes, "
          f"median of timed runs after {WARMUP} warm-up")
    print(f"{'resolution':>10} {'ch':>4} {'batch':>6} {'attn':>5} {'D step s':>9} {'D img/s':>8} "
          f"{'G step s':>9} {'G img/s':>8} {'iter img/s':>11}")
    for resolution, ch, batch, attention in CPU_CASES:
        G, D = build(resolution, ch, attention, NUM_CLASSES, "cpu")
        data = batch_of(resolution, batch, NUM_CLASSES, "cpu")
        t = median_times(G, D, data, WARMUP, REPEATS[resolution])
        both = t["D step"] + t["G step"]
        print(f"{resolution:>10} {ch:>4} {batch:>6} {attention:>5} {t['D step']:>9.3f} {batch / t['D step']:>8.1f} "
              f"{t['G step']:>9.3f} {batch / t['G step']:>8.1f} {batch / both:>11.1f}")


def gpu_section():
    device = torch.device("cuda")
    resolution, ch, batch, attention = GPU_CASE
    sync = torch.cuda.synchronize
    print(f"\nGPU {torch.cuda.get_device_name(device)}: {resolution}x{resolution}, ch {ch}, batch {batch}, "
          f"{GPU_CLASSES} classes, attention at {attention}, median of {GPU_REPEATS} after {GPU_WARMUP} warm-up")
    results = {}
    for name in ("fp32", "bf16 + channels_last"):
        G, D = build(resolution, ch, attention, GPU_CLASSES, device)
        real, labels, z = batch_of(resolution, batch, GPU_CLASSES, device)
        fast = name != "fp32"
        if fast:
            G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
            real = real.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=fast):
            results[name] = median_times(G, D, (real, labels, z), GPU_WARMUP, GPU_REPEATS, sync)
        del G, D
        torch.cuda.empty_cache()
    for name, t in results.items():
        both = t["D step"] + t["G step"]
        print(f"{name:>22}: D step {t['D step'] * 1e3:7.1f} ms ({batch / t['D step']:7.1f} img/s), "
              f"G step {t['G step'] * 1e3:7.1f} ms ({batch / t['G step']:7.1f} img/s), "
              f"iteration {batch / both:7.1f} img/s")
    fp32, bf16 = (sum(results[n].values()) for n in ("fp32", "bf16 + channels_last"))
    print(f"fp32 / (bf16 + channels_last) iteration time: {fp32 / bf16:.2f}x")


def main():
    start = time.perf_counter()
    cpu_section()
    if torch.cuda.is_available():
        gpu_section()
    else:
        print("\nGPU section skipped: CUDA is not available")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
