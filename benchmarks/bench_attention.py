"""Time and peak memory of chapter 3's SelfAttention: fused path against naive path (and the official variant).

    python benchmarks/bench_attention.py

Configurations: batch BATCH, C = CHANNELS, feature maps 32x32 (N = 1024) and 64x64 (N = 4096); blocks
SelfAttention(64) ("fused"), SelfAttention(64, fused=False) ("naive") and SelfAttention(64, official=True)
("official", fused path). Every measurement is one training-mode forward + backward (the SN convs run
their power iteration; the input requires a gradient, as inside a network), loss = mean of squares.

Time: the three blocks are timed in this process, interleaved repeat by repeat (the order reversed
every other repeat, so no block always goes first), after WARMUP runs each; the median is reported.

Peak memory (CPU): each configuration runs in its own subprocess (`--one VARIANT SIZE`). The subprocess
builds the block and input, runs one forward + backward on an 8x8 map (loads kernels, starts thread
pools), takes its current resident set (VmRSS in /proc/self/status) as the baseline, resets the
kernel's peak-RSS mark (writing 5 to /proc/self/clear_refs), runs the measured forward + backward once
and reports the peak resident set (VmHWM) minus the baseline, in MiB: the memory the step itself
needed on top of the model and input. Large tensors are freed back to the system (glibc's malloc
maps them separately), so the resident set follows the tensors alive. Not ru_maxrss: Linux carries it
over exec from the parent (a child started by a parent holding 1.7 GiB reports at least 1.7 GiB),
and it cannot be reset; where clear_refs cannot be written the figure falls back to VmHWM without a
reset and is flagged as an upper bound when the step did not raise the mark. torch.profiler's memory
profiling was not used: on CPU it reports allocations per operator, not a peak over time.

Goals (the issue): at 64x64, batch 8, C = 64 the fused path at least 2x faster than the naive path
and using at most 1/4 of its peak memory.
"""

import argparse
import statistics
import subprocess
import sys
import time
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from minisagan.attention import SelfAttention

BATCH, CHANNELS, SIZES = 8, 64, (32, 64)
WARMUP, REPEATS = 1, {32: 7, 64: 5}  # about 45 s in all on 2 idle CPU threads
THREADS = 2
SPEEDUP_GOAL, MEMORY_GOAL = 2.0, 4.0  # naive / fused at 64x64: time at least 2x, memory at least 4x
VARIANTS = {
    "fused": dict(fused=True),
    "naive": dict(fused=False),
    "official": dict(official=True, fused=True),
}
MIB = 2**20


def build(variant: str, size: int, seed: int = 0):
    torch.manual_seed(seed)
    block = SelfAttention(CHANNELS, **VARIANTS[variant]).train()
    with torch.no_grad():
        block.gamma.fill_(0.5)  # gamma = 0 would still compute o, but a nonzero one is the realistic case
    x = torch.randn(BATCH, CHANNELS, size, size, requires_grad=True)
    return block, x


def forward_backward_seconds(block: SelfAttention, x: torch.Tensor) -> float:
    start = time.perf_counter()
    block(x).square().mean().backward()  # [B, C, H, W] -> scalar
    elapsed = time.perf_counter() - start
    block.zero_grad(set_to_none=True)
    x.grad = None
    return elapsed


def status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux; VmRSS: now, VmHWM: the peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # 5: reset the peak resident set size to the current one
    except OSError:
        return False
    return True


def measure_one(variant: str, size: int) -> None:
    """In a fresh process: print 'peak_mib upper_bound' for one forward + backward."""
    torch.set_num_threads(THREADS)
    block, x = build(variant, size)
    forward_backward_seconds(block, torch.randn(BATCH, CHANNELS, 8, 8, requires_grad=True))
    baseline = status_mib("VmRSS")
    was_reset = reset_peak()
    peak_before = status_mib("VmHWM")
    forward_backward_seconds(block, x)
    peak_after = status_mib("VmHWM")
    print(f"{peak_after - baseline:.1f} {int(not was_reset and peak_after <= peak_before)}")


