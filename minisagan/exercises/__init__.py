"""Checkers for the book's exercises: each says whether an answer is right and, if not, how far off.

Every checker returns a `CheckResult`, which a notebook shows as one line. Tests run each chapter's
solutions through its checkers and make sure wrong answers fail them.
"""

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    message: str

    def __repr__(self) -> str:
        return ("Correct: " if self.passed else "Not yet: ") + self.message

    def __bool__(self) -> bool:
        return self.passed


def compare_tensors(answer, expected: torch.Tensor, *, tol: float, case: str) -> CheckResult | None:
    """None when ``answer`` matches ``expected`` within ``tol``; else a failing result that says how."""
    if not isinstance(answer, torch.Tensor):
        return CheckResult(False, f"{case}: expected a tensor, got {type(answer).__name__}")
    if answer.shape != expected.shape:
        return CheckResult(False, f"{case}: shape {tuple(answer.shape)}, expected {tuple(expected.shape)}")
    answer = answer.detach().double()
    if not torch.isfinite(answer).all():
        return CheckResult(False, f"{case}: the answer holds inf or nan where the reference is {expected.tolist()}")
    error = (answer - expected.double()).abs().max().item()
    if error > tol:
        return CheckResult(False, f"{case}: off by {error:.3g} (tolerance {tol:g})")
    return None


def check_number(answer, expected: float, *, tol: float, what: str) -> CheckResult:
    """Compare a number worked out by hand with the expected value."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return CheckResult(False, f"{what}: expected a number, got {answer!r}")
    if math.isfinite(value) and abs(value - expected) <= tol:
        return CheckResult(True, f"{what} = {expected:.4g}")
    return CheckResult(False, f"{what}: {value:.4g} is off by {abs(value - expected):.3g} (tolerance {tol:g})")
