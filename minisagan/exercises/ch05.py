"""Checkers for Chapter 5's exercises (measuring a GAN)."""

import numpy as np
import torch

from ..data import consistency
from . import CheckResult, all_parts, call, check_number, checker, each_case, fail, part


@checker
def check_fid_by_hand(answer) -> CheckResult:
    """Exercise 5.1: the Fréchet distance of N((0,0), diag(1,4)) and N((1,2), diag(4,1))."""
    mean_term = 1.0**2 + 2.0**2
    trace_term = (1 + 4 - 2 * np.sqrt(1 * 4)) + (4 + 1 - 2 * np.sqrt(4 * 1))  # per diagonal entry
    return check_number(answer, mean_term + trace_term, tol=1e-6, what="FID", mistakes=[
        ("mean-term-only", mean_term, "off by 2: the trace term Tr(S1 + S2 - 2 (S1 S2)^(1/2)) is missing"),
        ("no-cross-term", mean_term + 10, "the trace term needs - 2 (S1 S2)^(1/2): here -2 diag(2, 2)"),
        ("no-square-root", mean_term + 10 - 2 * 8, "(S1 S2)^(1/2) is a square root: diag(2, 2), not diag(4, 4)")])


def _mmd2(a, b, *, unbiased=True):
    m, d = a.shape
    expected = 0.0
    for x, y, sign, skip_diagonal in ((a, a, 1, unbiased), (b, b, 1, unbiased), (a, b, -2, False)):
        total = sum(((x[i] @ y[j]) / d + 1) ** 3 for i in range(m) for j in range(m) if not (skip_diagonal and i == j))
        expected += sign * total / (m * (m - 1) if skip_diagonal else m * m)
    return expected


@checker
def check_kid_by_hand(fn) -> CheckResult:
    """Exercise 5.2: ``fn(a [m, d], b [m, d]) -> float``, the unbiased MMD^2 with the cubic kernel."""
    rng = np.random.default_rng(52)
    cases = [(rng.normal(size=(m, d)), rng.normal(loc=shift, size=(m, d)))
             for m, d, shift in ((20, 4, 0.0), (50, 16, 0.5), (8, 3, 2.0))]

    def check_one(case):
        a, b = case
        m, d = a.shape
        expected, biased = _mmd2(a, b), _mmd2(a, b, unbiased=False)
        what = f"MMD^2 for m={m}, d={d}"
        tol = 1e-6 * max(1.0, abs(expected))
        result = check_number(call(fn, a, b, form="(a, b)"), expected, tol=tol, what=what, mistakes=[
            ("biased", biased, f"off by {abs(biased - expected):.3g}: that is the biased estimate; leave out the "
             "diagonal terms k(a_i, a_i) and k(b_i, b_i) and divide those sums by m (m - 1)")])
        if not result.passed:
            fail(result.message, result.mistake)
    return each_case(cases, check_one, "the unbiased MMD^2 on three pairs of feature sets")


@checker
def check_fooled_is(images) -> CheckResult:
    """Exercise 5.3: >= 500 images with domain IS above 9 and consistency below 0.1 (a part each)."""
    from ..metrics import fidelity_metrics  # generated from Chapter 5; imported late to keep this light

    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[0] < 500:
        return CheckResult(False, "expected a tensor [n, 3, 32, 32] with n >= 500", "not-a-batch")
    score = consistency(images).score
    inception_score = fidelity_metrics(images, images, fid=False, kid=False)["IS"]
    is_said, consistency_said = f"domain IS is {inception_score:.2f}", f"consistency is {score:.2f}"
    fooled = part(inception_score > 9, is_said,
                  f"{is_said}, not above 9: are the shapes intact and the classes balanced?")
    inconsistent = part(score < 0.1, consistency_said, f"{consistency_said}, not below 0.1: too many twins still agree")
    return all_parts([fooled, inconsistent], said="domain IS above 9 with almost no twin agreeing: IS cannot see "
                                                  "consistency")
