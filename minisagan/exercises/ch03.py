"""Checkers for Chapter 3's exercises (the self-attention block).

The references are written here with einsum, independently of `minisagan.attention`, and so are
the mistakes the chapter warns about: the softmax over the wrong axis and a transformer's
1/sqrt(d) scaling, which SAGAN does not use.
"""

import torch

from . import CheckResult, call, check_number, checker, each_case, expect_tensor, fail

AXIS = ("the softmax runs over the wrong axis: for each output position j the weights beta_{j,i} must sum to 1 "
        "over the attended positions i (dim=1 of s[b, i, j]); yours sum to 1 over j")
SCALING = ("s is divided by sqrt(d) as in a transformer; SAGAN's eq. (1) takes the plain dot product "
           "s_ij = f(x_i)^T g(x_j), with no scaling")


def _reference_block(x, Wf, Wg, Wh, gamma, *, axis=1, scale=1.0):
    X = x.flatten(2)  # [B, C, N]
    s = torch.einsum("dc,bci,dk,bkj->bij", Wf, X, Wg, X) * scale  # s_ij = (W_f x_i)^T (W_g x_j)
    beta = s.softmax(dim=axis)  # beta_{j,i}: over i
    o = torch.einsum("bij,ec,bci->bej", beta, Wh, X)  # o_j = sum_i beta_{j,i} W_h x_i
    return gamma * o.reshape(x.shape) + x


def _block_mistakes(x, Wf, Wg, Wh, gamma):
    C = x.shape[1]
    y = _reference_block(x, Wf, Wg, Wh, gamma)
    return [("softmax-axis", _reference_block(x, Wf, Wg, Wh, gamma, axis=2), AXIS)] + [
        ("sqrt-scaling", _reference_block(x, Wf, Wg, Wh, gamma, scale=d**-0.5), SCALING) for d in (C // 8, C)] + [
        ("softmax-axis+sqrt-scaling", _reference_block(x, Wf, Wg, Wh, gamma, axis=2, scale=(C // 8) ** -0.5),
         f"two mistakes: {AXIS}; and {SCALING}"),
        ("no-residual", y - x, "the residual is missing: y = gamma * o + x"),
        ("no-gamma", (y - x) / gamma + x, "gamma is missing: y = gamma * o + x")]


@checker
def check_attention_block(fn) -> CheckResult:
    """Exercise 3.1: ``fn(x [B,C,H,W], Wf [C/8,C], Wg [C/8,C], Wh [C,C], gamma) -> y [B,C,H,W]``."""
    gen = torch.Generator().manual_seed(31)
    cases = []
    for B, C, H, W in ((2, 16, 4, 4), (1, 32, 6, 5), (3, 8, 8, 8)):
        x = torch.randn(B, C, H, W, generator=gen, dtype=torch.float64)
        Wf, Wg = (torch.randn(C // 8, C, generator=gen, dtype=torch.float64) / C**0.5 for _ in range(2))
        Wh = torch.randn(C, C, generator=gen, dtype=torch.float64) / C**0.5
        cases.append((x, Wf, Wg, Wh, torch.tensor(0.7, dtype=torch.float64)))

    def check_one(case):
        got = call(fn, *case, form="(x, Wf, Wg, Wh, gamma)")
        expect_tensor(got, _reference_block(*case), tol=1e-8, case=f"x {list(case[0].shape)}",
                      mistakes=_block_mistakes(*case))
    return each_case(cases, check_one, "matches eqs. (1)-(3) on three shapes, including a non-square map")


@checker
def check_wrong_axis(fn) -> CheckResult:
    """Exercise 3.2: ``fn(query, key, value) -> (o, beta)`` with beta normalized over the queries."""
    gen = torch.Generator().manual_seed(32)
    query, key = torch.randn(2, 12, 4, generator=gen), torch.randn(2, 12, 4, generator=gen)
    value = torch.randn(2, 12, 6, generator=gen)
    answer = call(fn, query, key, value, form="(query, key, value)")
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        fail(f"return the pair (o, beta), as naive_attention does; got {type(answer).__name__}", "not-a-pair")
    o, beta = answer
    s = query @ key.transpose(1, 2)
    expect_tensor(beta, s.softmax(dim=1), tol=1e-5, case="beta normalized over the queries", mistakes=[
        ("correct-axis", s.softmax(dim=-1), "each row of your beta sums to 1: that is the correct attention; this "
         "exercise asks for the bug, beta normalized over the queries (dim=1)"),
        ("sqrt-scaling", (s / 2).softmax(dim=1), SCALING)])
    expect_tensor(o, beta @ value, tol=1e-5, case="o = beta @ value")
    correct = s.softmax(dim=-1) @ value
    gap = (o - correct).abs().max().item()
    return CheckResult(True, f"columns of beta sum to 1, rows do not; the output is off by up to {gap:.2f}")


@checker
def check_attention_macs(answer) -> CheckResult:
    """Exercise 3.3: MACs of the paper's block, C = 64 at 32x32."""
    N, C = 32 * 32, 64
    convs = N * C * (C // 8) * 2 + N * C * C  # W_f, W_g: C -> C/8; W_h: C -> C
    products = N * N * (C // 8) + N * N * C  # s = f^T g, o = beta h
    return check_number(answer, convs + products, tol=0.5, what="MACs of the block", mistakes=[
        ("products-only", products, "the three 1x1 convolutions are missing: N C (C/8 + C/8 + C)"),
        ("convolutions-only", convs, "the two matrix products are missing: N^2 C/8 for s and N^2 C for o"),
        ("full-width-keys", N * C * C * 3 + 2 * N * N * C, "f and g map to C/8 channels, not C")])
