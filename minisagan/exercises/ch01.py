"""Checkers for Chapter 1's exercises (GANs and the hinge loss).

The references here are written independently of `minisagan.losses` (plain Python arithmetic), so
a checker also catches a mistake in the chapter's own code. Each also computes the mistakes the
chapter warns about (a sum where eq. (4) takes a mean, no margin, the overflowing log) and names
the one an answer makes.
"""

import math

import torch

from . import CheckResult, call, check_number, checker, each_case, expect_tensor, fail

SUM = "a sum where eq. (4) takes a mean: E[...] averages over the batch, so the loss must not grow with it"


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


def _hinge_mistakes(real: torch.Tensor, fake: torch.Tensor):
    relu = torch.nn.functional.relu
    real, fake = real.double(), fake.double()
    return [
        ("sum-instead-of-mean", relu(1 - real).sum() + relu(1 + fake).sum(), SUM),
        ("one-mean-over-both", torch.cat([relu(1 - real), relu(1 + fake)]).mean(),
         "one mean over the real and fake terms together; eq. (4) averages each term over its own batch"),
        ("no-margin", relu(-real).mean() + relu(fake).mean(),
         "the margin is missing: eq. (4) is max(0, 1 - D(x)) and max(0, 1 + D(G(z))), not max(0, -D(x))"),
        ("swapped-signs", relu(1 + real).mean() + relu(1 - fake).mean(),
         "the signs are swapped: D must score real images high (1 - D(x)) and fakes low (1 + D(G(z)))"),
    ]


@checker
def check_hinge_d_loss(fn) -> CheckResult:
    """Exercise 1.1: ``fn(real_scores [B], fake_scores [B']) -> scalar`` is the hinge loss of D."""
    def check_one(batch):
        case, real, fake = batch
        expected = torch.tensor(_hinge_d_reference(real.tolist(), fake.tolist()), dtype=torch.float64)
        answer = call(fn, real, fake, form="(real_scores, fake_scores)")
        expect_tensor(answer, expected, tol=1e-5, case=case, mistakes=_hinge_mistakes(real, fake))
    return each_case(_score_batches(), check_one, "matches eq. (4) on random, saturated, zero and large scores")


@checker
def check_hinge_by_hand(answer) -> CheckResult:
    """Exercise 1.2: L_D for real scores [2.0, 0.5, -1.0] and fake scores [-3.0, 0.0, 0.5]."""
    real, fake = [2.0, 0.5, -1.0], [-3.0, 0.0, 0.5]
    expected = _hinge_d_reference(real, fake)
    mistakes = [(name, float(value), sentence) for name, value, sentence in
                _hinge_mistakes(torch.tensor(real), torch.tensor(fake))]
    return check_number(answer, expected, tol=1e-3, what="L_D", mistakes=mistakes)


@checker
def check_ns_g_loss(fn) -> CheckResult:
    """Exercise 1.3: ``fn(fake_scores [B]) -> scalar`` is the non-saturating G loss, finite for any score."""
    F = torch.nn.functional
    def check_one(batch):
        case, _, fake = batch
        expected = torch.tensor(_ns_g_reference(fake.tolist()), dtype=torch.float64)
        answer = call(fn, fake, form="(fake_scores)")
        if isinstance(answer, torch.Tensor) and answer.shape == () and not torch.isfinite(answer):
            fail(f"{case}: the loss is {answer.item()}: log(sigmoid(s)) underflows to log(0) for very negative "
                 "scores; softplus(-s) is the same function and stays finite", "overflow")
        scores = fake.double()
        expect_tensor(answer, expected, tol=1e-4, case=case, mistakes=[
            ("sum-instead-of-mean", F.softplus(-scores).sum(), SUM),
            ("saturating", -F.softplus(scores).mean(), "that is the saturating loss E[log(1 - sigmoid(s))], "
             "whose gradient vanishes when D rejects the fakes; the non-saturating loss is -E[log sigmoid(s)]"),
            ("wrong-sign", -F.softplus(-scores).mean(), "the sign is flipped: -E[log sigmoid(s)] is positive")])
    return each_case(_score_batches(), check_one, "matches -E[log sigmoid(D(G(z)))] and stays finite for large scores")