def peak_memory_mib(variant: str, size: int) -> tuple[float, bool]:
    result = subprocess.run([sys.executable, __file__, "--one", variant, str(size)],
                            capture_output=True, text=True, check=True)
    mib, upper_bound = result.stdout.split()
    return float(mib), upper_bound == "1"


def fused_kernel_usable(variant: str) -> bool:
    """Whether SDPA finds a fused kernel for the block's own query, key and value (else: the math path)."""
    block, x = build(variant, 8)
    query, key, value = block.project(x)
    try:
        with warnings.catch_warnings(), sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            warnings.simplefilter("ignore")
            F.scaled_dot_product_attention(query, key, value, scale=1.0)
    except RuntimeError:
        return False
    return True


def time_size(size: int) -> dict[str, list[float]]:
    runs = {name: build(name, size) for name in VARIANTS}
    for _ in range(WARMUP):
        for block, x in runs.values():
            forward_backward_seconds(block, x)
    times = {name: [] for name in runs}
    for repeat in range(REPEATS[size]):
        order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for name in order:
            times[name].append(forward_backward_seconds(*runs[name]))
    return times


def main():
    torch.set_num_threads(THREADS)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; SelfAttention({CHANNELS}), batch {BATCH}, "
          f"training mode, forward + backward; time: median of interleaved repeats after {WARMUP} warm-up; "
          f"memory: peak RSS of one step above its baseline, one subprocess per configuration")
    for variant in ("fused", "official"):
        print(f"fused (flash) SDPA kernel usable for the {variant} block's q, k, v: {fused_kernel_usable(variant)}")
    results = {}
    for size in SIZES:
        N = size * size
        times = time_size(size)
        memory = {name: peak_memory_mib(name, size) for name in VARIANTS}
        print(f"\n{size}x{size} (N = {N}); beta [B, N, N] in float32 would take {BATCH * N * N * 4 / MIB:.0f} MiB")
        for name in VARIANTS:
            seconds = statistics.median(times[name])
            mib, upper_bound = memory[name]
            print(f"{name:>9}: {seconds * 1e3:8.1f} ms (min {min(times[name]) * 1e3:8.1f}, max "
                  f"{max(times[name]) * 1e3:8.1f}, {len(times[name])} repeats), peak {'<=' if upper_bound else '  '}"
                  f"{mib:7.1f} MiB")
        median = {name: statistics.median(t) for name, t in times.items()}
        speedup = median["naive"] / median["fused"]
        saving = memory["naive"][0] / max(memory["fused"][0], 1e-9)
        # the ratio within each repeat too: the two ran back to back, so a slow spell hits both
        paired = statistics.median(n / f for n, f in zip(times["naive"], times["fused"]))
        speedup = min(speedup, paired)  # judge the goal by the less favourable of the two
        print(f"naive / fused: time {speedup:.2f}x (ratio of medians and median of paired ratios, the lower), "
              f"memory {saving:.2f}x; naive / official: time "
              f"{median['naive'] / median['official']:.2f}x, memory "
              f"{memory['naive'][0] / max(memory['official'][0], 1e-9):.2f}x")
        results[size] = speedup, saving
    speedup, saving = results[64]
    print(f"\ngoal at 64x64, fused at least {SPEEDUP_GOAL:g}x faster than naive: {speedup:.2f}x, "
          f"{'met' if speedup >= SPEEDUP_GOAL else 'NOT met'}")
    print(f"goal at 64x64, fused peak memory at most 1/{MEMORY_GOAL:g} of naive's: naive / fused = {saving:.2f}, "
          f"{'met' if saving >= MEMORY_GOAL else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("VARIANT", "SIZE"), help="measure one configuration's peak memory")
    args = parser.parse_args()
    if args.one:
        measure_one(args.one[0], int(args.one[1]))
    else:
        main()
