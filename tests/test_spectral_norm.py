"""Chapter 2's exported code (minisagan.spectral_norm) against the SVD, hand-computed power-iteration
steps and torch.nn.utils.parametrizations.spectral_norm."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from minisagan.spectral_norm import (
    SN_LAYERS,
    SNConv2d,
    SNEmbedding,
    SNLinear,
    SpectralNorm,
    power_iteration,
    spectral_norm_all,
)
from minisagan.toygan import ToyDiscriminator, ToyGenerator, train_step

pytestmark = pytest.mark.usefixtures("one_thread")

CONVERGED_RTOL = 1e-12  # float64, 1000 iterations: sigma against the SVD's
VECTOR_ATOL = 1e-6  # float64, 1000 iterations: u, v against the SVD's singular vectors
UNIT_SIGMA_ATOL = 1e-4  # float32: sigma of a normalized weight after 100 training forwards
FLOAT32_ATOL = 1e-6  # one float32 computation against the same computation written another way
GRAD_ATOL = 1e-10  # float64 gradients, converged vectors against the SVD


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def top_singular_value(W: torch.Tensor) -> torch.Tensor:
    """sigma_1 of W viewed as a matrix [W.shape[0], rest], by SVD."""
    return torch.linalg.svdvals(W.detach().flatten(1))[0]


def unit_vector(n: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    v = torch.randn(n, generator=seeded(seed), dtype=dtype)
    return v / v.norm()


def power_step_by_hand(W: torch.Tensor, v: torch.Tensor):
    """One step, written without F.normalize: u = W v / |W v|, v' = W^T u / |W^T u|."""
    u = W @ v
    u = u / u.norm()
    v_next = W.T @ u
    return u, v_next / v_next.norm()


