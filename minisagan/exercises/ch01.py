"""Checkers for Chapter 1's exercises (GANs and the hinge loss).

The references here are written independently of `minisagan.losses` (plain Python arithmetic), so
a checker also catches a mistake in the chapter's own code.
"""

import math

import torch

from . import CheckResult, check_number, compare_tensors


def _hinge_d_reference(real: list[float], fake: list[float]) -> float:
    # eq. (4), one sample at a time: max(0, 1 - D(x)) averaged over real, max(0, 1 + D(G(z))) over fake
    return sum(max(0.0, 1 - r) for r in real) / len(real) + sum(max(0.0, 1 + f) for f in fake) / len(fake)


def _ns_g_reference(fake: list[float]) -> float:
    # -log(sigmoid(s)) = log(1 + exp(-s)), written so that it stays finite for large |s|
    return sum(max(-s, 0.0) + math.log1p(math.exp(-abs(s))) for s in fake) / len(fake)


def _score_batches() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    return [
        ("random scores", torch.randn(16, generator=gen) * 2, torch.randn(16, generator=gen) * 2),
        ("scores beyond the margins", torch.tensor([1.5, 3.0, 8.0]), torch.tensor([-1.5, -2.0, -9.0])),
        ("all scores zero", torch.zeros(5), torch.zeros(7)),
        ("large scores", torch.tensor([-60.0, 40.0, 0.3]), torch.tensor([55.0, -120.0, -0.2, 1.0])),
    ]


def check_hinge_d_loss(fn) -> CheckResult:
    """Exercise 1.1: ``fn(real_scores [B], fake_scores [B']) -> scalar`` is the hinge loss of D."""
    for case, real, fake in _score_batches():
        expected = torch.tensor(_hinge_d_reference(real.tolist(), fake.tolist()), dtype=torch.float64)
        failure = compare_tensors(fn(real, fake), expected, tol=1e-5, case=case)
        if failure is not None:
            return failure
    return CheckResult(True, "matches eq. (4) on random, saturated, zero and large scores")


def check_hinge_by_hand(answer) -> CheckResult:
    """Exercise 1.2: L_D for real scores [2.0, 0.5, -1.0] and fake scores [-3.0, 0.0, 0.5]."""
    expected = _hinge_d_reference([2.0, 0.5, -1.0], [-3.0, 0.0, 0.5])
    return check_number(answer, expected, tol=1e-3, what="L_D")


def check_ns_g_loss(fn) -> CheckResult:
    """Exercise 1.3: ``fn(fake_scores [B]) -> scalar`` is the non-saturating G loss, finite for any score."""
    for case, _, fake in _score_batches():
        expected = torch.tensor(_ns_g_reference(fake.tolist()), dtype=torch.float64)
        failure = compare_tensors(fn(fake), expected, tol=1e-4, case=case)
        if failure is not None:
            return failure
    return CheckResult(True, "matches -E[log sigmoid(D(G(z)))] and stays finite for large scores")
