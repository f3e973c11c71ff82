"""Checkers for Chapter 2's exercises (spectral normalization)."""

import math

import torch

from . import CheckResult, call, check_number, checker, each_case, expect_tensor, fail


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm()


@checker
def check_power_step(fn) -> CheckResult:
    """Exercise 2.1: ``fn(W [rows, cols], v [cols]) -> (u, v_next)``, one step of the power iteration."""
    gen = torch.Generator().manual_seed(2)
    cases = []
    for rows, cols in ((5, 3), (16, 40), (64, 64)):
        W = torch.randn(rows, cols, generator=gen, dtype=torch.float64)
        cases.append((W, _normalize(torch.randn(cols, generator=gen, dtype=torch.float64))))

    def check_one(case):
        W, v = case
        rows, cols = W.shape
        u_expected = _normalize(W @ v)  # independent of minisagan.spectral_norm: the definition
        v_expected = _normalize(W.T @ u_expected)
        answer = call(fn, W, v, form="(W, v)")
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            fail(f"fn(W, v) must return the pair (u, v_next), got {type(answer).__name__}", "not-a-pair")
        u, v_next = answer
        unnormalized = "is not normalized: divide it by its norm, so that the iteration neither blows up nor vanishes"
        expect_tensor(u, u_expected, tol=1e-8, case=f"u for a {rows}x{cols} W", mistakes=[
            ("no-normalization", W @ v, f"u {unnormalized}"), ("swapped-outputs", v_expected, "(v_next, u) "
             "returned in the wrong order: return (u, v_next)")])
        expect_tensor(v_next, v_expected, tol=1e-8, case=f"v_next for a {rows}x{cols} W", mistakes=[
            ("no-normalization", W.T @ u_expected, f"v_next {unnormalized}"),
            ("v-unchanged", v, "v_next is the vector you were given: it is W^T u / ||W^T u||")])
    return each_case(cases, check_one, "u = Wv/||Wv|| and v_next = W^T u/||W^T u|| on three matrices")


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


@checker
def check_bad_start(W) -> CheckResult:
    """Exercise 2.2: a matrix whose sigma one iteration from a random start underestimates by more than half."""
    if not isinstance(W, torch.Tensor) or W.dim() != 2 or min(W.shape) < 2:
        return CheckResult(False, "expected a matrix tensor of at least 2x2", "not-a-matrix")
    if not torch.isfinite(W).all() or torch.linalg.svdvals(W.double())[0] == 0:
        return CheckResult(False, "the matrix must be finite and not all zero", "not-finite")
    error = one_iteration_error(W)
    if error <= 0.5:
        singular = torch.linalg.svdvals(W.double())
        ratio = (singular[0] / singular[1]).item() if singular[1] > 0 else math.inf
        return CheckResult(False, f"one iteration underestimates sigma by {max(error, 0.0):.2%} on average (need more "
                           f"than 50%; a random square matrix gives about 30%): your {W.shape[0]}x{W.shape[1]} matrix "
                           f"has sigma_1 = {singular[0]:.4g}, sigma_1/sigma_2 = {ratio:.3g}; the estimate is poor when "
                           "a random start holds little of the top singular direction", "")
    return CheckResult(True, "one iteration from a random start is off by more than half on average")


def exercise_weights() -> tuple[torch.Tensor, torch.Tensor]:
    """The two layers of exercise 2.3: W1 [32, 16], W2 [1, 32]."""
    gen = torch.Generator().manual_seed(23)
    return torch.randn(32, 16, generator=gen), torch.randn(1, 32, generator=gen) / 4


@checker
def check_lipschitz_bound(answer) -> CheckResult:
    """Exercise 2.3: sigma(W1) * sigma(W2) for `exercise_weights()`."""
    W1, W2 = (w.double() for w in exercise_weights())
    sigma1, sigma2 = torch.linalg.svdvals(W1)[0].item(), torch.linalg.svdvals(W2)[0].item()
    expected = sigma1 * sigma2
    return check_number(answer, expected, tol=1e-3 * expected, what="the Lipschitz bound", mistakes=[
        ("frobenius-norm", (W1.norm() * W2.norm()).item(), "that is the product of the Frobenius norms, a looser "
         "bound; the Lipschitz constant of a linear layer is its largest singular value"),
        ("sum-instead-of-product", sigma1 + sigma2, "the constants of composed layers multiply, they do not add")])