def conv_weight(kernel: int, stride: int, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return nn.Conv2d(8, 24, kernel, stride=stride, padding=kernel // 2).weight.detach().double()


# matrices [rows, cols] as the layers see them; some have sigma_2 / sigma_1 near 0.99, so 1000 iterations
WEIGHTS = {
    "linear 96x40": lambda: torch.randn(96, 40, generator=seeded(0), dtype=torch.float64),
    "linear 40x96": lambda: torch.randn(40, 96, generator=seeded(1), dtype=torch.float64),
    "conv 1x1": lambda: conv_weight(1, 1, 2).flatten(1),  # [24, 8*1*1]
    "conv 3x3": lambda: conv_weight(3, 1, 3).flatten(1),  # [24, 8*3*3]
    "conv 4x4": lambda: conv_weight(4, 1, 4).flatten(1),  # [24, 8*4*4]
    "conv 5x5": lambda: conv_weight(5, 1, 5).flatten(1),  # [24, 8*5*5]
    "conv 3x3 stride 2": lambda: conv_weight(3, 2, 6).flatten(1),
    "conv 4x4 stride 2": lambda: conv_weight(4, 2, 7).flatten(1),
    "embedding 10x128": lambda: torch.randn(10, 128, generator=seeded(8), dtype=torch.float64),
}


# --- power_iteration ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", WEIGHTS)
def test_power_iteration_converges_to_the_top_singular_value(name):
    W = WEIGHTS[name]()
    sigma, u, v = power_iteration(W, unit_vector(W.shape[1], 10, torch.float64), n_iterations=1000)
    U, S, Vh = torch.linalg.svd(W)
    assert sigma.item() == pytest.approx(S[0].item(), rel=CONVERGED_RTOL)
    # the vectors are the top singular pair, up to a common sign
    sign = torch.sign(u @ U[:, 0])
    assert torch.allclose(u, sign * U[:, 0], atol=VECTOR_ATOL) and torch.allclose(v, sign * Vh[0], atol=VECTOR_ATOL)


def test_stride_does_not_change_the_weight_matrix():
    torch.manual_seed(0)
    plain, strided = nn.Conv2d(8, 24, 4, padding=1), nn.Conv2d(8, 24, 4, stride=2, padding=1)
    assert plain.weight.flatten(1).shape == strided.weight.flatten(1).shape == (24, 8 * 4 * 4)


@pytest.mark.parametrize("name", WEIGHTS)
def test_one_iteration_never_overestimates_sigma(name):
    # u^T W v <= sigma_1 for unit u, v: the estimate is a lower bound from any start
    W = WEIGHTS[name]()
    exact = top_singular_value(W).item()
    for seed in range(50):
        sigma, u, v = power_iteration(W, unit_vector(W.shape[1], seed, torch.float64), n_iterations=1)
        assert sigma.item() <= exact * (1 + 1e-12)
        assert u.norm().item() == pytest.approx(1, abs=1e-12) and v.norm().item() == pytest.approx(1, abs=1e-12)


# --- the layers --------------------------------------------------------------------------------

def make_layer(kind: str, n_power_iterations: int = 1, seed: int = 3):
    """A layer with its input, seeded."""
    torch.manual_seed(seed)
    return {
        "SNLinear(40, 96)": lambda: (SNLinear(40, 96, n_power_iterations=n_power_iterations),
                                     torch.randn(4, 40)),
        "SNConv2d 1x1": lambda: (SNConv2d(16, 32, 1, n_power_iterations=n_power_iterations),
                                 torch.randn(2, 16, 8, 8)),
        "SNConv2d 3x3": lambda: (SNConv2d(16, 32, 3, padding=1, n_power_iterations=n_power_iterations),
                                 torch.randn(2, 16, 8, 8)),
        "SNConv2d 4x4 stride 2": lambda: (SNConv2d(16, 32, 4, stride=2, padding=1,
                                                   n_power_iterations=n_power_iterations),
                                          torch.randn(2, 16, 8, 8)),
        "SNConv2d 5x5 stride 2": lambda: (SNConv2d(16, 32, 5, stride=2, padding=2,
                                                   n_power_iterations=n_power_iterations),
                                          torch.randn(2, 16, 8, 8)),
        "SNEmbedding(10, 128)": lambda: (SNEmbedding(10, 128, n_power_iterations=n_power_iterations),
                                         torch.arange(10)),
    }[kind]()


LAYER_KINDS = ["SNLinear(40, 96)", "SNConv2d 1x1", "SNConv2d 3x3", "SNConv2d 4x4 stride 2",
               "SNConv2d 5x5 stride 2", "SNEmbedding(10, 128)"]


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_normalized_weight_has_spectral_norm_one_after_training_forwards(kind):
    layer, x = make_layer(kind)
    for _ in range(100):
        layer(x)
    assert top_singular_value(layer.normalized_weight()).item() == pytest.approx(1, abs=UNIT_SIGMA_ATOL)
    assert layer.sn_sigma.item() == pytest.approx(top_singular_value(layer.weight).item(), rel=UNIT_SIGMA_ATOL)


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_eval_forwards_leave_the_vectors_alone_and_training_forwards_move_them(kind):
    layer, x = make_layer(kind)
    layer.sn_v.copy_(unit_vector(layer.sn_v.numel(), 1))  # far from converged, so a step shows
    u, v = layer.sn_u.clone(), layer.sn_v.clone()
    layer.eval()
    for _ in range(3):
        layer(x)
    assert torch.equal(layer.sn_u, u) and torch.equal(layer.sn_v, v)
    layer.train()
    layer(x)
    assert not torch.equal(layer.sn_u, u) and not torch.equal(layer.sn_v, v)


@pytest.mark.parametrize("kind", LAYER_KINDS)
@pytest.mark.parametrize("n_power_iterations", [1, 3])
def test_a_training_forward_runs_exactly_n_power_iterations(kind, n_power_iterations):
    layer, x = make_layer(kind, n_power_iterations)
    layer.sn_v.copy_(unit_vector(layer.sn_v.numel(), 1))  # far from converged: one step more shows
    W = layer.weight.detach().flatten(1)  # [rows, cols]
    u, v = None, layer.sn_v.clone()
    for _ in range(n_power_iterations):
        u, v = power_step_by_hand(W, v)
    _, v_one_more = power_step_by_hand(W, v)
    assert not torch.allclose(v, v_one_more, atol=1e-3)  # so the check below can tell n from n + 1

    out = layer(x)
    assert torch.allclose(layer.sn_u, u, atol=FLOAT32_ATOL) and torch.allclose(layer.sn_v, v, atol=FLOAT32_ATOL)
    sigma = u @ W @ v
    assert layer.sn_sigma.item() == pytest.approx(sigma.item(), rel=FLOAT32_ATOL)
    expected = layer.weight.detach() / sigma
    layer.eval()  # so that normalized_weight() uses the stored vectors without another step
    assert torch.allclose(layer.normalized_weight(), expected, atol=FLOAT32_ATOL)
    assert torch.equal(layer(x), out)


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_state_dict_and_deepcopy_reproduce_eval_outputs_exactly(kind):
    layer, x = make_layer(kind)
    for _ in range(5):
        layer(x)
    assert {"sn_u", "sn_v", "sn_sigma"} <= set(layer.state_dict())
    fresh, _ = make_layer(kind, seed=99)  # other weights and vectors
    assert not torch.equal(fresh.weight, layer.weight)
    fresh.load_state_dict(layer.state_dict())
    twin = copy.deepcopy(layer)
    for module in (layer, fresh, twin):
        module.eval()
    assert torch.equal(fresh(x), layer(x))
    assert torch.equal(twin(x), layer(x))


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_buffers_move_with_to_float64(kind):
    layer, x = make_layer(kind)
    layer.to(torch.float64)
    assert layer.sn_u.dtype == layer.sn_v.dtype == layer.sn_sigma.dtype == torch.float64
    x = x.double() if x.is_floating_point() else x
    for _ in range(100):
        assert layer(x).dtype == torch.float64
    assert top_singular_value(layer.normalized_weight()).item() == pytest.approx(1, abs=UNIT_SIGMA_ATOL)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_gradient_equals_autograd_through_w_over_svd_sigma(kind):
    torch.manual_seed(4)
    if kind == "linear":
        layer, x = SNLinear(30, 20).double(), torch.randn(8, 30, dtype=torch.float64)
        apply = lambda W: F.linear(x, W, layer.bias)
    else:
        layer, x = SNConv2d(4, 6, 3, padding=1).double(), torch.randn(2, 4, 6, 6, dtype=torch.float64)
        apply = lambda W: F.conv2d(x, W, layer.bias, padding=1)
    for _ in range(200):
        layer.normalized_weight()  # converge the vectors
    layer.eval()  # freeze them for the comparison
    target = torch.randn_like(apply(layer.weight.detach()))
    F.mse_loss(layer(x), target).backward()

    W = layer.weight.detach().clone().requires_grad_()
    F.mse_loss(apply(W / torch.linalg.svdvals(W.flatten(1))[0]), target).backward()
    assert torch.allclose(layer.weight.grad, W.grad, rtol=0, atol=GRAD_ATOL)
    assert W.grad.abs().max() > 1e-3  # a gradient that is not trivially zero


# --- against torch.nn.utils.parametrizations.spectral_norm ---------------------------------------

@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("n_power_iterations", [1, 2])
def test_matches_torch_spectral_norm_from_the_same_vectors(kind, n_power_iterations):
    torch.manual_seed(5)
    if kind == "linear":
        ours = SNLinear(12, 7, n_power_iterations=n_power_iterations)
        theirs = torch_spectral_norm(nn.Linear(12, 7), n_power_iterations=n_power_iterations)
        x = torch.randn(5, 12)
    else:
        ours = SNConv2d(8, 16, 3, padding=1, n_power_iterations=n_power_iterations)
        theirs = torch_spectral_norm(nn.Conv2d(8, 16, 3, padding=1), n_power_iterations=n_power_iterations)
        x = torch.randn(4, 8, 10, 10)
    param = theirs.parametrizations.weight
    with torch.no_grad():
        param.original.copy_(ours.weight)
        theirs.bias.copy_(ours.bias)
        ours.sn_u.copy_(param[0]._u)
        ours.sn_v.copy_(param[0]._v)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.1)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for _ in range(5):  # training-mode forwards, with a step of the weights between them
        out_ours, out_theirs = ours(x), theirs(x)
        assert torch.allclose(out_ours, out_theirs, atol=FLOAT32_ATOL)
        assert torch.allclose(ours.sn_u, param[0]._u, atol=FLOAT32_ATOL)
        assert torch.allclose(ours.sn_v, param[0]._v, atol=FLOAT32_ATOL)
        out_ours.square().mean().backward()
        out_theirs.square().mean().backward()
        assert torch.allclose(ours.weight.grad, param.original.grad, atol=FLOAT32_ATOL)
        for opt in (opt_ours, opt_theirs):
            opt.step()
            opt.zero_grad()


# --- spectral_norm_all -------------------------------------------------------------------------

def count(model: nn.Module, types) -> int:
    return sum(type(m) in types for m in model.modules())


@pytest.mark.parametrize("make", [lambda: ToyDiscriminator(width=8), lambda: ToyGenerator(16, 8, 32)],
                         ids=["ToyDiscriminator", "ToyGenerator"])
def test_spectral_norm_all_swaps_every_layer_keeping_its_weights(make):
    torch.manual_seed(6)
    model = make()
    original = copy.deepcopy(model)
    n_plain = count(model, (nn.Linear, nn.Conv2d))
    assert n_plain > 0
    assert spectral_norm_all(model) is model
    assert count(model, (nn.Linear, nn.Conv2d)) == 0
    assert count(model, (SNLinear, SNConv2d)) == n_plain
    for (name, new), old in zip(model.named_modules(), original.modules()):
        if isinstance(new, SpectralNorm):
            assert type(new) is SN_LAYERS[type(old)], name
            assert torch.equal(new.weight, old.weight), name
            assert torch.equal(new.bias, old.bias), name


@pytest.mark.parametrize("make, x", [
    (lambda: ToyDiscriminator(width=8), torch.randn(3, 3, 32, 32, generator=seeded(7))),
    (lambda: ToyGenerator(16, 8, 32), torch.randn(3, 16, generator=seeded(7))),
], ids=["ToyDiscriminator", "ToyGenerator"])
def test_spectral_norm_all_outputs_are_the_original_with_each_weight_over_its_svd_sigma(make, x):
    torch.manual_seed(8)
    model = make()
    reference = copy.deepcopy(model)
    spectral_norm_all(model)
    for module in model.modules():
        if isinstance(module, SpectralNorm):
            for _ in range(500):  # sigma_2 / sigma_1 is 0.98 for some layers: many steps to converge
                module.normalized_weight()  # in training mode, without touching batch norm statistics
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                module.weight /= top_singular_value(module.weight)
    model.eval()
    reference.eval()
    expected = reference(x)
    assert torch.allclose(model(x), expected, atol=1e-4 * expected.abs().max().item())


def test_spectral_norm_all_models_train_one_step():
    torch.manual_seed(9)
    G, D = spectral_norm_all(ToyGenerator(16, 8, 32)), spectral_norm_all(ToyDiscriminator(width=8))
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.9))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.9))
    before = copy.deepcopy(D.features[0])
    stats = train_step(G, D, opt_G, opt_D, torch.randn(4, 3, 32, 32), torch.randn(4, 16), torch.randn(4, 16))
    assert all(torch.isfinite(torch.tensor(value)) for value in stats.values())
    assert not torch.equal(D.features[0].weight, before.weight)  # Adam moved the raw weight
    assert not torch.equal(D.features[0].sn_v, before.sn_v)  # training forwards moved the vector


