"""Checkers for Chapter 8's exercises (the explorer's data, gamma over training, what a residual block
costs in the attention block's place)."""

import dataclasses

import numpy as np

from ..sagan import Discriminator, Generator, SAGANConfig
from . import CheckResult, call, checker, each_case, fail


def _maps(seed: int) -> np.ndarray:
    """Explorer-like data [B, H, W, Hk, Wk]: uint8, each query's maximum 255, some ties."""
    rng = np.random.default_rng(seed)
    maps = rng.integers(0, 200, (2, 4, 4, 3, 5)).astype(np.uint8)
    for b, r, c in np.ndindex(2, 4, 4):
        k = rng.integers(0, 15)
        maps[b, r, c].flat[k] = 255
        if (r + c) % 3 == 0:  # a tie: the first in reading order wins
            maps[b, r, c].flat[min(k + 1 + rng.integers(0, 3), 14)] = 255
    return maps


@checker
def check_most_attended(fn) -> CheckResult:
    """Exercise 8.1: ``fn(maps, b, r, c) -> (row, col)`` of the most attended cell, first on a tie."""
    maps = _maps(81)

    def check_one(query):
        b, r, c = query
        grid = maps[b, r, c]
        flat = int(grid.argmax())
        expected = divmod(flat, grid.shape[1])
        answer = call(fn, maps, b, r, c, form="(maps, b, r, c)")
        try:
            answer = tuple(int(v) for v in answer)
        except TypeError:
            if isinstance(answer, (int, np.integer)) and int(answer) == flat:
                fail("that is the flat index of the cell; return (row, col): divmod by the width", "flat-index")
            fail(f"expected a pair (row, col), got {answer!r}", "not-a-pair")
        if answer == expected:
            return
        if answer == expected[::-1]:
            fail(f"query ({b}, {r}, {c}): ({answer[0]}, {answer[1]}) is (col, row); return (row, col)", "row-col-swapped")
        last = np.flatnonzero(grid.ravel() == grid.max())[-1]
        if answer == divmod(int(last), grid.shape[1]):
            fail(f"query ({b}, {r}, {c}) has a tie; you returned the last maximum, the first in reading order is "
                 f"{expected}", "last-on-tie")
        if answer == divmod(flat, grid.shape[0]):
            fail(f"query ({b}, {r}, {c}): divide the flat index by the width ({grid.shape[1]}), not the height", "divided-by-height")
        fail(f"query ({b}, {r}, {c}): expected {expected}, got {answer}")
    return each_case(list(np.ndindex(*maps.shape[:3])), check_one, f"the most attended cell of all "
                     f"{maps.shape[0] * maps.shape[1] * maps.shape[2]} queries, ties included")


def _half_step(steps, gammas) -> float:
    final = abs(gammas[-1])
    return next(s for s, g in zip(steps, gammas) if abs(g) >= final / 2)


@checker
def check_gamma_half_step(fn) -> CheckResult:
    """Exercise 8.2: ``fn(steps, gammas)``: the first step at which |gamma| reaches half its final |gamma|."""
    steps = list(range(10, 3010, 10))
    curves = {
        "growing": [0.3 * (s / 3000) ** 2 for s in steps],
        "negative": [-0.2 * min(1.0, s / 1500) for s in steps],
        "overshooting": [0.4 * min(1.0, s / 500) - 0.25 * max(0.0, (s - 1500) / 1500) for s in steps],
    }
    def check_one(case):
        name, gammas = case
        expected = _half_step(steps, gammas)
        answer = call(fn, list(steps), list(gammas), form="(steps, gammas)")
        if answer == expected:
            return
        if name == "negative" and answer in (steps[0], None):
            fail("gamma may be negative (the sign of o is free): compare |gamma| with half of |final gamma|", "sign")
        if isinstance(answer, (int, np.integer)) and 0 <= answer < len(steps) and steps[answer] == expected:
            fail(f"{name} curve: {answer} is the index of that step; return the step itself ({expected})", "index-not-step")
        if name == "overshooting":
            peak = max(abs(g) for g in gammas)
            if answer == next(s for s, g in zip(steps, gammas) if abs(g) >= peak / 2):
                fail("half of the largest |gamma| is not half of the final one: this curve overshoots, then settles",
                     "half-of-peak")
        fail(f"{name} curve: expected step {expected}, got {answer!r}")
    return each_case(curves.items(), check_one, "the half-way step of a growing, a negative and an overshooting gamma")


def _extra(config: SAGANConfig) -> tuple[int, int]:
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    without = dataclasses.replace(config, attention=0)
    return count(Generator(config)) - count(Generator(without)), count(Discriminator(config)) - count(Discriminator(without))


@checker
def check_residual_parameters(fn) -> CheckResult:
    """Exercise 8.3: ``fn(config) -> (G's extra parameters, D's)`` of the block at ``config.attention``."""
    cases = [SAGANConfig(resolution=32, width=16, z_dim=64, num_classes=10, attention=a, attention_kind=kind)
             for a in (8, 16) for kind in ("residual", "attention")]
    cases.append(SAGANConfig(resolution=64, width=8, z_dim=32, num_classes=0, attention=32, attention_kind="residual"))
    def check_one(config):
        expected = _extra(config)
        answer = call(fn, config, form="(config)")
        try:
            answer = tuple(int(v) for v in answer)
        except TypeError:
            fail(f"expected a pair (G's extra parameters, D's), got {answer!r}", "not-a-pair")
        where = f"{config.attention_kind} at {config.attention} ({config.resolution}x{config.resolution})"
        if answer == expected:
            return
        if answer == expected[::-1]:
            fail(f"{where}: the pair is (D, G); return (G, D)", "swapped")
        if answer[0] == expected[0] + expected[1] or answer[1] == expected[0] + expected[1]:
            fail(f"{where}: that is G's and D's together; return each network's count", "summed")
        fail(f"{where}: expected (G +{expected[0]:,}, D +{expected[1]:,}), got {answer}")
    return each_case(cases, check_one, "both kinds of block at 8 and 16 at 32x32, and a residual block at 32 at 64x64")
