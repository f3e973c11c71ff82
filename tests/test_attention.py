"""Chapter 3's exported code (minisagan.attention) against eqs. (1)-(3) of the SAGAN paper written out
with einsum and a hand-written softmax, and against properties attention must have whatever its code."""

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

import minisagan.attention as attention_module
from minisagan.attention import SelfAttention, attention_maps, fused_attention, naive_attention
from minisagan.spectral_norm import SNConv2d

pytestmark = pytest.mark.usefixtures("one_thread")

FLOAT64_ATOL = 1e-10  # one float64 computation against the same equations written another way
FLOAT32_ATOL = 1e-5  # the same in float32 (activations of order 1, sums over at most 64 x 96 terms)
FLOAT32_RTOL = 1e-4
GAMMA = 0.7  # any nonzero value: at 0 the block's output is x whatever o is

SHAPES = [(4, 4), (6, 4), (2, 8)]  # (H, W): square and not, all even for the official variant
VARIANTS = {"paper": False, "official": True}


# --- the independent computation ------------------------------------------------------------------

def effective_weight(conv: nn.Conv2d) -> torch.Tensor:
    """The 1x1 conv's matrix [out, in] as the block applies it: W / sigma(W) for SN convs."""
    W = conv.normalized_weight() if isinstance(conv, SNConv2d) else conv.weight
    return W.flatten(1)


def softmax_over(s: torch.Tensor, dim: int) -> torch.Tensor:
    e = (s - s.amax(dim, keepdim=True)).exp()
    return e / e.sum(dim, keepdim=True)