def test_spectral_norm_all_swaps_an_embedding_inside_a_container_keeping_padding_idx():
    torch.manual_seed(10)
    model = nn.ModuleDict({"blocks": nn.Sequential(nn.Embedding(10, 6, padding_idx=0), nn.Linear(6, 2))})
    table = model["blocks"][0].weight.detach().clone()
    spectral_norm_all(model)
    embedding = model["blocks"][0]
    assert type(embedding) is SNEmbedding and type(model["blocks"][1]) is SNLinear
    assert embedding.padding_idx == 0
    assert torch.equal(embedding.weight, table)
    out = embedding(torch.tensor([0, 3, 0]))
    assert torch.equal(out[0], torch.zeros(6)) and torch.equal(out[2], torch.zeros(6))
    out.sum().backward()
    assert torch.equal(embedding.weight.grad[0], torch.zeros(6))  # the padding row stays untrained


# --- bad input ---------------------------------------------------------------------------------

def test_power_iteration_rejects_a_vector_weight_naming_its_shape():
    with pytest.raises(ValueError, match=r"shape \[4\]"):
        power_iteration(torch.randn(4), unit_vector(4, 0))


def test_power_iteration_rejects_zero_iterations():
    with pytest.raises(ValueError, match="n_iterations"):
        power_iteration(torch.randn(3, 4), unit_vector(4, 0), n_iterations=0)


