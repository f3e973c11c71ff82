"""Cost of the chapter's SNConv2d against torch.nn.utils.parametrizations.spectral_norm and plain Conv2d.

    python benchmarks/bench_spectral_norm.py

A stack of LAYERS convolutions CHANNELS -> CHANNELS, 3x3, on [BATCH, CHANNELS, SIZE, SIZE], in
training mode (one power iteration per layer per forward), timed forward + backward. The three
stacks are timed in the same process, interleaved repeat by repeat (the order reversed every other
repeat), after a warm-up; the median of REPEATS is reported. Goal: ours / torch at most 1.05.
"""

import statistics
import time

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from minisagan.spectral_norm import SNConv2d

LAYERS, CHANNELS, BATCH, SIZE = 4, 64, 4, 32  # about 50-100 ms per forward + backward on 2 CPU threads
WARMUP, REPEATS = 3, 21
GOAL = 1.05


def stack(make_conv) -> nn.Module:
    layers = []
    for _ in range(LAYERS):
        layers += [make_conv(), nn.LeakyReLU(0.1)]
    return nn.Sequential(*layers).train()


STACKS = {
    "ours (SNConv2d)": lambda: SNConv2d(CHANNELS, CHANNELS, 3, padding=1),
    "torch spectral_norm": lambda: torch_spectral_norm(nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)),
    "plain Conv2d": lambda: nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1),
}


def forward_backward_seconds(model: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    model(x).square().mean().backward()  # [B, C, H, W] -> scalar
    elapsed = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return elapsed


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    models = {name: stack(make) for name, make in STACKS.items()}
    x = torch.randn(BATCH, CHANNELS, SIZE, SIZE)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {LAYERS} convs {CHANNELS}->{CHANNELS} 3x3 "
          f"on [{BATCH}, {CHANNELS}, {SIZE}, {SIZE}], training mode, forward + backward, "
          f"median of {REPEATS} interleaved repeats")
    for _ in range(WARMUP):
        for model in models.values():
            forward_backward_seconds(model, x)
    times = {name: [] for name in models}
    for repeat in range(REPEATS):
        order = list(models) if repeat % 2 == 0 else list(reversed(models))  # no stack always goes first
        for name in order:
            times[name].append(forward_backward_seconds(models[name], x))
    median = {name: statistics.median(t) for name, t in times.items()}
    for name, seconds in median.items():
        print(f"{name:>20}: {seconds * 1e3:7.1f} ms  (min {min(times[name]) * 1e3:6.1f}, "
              f"max {max(times[name]) * 1e3:6.1f})")
    ours, theirs, plain = median.values()
    ratio = ours / theirs
    # the ratio within each repeat too: the two ran back to back, so a slow spell hits both
    paired = statistics.median(a / b for a, b in zip(*list(times.values())[:2]))
    print(f"ours / torch spectral_norm: {ratio:.3f}, median of paired ratios {paired:.3f} "
          f"(goal <= {GOAL}: {'met' if max(ratio, paired) <= GOAL else 'NOT met'})")
    best = {name: min(t) for name, t in times.items()}  # other work on the machine only slows a repeat down
    print(f"ours / torch spectral_norm, best of each: {best['ours (SNConv2d)'] / best['torch spectral_norm']:.3f}")
    print(f"ours / plain Conv2d (the cost of SN at all): {ours / plain:.3f}")
    print(f"torch spectral_norm / plain Conv2d: {theirs / plain:.3f}")


if __name__ == "__main__":
    main()
