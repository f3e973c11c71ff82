"""Checkers for Chapter 0's exercises (the built-in data and how far apart its twins are)."""

import torch

from ..data import consistency
from . import CheckResult, all_parts, call, check_number, checker, each_case, fail, part


@checker
def check_twin_position(fn) -> CheckResult:
    """Exercise 0.1: ``fn(x, y, resolution) -> (x', y')``, the mirror twin of a pixel-centre position."""
    cases = [(5.5, 7.5, 32), (0.5, 31.5, 32), (16.0, 3.0, 32), (20.25, 40.0, 64), (100.5, 0.5, 128)]
    def check_one(case):
        x, y, size = case
        expected = (size - x, y)  # pixel centres run 0.5 .. size - 0.5; the mirror of x is size - x
        answer = call(fn, x, y, size, form="(x, y, resolution)")
        try:
            got = tuple(float(v) for v in answer)
        except (TypeError, ValueError):
            fail(f"fn({x}, {y}, {size}) must return two numbers (x, y)", "not-a-pair")
        if len(got) != 2 or max(abs(g - e) for g, e in zip(got, expected)) > 1e-6:
            if got == (size - 1 - x, y):
                fail(f"fn({x}, {y}, {size}) = {got}: S - 1 - x mirrors pixel indices 0 .. S - 1; pixel "
                     "centres 0.5 .. S - 0.5 mirror to S - x", "off-by-one")
            if got == (size - x, size - y):
                fail(f"fn({x}, {y}, {size}) = {got}: the twin is mirrored left-right only, its row stays", "both-axes")
            fail(f"fn({x}, {y}, {size}) = {got}, expected {expected}")
    return each_case(cases, check_one, f"the twin of (x, y) is (S - x, y) on all {len(cases)} cases")


@checker
def check_half_consistent(images) -> CheckResult:
    """Exercise 0.2: a batch of at least 20 built-in images of which exactly half are consistent (two
    parts: the objects intact, half the twins agreeing)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[0] < 20:
        return CheckResult(False, "expected a tensor [B, 3, S, S] with B >= 20", "not-a-batch")
    report = consistency(images)
    broken, scored = int((~report.has_pair).sum()), f"the checker scores the batch {report.score:.3f}"
    objects = part(not broken, "every image holds two objects", f"{broken} images lack an object on one side: "
                   "break the agreement, not the objects", "objects-broken")
    half = part(abs(report.score - 0.5) <= 1e-9, scored, f"{scored}, not 0.5")
    return all_parts([objects, half], said="half the twins agree, half do not, and every image still holds two objects")


@checker
def check_receptive_field_layers(answer) -> CheckResult:
    """Exercise 0.3: stride-1 3x3 convolutions needed before one output pixel sees two centres 12 px apart."""
    return check_number(answer, 6, tol=0, what="layers of 3x3 convolutions", mistakes=[
        ("one-pixel-per-layer", 12, "each 3x3 layer widens the field by one pixel on each side, two in all"),
        ("off-by-one", 5, "11 x 11 pixels reach only 10 pixels apart; the two centres span 13 pixels")])