@pytest.mark.parametrize("make", [lambda: SNLinear(4, 3, n_power_iterations=0),
                                  lambda: SNConv2d(2, 3, 3, n_power_iterations=0),
                                  lambda: SNEmbedding(5, 3, n_power_iterations=0)],
                         ids=["SNLinear", "SNConv2d", "SNEmbedding"])
def test_layers_reject_zero_power_iterations_naming_the_argument(make):
    with pytest.raises(ValueError, match="n_power_iterations"):
        make()


def test_spectral_norm_rejects_a_one_dimensional_weight_naming_its_shape():
    with pytest.raises(ValueError, match=r"\[4\]"):
        SpectralNorm.init_spectral_norm(nn.LayerNorm(4))


def test_two_training_forwards_can_share_one_backward():
    # D(real) and D(fake) called separately, one backward: the first forward's graph must keep the
    # vectors it used although the second updates the buffers in place.
    torch.manual_seed(11)
    layer = SNLinear(4, 3)
    (layer(torch.randn(2, 4)).sum() + layer(torch.randn(2, 4)).sum()).backward()
    assert layer.weight.grad is not None


def test_spectral_norm_all_keeps_a_float64_models_dtype_and_weights():
    original = nn.Sequential(nn.Linear(4, 3)).double()
    weight = original[0].weight.detach().clone()
    model = spectral_norm_all(original)
    assert model[0].weight.dtype == torch.float64 and torch.equal(model[0].weight, weight)
    assert model(torch.randn(2, 4, dtype=torch.float64)).dtype == torch.float64


def test_bf16_autocast_leaves_sigma_and_the_vectors_in_float32():
    # Chapter 6's bf16 runs: the conv runs in bfloat16, the power iteration and sigma do not
    torch.manual_seed(0)
    layer = SNConv2d(16, 32, 3, padding=1)
    twin = copy.deepcopy(layer)
    x = torch.randn(4, 16, 8, 8)
    layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = twin(x)
    assert out.dtype == torch.bfloat16
    for name in ("sn_u", "sn_v", "sn_sigma"):
        assert getattr(twin, name).dtype == torch.float32
        assert torch.equal(getattr(twin, name), getattr(layer, name)), name
