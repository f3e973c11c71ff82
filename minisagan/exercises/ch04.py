"""Checkers for Chapter 4's exercises (conditioning and SAGAN's networks)."""

import torch

from . import CheckResult, check_number, compare_tensors


def check_projection(fn) -> CheckResult:
    """Exercise 4.1: ``fn(phi [B, C], embedding [K, C], y [B]) -> [B]``, the projection term."""
    gen = torch.Generator().manual_seed(41)
    for B, C, K in ((4, 8, 3), (7, 32, 10), (1, 5, 2)):
        phi, table = torch.randn(B, C, generator=gen), torch.randn(K, C, generator=gen)
        y = torch.randint(K, (B,), generator=gen)
        expected = torch.tensor([sum(table[y[b], c].item() * phi[b, c].item() for c in range(C)) for b in range(B)])
        failure = compare_tensors(fn(phi, table, y), expected, tol=1e-4, case=f"B={B}, C={C}, {K} classes")
        if failure is not None:
            return failure
    return CheckResult(True, "<e(y), phi(x)> for every sample, three shapes")


def check_gblock_parameters(answer) -> CheckResult:
    """Exercise 4.2: parameters of GBlock(256, 128, num_classes=10)."""
    convs = (256 * 128 * 9 + 128) + (128 * 128 * 9 + 128) + (256 * 128 + 128)
    cbn = 2 * 10 * 256 + 2 * 10 * 128
    return check_number(answer, convs + cbn, tol=0, what="parameters of the block")


def check_attention_memory(answer) -> CheckResult:
    """Exercise 4.3: float32 bytes of one image's beta in G's official attention at 64x64."""
    queries, keys = 64 * 64, 64 * 64 // 4
    return check_number(answer, queries * keys * 4, tol=0, what="bytes of beta at 64x64")
