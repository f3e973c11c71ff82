"""Checkers for Chapter 4's exercises (conditioning and SAGAN's networks)."""

import torch

from . import CheckResult, call, check_number, checker, each_case, expect_tensor


@checker
def check_projection(fn) -> CheckResult:
    """Exercise 4.1: ``fn(phi [B, C], embedding [K, C], y [B]) -> [B]``, the projection term."""
    gen = torch.Generator().manual_seed(41)
    cases = []
    for B, C, K in ((4, 8, 3), (7, 32, 10), (1, 5, 2)):
        phi, table = torch.randn(B, C, generator=gen), torch.randn(K, C, generator=gen)
        cases.append((phi, table, torch.randint(K, (B,), generator=gen)))

    def check_one(case):
        phi, table, y = case
        (B, C), K = phi.shape, len(table)
        expected = torch.tensor([sum(table[y[b], c].item() * phi[b, c].item() for c in range(C)) for b in range(B)])
        answer = call(fn, phi, table, y, form="(phi, embedding, y)")
        expect_tensor(answer, expected, tol=1e-4, case=f"B={B}, C={C}, {K} classes", mistakes=[
            ("all-pairs", table[y] @ phi.T, "that is every sample's features against every sample's class "
             "([B, B]); the projection pairs each sample with its own class: the diagonal, or a sum over channels")])
    return each_case(cases, check_one, "<e(y), phi(x)> for every sample, three shapes")


@checker
def check_gblock_parameters(answer) -> CheckResult:
    """Exercise 4.2: parameters of GBlock(256, 128, num_classes=10)."""
    convs = (256 * 128 * 9 + 128) + (128 * 128 * 9 + 128) + (256 * 128 + 128)
    cbn = 2 * 10 * 256 + 2 * 10 * 128
    return check_number(answer, convs + cbn, tol=0, what="parameters of the block", mistakes=[
        ("no-biases", convs - 3 * 128 + cbn, "the three convolutions' biases (128 each) are missing"),
        ("no-shortcut", convs - (256 * 128 + 128) + cbn, "the 1x1 shortcut convolution (256 -> 128) is missing"),
        ("unconditional-norm", convs + 2 * 256 + 2 * 128, "conditional batch norm keeps a gain and a bias per "
         "class and channel: 2 x 10 x channels"),
        ("no-norm", convs, "the two conditional batch norms' per-class gains and biases are missing")])


@checker
def check_attention_memory(answer) -> CheckResult:
    """Exercise 4.3: float32 bytes of one image's beta in G's official attention at 64x64."""
    queries, keys = 64 * 64, 64 * 64 // 4
    return check_number(answer, queries * keys * 4, tol=0, what="bytes of beta at 64x64", mistakes=[
        ("unpooled-keys", queries * queries * 4, "the official variant pools the keys 2x2: N/4 of them"),
        ("elements-not-bytes", queries * keys, "that counts entries; each float32 takes 4 bytes")])
