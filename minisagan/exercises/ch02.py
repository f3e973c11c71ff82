"""Checkers for Chapter 2's exercises (spectral normalization)."""

import torch

from . import CheckResult, check_number, compare_tensors


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm()


def check_power_step(fn) -> CheckResult:
    """Exercise 2.1: ``fn(W [rows, cols], v [cols]) -> (u, v_next)``, one step of the power iteration."""
    gen = torch.Generator().manual_seed(2)
    for rows, cols in ((5, 3), (16, 40), (64, 64)):
        W = torch.randn(rows, cols, generator=gen, dtype=torch.float64)
        v = _normalize(torch.randn(cols, generator=gen, dtype=torch.float64))
        u_expected = _normalize(W @ v)  # independent of minisagan.spectral_norm: the definition
        v_expected = _normalize(W.T @ u_expected)
        try:
            u, v_next = fn(W, v)
        except (TypeError, ValueError) as err:
            return CheckResult(False, f"fn(W, v) must return (u, v_next): {err}")
        for name, got, expected in (("u", u, u_expected), ("v_next", v_next, v_expected)):
            failure = compare_tensors(got, expected, tol=1e-8, case=f"{name} for a {rows}x{cols} W")
            if failure is not None:
                return failure
    return CheckResult(True, "u = Wv/||Wv|| and v_next = W^T u/||W^T u|| on three matrices")


def one_iteration_error(W: torch.Tensor, starts: int = 200, seed: int = 0) -> float:
    """Mean relative underestimate of sigma(W) after one iteration from random unit vectors."""
    W = W.detach().double()
    exact = torch.linalg.svdvals(W)[0]
    gen = torch.Generator().manual_seed(seed)
    errors = []
    for _ in range(starts):
        v = _normalize(torch.randn(W.shape[1], generator=gen, dtype=torch.float64))
        u = _normalize(W @ v)
        v = _normalize(W.T @ u)
        errors.append(((exact - u @ W @ v) / exact).item())
    return sum(errors) / len(errors)


def check_bad_start(W) -> CheckResult:
    """Exercise 2.2: a matrix whose sigma one iteration from a random start underestimates by more than half."""
    if not isinstance(W, torch.Tensor) or W.dim() != 2 or min(W.shape) < 2:
        return CheckResult(False, "expected a matrix tensor of at least 2x2")
    if not torch.isfinite(W).all() or torch.linalg.svdvals(W.double())[0] == 0:
        return CheckResult(False, "the matrix must be finite and not all zero")
    error = one_iteration_error(W)
    if error <= 0.5:
        return CheckResult(False, f"one iteration is off by only {error:.1%} on average (need more than 50%; a random square matrix gives about 30%)")
    return CheckResult(True, "one iteration from a random start is off by more than half on average")


def exercise_weights() -> tuple[torch.Tensor, torch.Tensor]:
    """The two layers of exercise 2.3: W1 [32, 16], W2 [1, 32]."""
    gen = torch.Generator().manual_seed(23)
    return torch.randn(32, 16, generator=gen), torch.randn(1, 32, generator=gen) / 4


def check_lipschitz_bound(answer) -> CheckResult:
    """Exercise 2.3: sigma(W1) * sigma(W2) for `exercise_weights()`."""
    W1, W2 = (w.double() for w in exercise_weights())
    expected = (torch.linalg.svdvals(W1)[0] * torch.linalg.svdvals(W2)[0]).item()
    return check_number(answer, expected, tol=1e-3 * expected, what="the Lipschitz bound")
