"""Checkers for Chapter 3's exercises (the self-attention block).

The references are written here with einsum, independently of `minisagan.attention`.
"""

import torch

from . import CheckResult, check_number, compare_tensors


def _reference_block(x, Wf, Wg, Wh, gamma):
    X = x.flatten(2)  # [B, C, N]
    s = torch.einsum("dc,bci,dk,bkj->bij", Wf, X, Wg, X)  # s_ij = (W_f x_i)^T (W_g x_j)
    beta = s.softmax(dim=1)  # beta_{j,i}: over i
    o = torch.einsum("bij,ec,bci->bej", beta, Wh, X)  # o_j = sum_i beta_{j,i} W_h x_i
    return gamma * o.reshape(x.shape) + x


def check_attention_block(fn) -> CheckResult:
    """Exercise 3.1: ``fn(x [B,C,H,W], Wf [C/8,C], Wg [C/8,C], Wh [C,C], gamma) -> y [B,C,H,W]``."""
    gen = torch.Generator().manual_seed(31)
    for B, C, H, W in ((2, 16, 4, 4), (1, 32, 6, 5), (3, 8, 8, 8)):
        x = torch.randn(B, C, H, W, generator=gen, dtype=torch.float64)
        Wf, Wg = (torch.randn(C // 8, C, generator=gen, dtype=torch.float64) / C**0.5 for _ in range(2))
        Wh = torch.randn(C, C, generator=gen, dtype=torch.float64) / C**0.5
        gamma = torch.tensor(0.7, dtype=torch.float64)
        try:
            got = fn(x, Wf, Wg, Wh, gamma)
        except Exception as err:  # a reader's code may fail in any way: say how
            return CheckResult(False, f"calling your block on x {[B, C, H, W]} raised {type(err).__name__}: {err}")
        failure = compare_tensors(got, _reference_block(x, Wf, Wg, Wh, gamma), tol=1e-8, case=f"x {[B, C, H, W]}")
        if failure is not None:
            return failure
    return CheckResult(True, "matches eqs. (1)-(3) on three shapes, including a non-square map")


def check_wrong_axis(fn) -> CheckResult:
    """Exercise 3.2: ``fn(query, key, value) -> (o, beta)`` with beta normalized over the queries."""
    gen = torch.Generator().manual_seed(32)
    query, key = torch.randn(2, 12, 4, generator=gen), torch.randn(2, 12, 4, generator=gen)
    value = torch.randn(2, 12, 6, generator=gen)
    o, beta = fn(query, key, value)
    s = query @ key.transpose(1, 2)
    failure = compare_tensors(beta, s.softmax(dim=1), tol=1e-5, case="beta normalized over the queries")
    if failure is not None:
        return failure
    correct = s.softmax(dim=-1) @ value
    gap = (o - correct).abs().max().item()
    return CheckResult(True, f"columns of beta sum to 1, rows do not; the output is off the correct one by up to {gap:.2f}")


def check_attention_macs(answer) -> CheckResult:
    """Exercise 3.3: MACs of the paper's block, C = 64 at 32x32."""
    N, C = 32 * 32, 64
    convs = N * C * (C // 8) * 2 + N * C * C  # W_f, W_g: C -> C/8; W_h: C -> C
    products = N * N * (C // 8) + N * N * C  # s = f^T g, o = beta h
    return check_number(answer, convs + products, tol=0.5, what="MACs of the block")