def pool_2x2(t: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Max over each 2x2 tile of a flattened map [B, K, H*W] -> [B, K, H/2 * W/2], tiles row-major."""
    B, K, _ = t.shape
    return t.reshape(B, K, H // 2, 2, W // 2, 2).amax(dim=(3, 5)).reshape(B, K, -1)


def sagan_by_the_equations(block: SelfAttention, x: torch.Tensor):
    """Eqs. (1)-(3) in the paper's indices (i attended, j output). Returns y [B, C, H, W],
    o [B, C, H, W] (after the official output conv) and beta [B, N, M] with beta[b, j, i] = beta_{j,i}."""
    B, C, H, W = x.shape
    X = x.reshape(B, C, H * W)  # [B, C, N]
    fx = torch.einsum("kc,bcn->bkn", effective_weight(block.f), X)  # f(x_i)  [B, C/8, N]
    gx = torch.einsum("kc,bcn->bkn", effective_weight(block.g), X)  # g(x_j)  [B, C/8, N]
    hx = torch.einsum("vc,bcn->bvn", effective_weight(block.h), X)  # h(x_i)  [B, Cv, N]
    if block.official:  # keys and values pooled 2x2 after their conv: M = N/4 attended positions
        fx, hx = pool_2x2(fx, H, W), pool_2x2(hx, H, W)
    s = torch.einsum("bki,bkj->bij", fx, gx)  # s_ij = f(x_i)^T g(x_j)       [B, M, N]
    beta = softmax_over(s, dim=1)  # beta_{j,i}: a distribution over i for each j
    o = torch.einsum("bij,bvi->bvj", beta, hx).reshape(B, -1, H, W)  # o_j = sum_i beta_{j,i} h(x_i)
    if block.official:
        o = torch.einsum("cv,bvhw->bchw", effective_weight(block.out), o)  # 1x1 conv Cv -> C
    return block.gamma * o + x, o, beta.transpose(1, 2)


def make_block(channels, *, seed=0, gamma=GAMMA, dtype=torch.float64, **kwargs) -> SelfAttention:
    torch.manual_seed(seed)
    block = SelfAttention(channels, **kwargs).to(dtype).eval()  # eval: SN uses its stored vectors
    nn.init.constant_(block.gamma, gamma)
    return block


def features(*shape, seed=1, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- the attention functions ------------------------------------------------------------------------

@pytest.mark.parametrize("N, M", [(12, 12), (12, 3)])
def test_attention_functions_match_the_softmax_over_attended_positions_without_scaling(N, M):
    query, key, value = features(2, N, 16, seed=2), features(2, M, 16, seed=3), features(2, M, 5, seed=4)
    s = torch.einsum("bjd,bid->bji", query, key)  # no 1/sqrt(d): with d = 16 it would change beta by far
    beta_expected = softmax_over(s, dim=2)
    o_expected = torch.einsum("bji,bic->bjc", beta_expected, value)
    o, beta = naive_attention(query, key, value)
    torch.testing.assert_close(beta, beta_expected, rtol=0, atol=FLOAT64_ATOL)
    torch.testing.assert_close(o, o_expected, rtol=0, atol=FLOAT64_ATOL)
    torch.testing.assert_close(fused_attention(query, key, value), o_expected, rtol=0, atol=FLOAT64_ATOL)


# --- the block computes eqs. (1)-(3) ----------------------------------------------------------------

@pytest.mark.parametrize("fused", [True, False], ids=["fused", "naive"])
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("spectral_norm", [True, False], ids=["sn", "no-sn"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("H, W", SHAPES)
@pytest.mark.parametrize("channels", [8, 16, 64])
def test_block_matches_eqs_1_to_3(channels, H, W, batch, spectral_norm, variant, fused):
    block = make_block(channels, official=VARIANTS[variant], spectral_norm=spectral_norm, fused=fused)
    x = features(batch, channels, H, W)
    with torch.no_grad():
        y_expected, o_expected, _ = sagan_by_the_equations(block, x)
        y = block(x)
    assert y.shape == x.shape
    assert o_expected.abs().max() > 1e-3  # the attention term is really there to compare
    torch.testing.assert_close(y, y_expected, rtol=0, atol=FLOAT64_ATOL)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "naive"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_block_matches_eqs_1_to_3_in_float32(variant, fused):
    block = make_block(64, official=VARIANTS[variant], fused=fused, dtype=torch.float32)
    x = features(2, 64, 8, 6, dtype=torch.float32)
    with torch.no_grad():
        y_expected, _, _ = sagan_by_the_equations(block.double(), x.double())
        y = block.float()(x)
    torch.testing.assert_close(y.double(), y_expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


@pytest.mark.parametrize("variant", VARIANTS)
def test_projections_have_the_papers_channel_counts_and_no_biases(variant):
    official = VARIANTS[variant]
    block = SelfAttention(64, official=official)
    value_channels = 32 if official else 64
    assert block.f.weight.shape == (8, 64, 1, 1)
    assert block.g.weight.shape == (8, 64, 1, 1)
    assert block.h.weight.shape == (value_channels, 64, 1, 1)
    convs = [block.f, block.g, block.h] + ([block.out] if official else [])
    assert all(isinstance(conv, SNConv2d) and conv.bias is None for conv in convs)
    if official:
        assert block.out.weight.shape == (64, 32, 1, 1)
    else:
        assert isinstance(block.out, nn.Identity)
    assert block.gamma.shape == () and block.gamma.item() == 0
    query, key, value = block.project(features(3, 64, 6, 4, dtype=torch.float32))
    M = 6 if official else 24
    assert (query.shape, key.shape, value.shape) == ((3, 24, 8), (3, M, 8), (3, M, value_channels))


# --- identity at init, beta, gradients ---------------------------------------------------------------

@pytest.mark.parametrize("fused", [True, False], ids=["fused", "naive"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_block_is_identity_at_init(variant, fused):
    torch.manual_seed(0)
    block = SelfAttention(32, official=VARIANTS[variant], fused=fused)
    x = torch.randn(2, 32, 6, 4)
    assert torch.equal(block(x), x)


@pytest.mark.parametrize("variant", VARIANTS)
def test_rows_of_beta_sum_to_one_and_columns_do_not(variant):
    block = make_block(16, official=VARIANTS[variant])
    query, key, value = block.project(features(2, 16, 8, 6))
    _, beta = naive_attention(query, key, value)  # [B, N, M]
    assert beta.shape == (2, 48, 12 if VARIANTS[variant] else 48)
    assert (beta >= 0).all()
    torch.testing.assert_close(beta.sum(-1), torch.ones(2, 48, dtype=beta.dtype), rtol=0, atol=1e-12)
    assert (beta.sum(1) - 1).abs().max() > 0.1  # normalizing over the other axis would make these 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_gamma_gets_its_gradient_at_init_and_gates_the_convs(variant):
    block = make_block(16, official=VARIANTS[variant], gamma=0.0).train()
    x, target = features(2, 16, 6, 4, seed=1), features(2, 16, 6, 4, seed=2)
    (block(x) * target).sum().backward()
    with torch.no_grad():
        block.eval()
        _, o, _ = sagan_by_the_equations(block, x)  # eval after the training forward: the same SN vectors
    # d/dgamma sum(target * (gamma o + x)) = sum(target * o)
    assert block.gamma.grad.abs() > 1e-3
    torch.testing.assert_close(block.gamma.grad, (target * o).sum(), rtol=1e-10, atol=0)
    convs = [block.f, block.g, block.h] + ([block.out] if block.official else [])
    assert all(torch.equal(conv.weight.grad, torch.zeros_like(conv.weight)) for conv in convs)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "naive"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_conv_gets_a_gradient_once_gamma_is_nonzero(variant, fused):
    block = make_block(16, official=VARIANTS[variant], fused=fused).train()
    x = features(2, 16, 6, 4).requires_grad_()
    block(x).square().sum().backward()
    convs = {"f": block.f, "g": block.g, "h": block.h} | ({"out": block.out} if block.official else {})
    for name, conv in convs.items():
        assert conv.weight.grad is not None and conv.weight.grad.abs().max() > 1e-6, name
    assert block.gamma.grad.abs() > 0 and x.grad.abs().max() > 0


# --- fused equals naive -----------------------------------------------------------------------------

TOLERANCES = {  # (rtol, atol), fused against naive: same inputs, different summation order
    torch.float32: (1e-4, 1e-5),
    torch.float64: (1e-10, 1e-12),
}


@pytest.mark.parametrize("dtype", TOLERANCES, ids=str)
@pytest.mark.parametrize("variant", VARIANTS)
def test_fused_path_equals_naive_path_forward_and_backward(variant, dtype):
    rtol, atol = TOLERANCES[dtype]
    fused = make_block(64, official=VARIANTS[variant], fused=True, dtype=dtype, gamma=0.3)
    naive = make_block(64, official=VARIANTS[variant], fused=False, dtype=dtype, gamma=0.3)
    naive.load_state_dict(fused.state_dict())
    x = features(2, 64, 16, 12, dtype=dtype)
    target = features(2, 64, 16, 12, seed=5, dtype=dtype)
    inputs = {}
    for name, block in (("fused", fused), ("naive", naive)):
        inputs[name] = x.clone().requires_grad_()
        out = block(inputs[name])
        (out * target).sum().backward()  # a loss whose gradient does not depend on the output
        inputs[name + " out"] = out.detach()
    torch.testing.assert_close(inputs["fused out"], inputs["naive out"], rtol=rtol, atol=atol)
    torch.testing.assert_close(inputs["fused"].grad, inputs["naive"].grad, rtol=rtol, atol=atol)
    names = ["f", "g", "h"] + (["out"] if fused.official else [])
    for name in names:
        grad_fused, grad_naive = getattr(fused, name).weight.grad, getattr(naive, name).weight.grad
        assert grad_naive.abs().max() > 1e-3, name
        torch.testing.assert_close(grad_fused, grad_naive, rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")
    torch.testing.assert_close(fused.gamma.grad, naive.gamma.grad, rtol=rtol, atol=atol)


# On CPU, F.scaled_dot_product_attention's fused (flash) kernel needs query, key and value of one
# contiguous width; otherwise torch silently falls back to the math path that stores the N x M
# matrix. Restricting torch to the flash kernel makes it raise instead of falling back.
@pytest.mark.filterwarnings("ignore:.*(kernel not used|last dimension|stride 1):UserWarning")
@pytest.mark.parametrize("variant", VARIANTS)
def test_fused_path_runs_a_fused_kernel(variant):
    block = make_block(64, official=VARIANTS[variant], dtype=torch.float32)
    x = features(2, 64, 8, 8, dtype=torch.float32).requires_grad_()
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # the only fused kernel on CPU; torch raises if unusable
        block(x).square().sum().backward()


def test_fused_path_hands_sdpa_one_head_of_4d_inputs(monkeypatch):
    """CUDA's flash and memory-efficient kernels take [B, heads, N, width]; 3-D inputs may fall back
    to the math kernel and its N x M matrix. One head, every tensor of the padded width."""
    calls = []

    def recording_sdpa(query, key, value, **kwargs):
        calls.append((tuple(query.shape), tuple(key.shape), tuple(value.shape), kwargs.get("scale")))
        return sdpa(query, key, value, **kwargs)

    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", recording_sdpa)
    query, key, value = features(2, 12, 8, seed=2), features(2, 3, 8, seed=3), features(2, 3, 32, seed=4)
    o = fused_attention(query, key, value)
    assert calls == [((2, 1, 12, 32), (2, 1, 3, 32), (2, 1, 3, 32), 1.0)]
    torch.testing.assert_close(o, naive_attention(query, key, value)[0], rtol=0, atol=FLOAT64_ATOL)
    calls.clear()
    with torch.no_grad():
        make_block(64, official=True)(features(2, 64, 6, 4))  # M = 6 pooled positions, values C/2 = 32
    assert calls == [((2, 1, 24, 32), (2, 1, 6, 32), (2, 1, 6, 32), 1.0)]


# --- attention maps ---------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_attention_maps_are_the_rows_of_beta_for_the_chosen_positions(variant):
    official = VARIANTS[variant]
    block = make_block(16, official=official)
    H, W = 6, 4  # not square, so a row-major index r * W + c differs from r * H + c
    x = features(3, 16, H, W)
    positions = [(0, 0), (0, 3), (1, 2), (5, 0), (5, 3), (2, 1)]
    with torch.no_grad():
        maps = attention_maps(block, x, positions)
        _, _, beta_expected = sagan_by_the_equations(block, x)  # [B, N, M]
        _, beta = naive_attention(*block.project(x))
    side = (H // 2, W // 2) if official else (H, W)
    assert maps.shape == (3, len(positions), *side)
    for q, (r, c) in enumerate(positions):
        torch.testing.assert_close(maps[:, q].reshape(3, -1), beta[:, r * W + c], rtol=0, atol=1e-12)
        torch.testing.assert_close(maps[:, q].reshape(3, -1), beta_expected[:, r * W + c], rtol=0, atol=FLOAT64_ATOL)
    torch.testing.assert_close(maps.sum((2, 3)), torch.ones(3, len(positions), dtype=maps.dtype), rtol=0, atol=1e-12)


# --- attention has no notion of position ------------------------------------------------------------

@pytest.mark.parametrize("fused", [True, False], ids=["fused", "naive"])
def test_permuting_positions_permutes_the_output(fused):
    block = make_block(16, spectral_norm=False, fused=fused)
    B, C, H, W = 2, 16, 6, 4
    x = features(B, C, H, W)
    perm = torch.randperm(H * W, generator=torch.Generator().manual_seed(7))
    assert not torch.equal(perm, torch.arange(H * W))
    x_permuted = x.reshape(B, C, -1)[:, :, perm].reshape(B, C, H, W)
    with torch.no_grad():
        y, y_of_permuted = block(x), block(x_permuted)
    torch.testing.assert_close(y_of_permuted.reshape(B, C, -1), y.reshape(B, C, -1)[:, :, perm],
                               rtol=0, atol=FLOAT64_ATOL)


def test_official_variant_is_equivariant_to_permutations_of_whole_2x2_tiles():
    """Pooling keeps the set of pooled keys when tiles move as wholes (and pixels stay in their tile)."""
    block = make_block(16, official=True, spectral_norm=False)
    B, C, H, W = 2, 16, 6, 4
    x = features(B, C, H, W)
    g = torch.Generator().manual_seed(8)
    tile_of = (torch.arange(H)[:, None] // 2) * (W // 2) + torch.arange(W)[None] // 2  # [H, W]
    tiles = [torch.nonzero(tile_of.flatten() == t).flatten() for t in range(tile_of.max() + 1)]
    new_order = torch.randperm(len(tiles), generator=g)
    perm = torch.empty(H * W, dtype=torch.long)
    for t, source in enumerate(new_order):  # tile t of the result takes tile `source`, its pixels shuffled
        perm[tiles[t]] = tiles[source][torch.randperm(4, generator=g)]
    x_permuted = x.reshape(B, C, -1)[:, :, perm].reshape(B, C, H, W)
    with torch.no_grad():
        y, y_of_permuted = block(x), block(x_permuted)
    torch.testing.assert_close(y_of_permuted.reshape(B, C, -1), y.reshape(B, C, -1)[:, :, perm],
                               rtol=0, atol=FLOAT64_ATOL)


# --- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [12, 4, 0, 20])
def test_channels_not_divisible_by_8_are_rejected(channels):
    with pytest.raises(ValueError, match="divisible by 8"):
        SelfAttention(channels)


@pytest.mark.parametrize("shape", [(16, 4, 4), (2, 16, 4, 4, 1), (2, 16)])
def test_non_4d_input_is_rejected(shape):
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        SelfAttention(16)(torch.randn(*shape))


def test_wrong_channel_count_is_rejected():
    with pytest.raises(ValueError, match="16 channels, got 24"):
        SelfAttention(16)(torch.randn(2, 24, 4, 4))


@pytest.mark.parametrize("H, W", [(5, 4), (4, 5), (3, 3)])
def test_official_variant_rejects_odd_height_or_width(H, W):
    x = torch.randn(1, 16, H, W)
    with pytest.raises(ValueError, match="even"):
        SelfAttention(16, official=True)(x)
    with pytest.raises(ValueError, match="even"):
        attention_maps(SelfAttention(16, official=True), x, [(0, 0)])
    assert SelfAttention(16)(x).shape == x.shape  # the paper's block has no such constraint


# --- inside a model ---------------------------------------------------------------------------------

def test_block_trains_inside_a_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.LeakyReLU(0.1), SelfAttention(16),
                          nn.Conv2d(16, 3, 1))
    attention = model[2]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.0, 0.9))
    x, target = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    loss = (model(x) - target).square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert attention.gamma.item() != 0
    assert abs(attention.gamma.item()) == pytest.approx(1e-3, rel=1e-3)  # Adam's first step: lr * sign
    assert model(x).shape == x.shape


@pytest.mark.parametrize("position", [(8, 0), (0, 8), (-1, 2)])
def test_attention_maps_reject_positions_outside_the_map(position):
    block = SelfAttention(16).eval()
    with pytest.raises(ValueError, match="outside the 8x8 feature map"):
        attention_maps(block, torch.randn(1, 16, 8, 8), [position])
