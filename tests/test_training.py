"""Chapter 6's exported code (minisagan.training) against the hinge and non-saturating losses and the
first Adam step written out by hand, copies of G and D scored independently, one power iteration per
step counted on D's vectors, and the EMA's average and spectral-norm vectors against the SVD."""

import copy
import math

import pytest
import torch
from torch import nn

from minisagan.attention import SelfAttention
from minisagan.sagan import Discriminator, Generator, SAGANConfig
from minisagan.spectral_norm import SpectralNorm, power_iteration
from minisagan.training import (
    GeneratorEMA,
    attention_gammas,
    d_step,
    g_step,
    make_optimizers,
    sample_latents,
    total_grad_norm,
)

pytestmark = pytest.mark.usefixtures("one_thread")

FLOAT64_ATOL = 1e-10  # one float64 computation against the same computation written another way
FLOAT32_ATOL = 1e-6  # the same, in float32
SCORE_ATOL = 1e-6  # the steps cast D's scores to float32 (.float(), for bf16 autocast), even a float64 D's
EMA_SIGMA_RTOL = 1e-3  # the average's sigma against the SVD of its own weight, after 200 updates
ADAM_EPS = 1e-8  # torch.optim.Adam's default eps

Z_DIM, CLASSES, BATCH = 16, 3, 2


def build(num_classes=CLASSES, attention=16, seed=0, dtype=torch.float64, **overrides):
    """A tiny G and D (ch 8, 32x32); float64 by default so that copies agree to 1e-10."""
    torch.manual_seed(seed)
    config = SAGANConfig(resolution=32, width=8, z_dim=Z_DIM, num_classes=num_classes, attention=attention,
                         **overrides)
    return config, Generator(config).to(dtype), Discriminator(config).to(dtype)


def batch(config: SAGANConfig, seed=1, size=BATCH, dtype=torch.float64):
    """(real in [-1, 1], y_real, z, y_fake); labels None when unconditional."""
    generator = torch.Generator().manual_seed(seed)
    real = (torch.rand(size, 3, config.resolution, config.resolution, generator=generator) * 2 - 1).to(dtype)
    z = torch.randn(size, config.z_dim, generator=generator).to(dtype)
    if not config.num_classes:
        return real, None, z, None
    y_real = torch.randint(0, config.num_classes, (size,), generator=generator)
    y_fake = torch.randint(0, config.num_classes, (size,), generator=generator)
    return real, y_real, z, y_fake


def sn_layers(model: nn.Module):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SpectralNorm)]


def one_power_iteration(W: torch.Tensor, v: torch.Tensor):
    """u <- W v / ||W v||, v <- W^T u / ||W^T u||, written out."""
    u = W @ v
    u = u / torch.sqrt((u * u).sum())
    v = W.T @ u
    v = v / torch.sqrt((v * v).sum())
    return u, v


def advance_vectors_by_hand(model: nn.Module) -> None:
    """Run, by hand, the one power iteration a training forward would run in every SN layer."""
    with torch.no_grad():
        for _, layer in sn_layers(model):
            u, v = one_power_iteration(layer.weight.flatten(1), layer.sn_v)
            layer.sn_u.copy_(u)
            layer.sn_v.copy_(v)


def hinge_d_by_hand(real_scores, fake_scores):
    real_scores, fake_scores = real_scores.tolist(), fake_scores.tolist()
    return (sum(max(0.0, 1 - s) for s in real_scores) / len(real_scores)
            + sum(max(0.0, 1 + s) for s in fake_scores) / len(fake_scores))


def ns_d_by_hand(real_scores, fake_scores):
    """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))), averaged."""
    sigmoid = lambda s: 1 / (1 + math.exp(-s))
    real_scores, fake_scores = real_scores.tolist(), fake_scores.tolist()
    return (sum(-math.log(sigmoid(s)) for s in real_scores) / len(real_scores)
            + sum(-math.log(1 - sigmoid(s)) for s in fake_scores) / len(fake_scores))


def score_copies(G, D, real, y_real, z, y_fake):
    """(copy of D, its scores on real, its scores on fake) as d_step should see them: fakes from a
    copy of G (in G's mode: training, batch statistics), the copy of D given its one power iteration
    by hand, then real and fake scored separately in eval mode. G and D are left untouched."""
    G_copy, D_copy = copy.deepcopy(G), copy.deepcopy(D)
    with torch.no_grad():
        fake = G_copy(z, y_fake)
    advance_vectors_by_hand(D_copy)
    D_copy.eval()
    return D_copy, D_copy(real, y_real), D_copy(fake, y_fake)


def expected_d_scores(G, D, real, y_real, z, y_fake):
    _, real_scores, fake_scores = score_copies(G, D, real, y_real, z, y_fake)
    return real_scores.detach(), fake_scores.detach()


def first_adam_step(old: torch.Tensor, grad: torch.Tensor, lr: float) -> torch.Tensor:
    """Adam's first step with beta1 = 0: m_hat = g, v_hat = g^2, update = -lr g / (|g| + eps)."""
    return old - lr * grad / (grad.abs() + ADAM_EPS)


def parameters_of(model: nn.Module):
    return [p.detach().clone() for p in model.parameters()]


def grads_of(model: nn.Module):
    return [None if p.grad is None else p.grad.clone() for p in model.parameters()]


def count_calls(model: nn.Module):
    """A forward hook recording (input batch, labels, requires_grad of every parameter) per call."""
    calls = []

    def hook(module, args, kwargs, out):
        labels = args[1] if len(args) > 1 else kwargs.get("y")
        calls.append((args[0].detach().clone(), labels, [p.requires_grad for p in module.parameters()]))

    return calls, model.register_forward_hook(hook, with_kwargs=True)


# --- make_optimizers ------------------------------------------------------------------------------

def test_make_optimizers_gives_adam_with_ttur_learning_rates_and_betas_0_09():
    _, G, D = build()
    opt_G, opt_D = make_optimizers(G, D)
    for opt, lr in ((opt_G, 1e-4), (opt_D, 4e-4)):
        assert type(opt) is torch.optim.Adam
        (group,) = opt.param_groups
        assert group["lr"] == lr
        assert tuple(group["betas"]) == (0.0, 0.9)
        assert group["weight_decay"] == 0 and group["eps"] == ADAM_EPS


def test_make_optimizers_param_groups_hold_exactly_g_and_d_parameters():
    _, G, D = build()
    opt_G, opt_D = make_optimizers(G, D)
    assert [id(p) for p in opt_G.param_groups[0]["params"]] == [id(p) for p in G.parameters()]
    assert [id(p) for p in opt_D.param_groups[0]["params"]] == [id(p) for p in D.parameters()]
    assert not {id(p) for p in G.parameters()} & {id(p) for p in D.parameters()}


def test_make_optimizers_passes_custom_learning_rates_and_betas():
    _, G, D = build()
    opt_G, opt_D = make_optimizers(G, D, lr_g=2e-4, lr_d=3e-3, betas=(0.5, 0.999))
    assert opt_G.param_groups[0]["lr"] == 2e-4 and opt_D.param_groups[0]["lr"] == 3e-3
    assert tuple(opt_G.param_groups[0]["betas"]) == tuple(opt_D.param_groups[0]["betas"]) == (0.5, 0.999)


# --- sample_latents -------------------------------------------------------------------------------

def test_sample_latents_shapes_dtypes_and_class_range():
    z, y = sample_latents(4096, Z_DIM, CLASSES, torch.Generator().manual_seed(0))
    assert z.shape == (4096, Z_DIM) and z.dtype == torch.float32
    assert y.shape == (4096,) and y.dtype == torch.int64
    assert y.min() == 0 and y.max() == CLASSES - 1  # every class, none outside [0, num_classes)
    counts = torch.bincount(y, minlength=CLASSES).double() / 4096
    assert torch.allclose(counts, torch.full((CLASSES,), 1 / CLASSES, dtype=torch.float64), atol=0.03)
    assert abs(z.mean().item()) < 0.02 and abs(z.std().item() - 1) < 0.02  # N(0, I)


def test_sample_latents_gives_no_labels_when_unconditional():
    z, y = sample_latents(5, Z_DIM, 0, torch.Generator().manual_seed(0))
    assert z.shape == (5, Z_DIM) and y is None


def test_sample_latents_is_reproducible_from_the_generator_state():
    first = sample_latents(8, Z_DIM, CLASSES, torch.Generator().manual_seed(3))
    again = sample_latents(8, Z_DIM, CLASSES, torch.Generator().manual_seed(3))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    other = sample_latents(8, Z_DIM, CLASSES, torch.Generator().manual_seed(4))
    assert not torch.equal(first[0], other[0])
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    one = sample_latents(8, Z_DIM, CLASSES, generator)
    two = sample_latents(8, Z_DIM, CLASSES, generator)  # the state moved on: new draws
    assert not torch.equal(one[0], two[0])
    generator.set_state(state)
    replay = sample_latents(8, Z_DIM, CLASSES, generator)
    assert torch.equal(one[0], replay[0]) and torch.equal(one[1], replay[1])


def test_sample_latents_draws_on_the_cpu_generator_then_moves_to_the_device_asked():
    cpu = sample_latents(6, Z_DIM, CLASSES, torch.Generator().manual_seed(0))
    meta = sample_latents(6, Z_DIM, CLASSES, torch.Generator().manual_seed(0), device="meta")
    assert meta[0].device.type == meta[1].device.type == "meta"
    assert meta[0].shape == cpu[0].shape and meta[1].shape == cpu[1].shape
    z, _ = sample_latents(6, Z_DIM, 0, torch.Generator().manual_seed(0), device=torch.device("meta"))
    assert z.device.type == "meta"


# --- d_step ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss, by_hand", [("hinge", hinge_d_by_hand), ("ns", ns_d_by_hand)])
def test_d_step_loss_equals_the_loss_computed_by_hand_from_independent_scores(loss, by_hand):
    config, G, D = build()
    real, y_real, z, y_fake = batch(config)
    real_scores, fake_scores = expected_d_scores(G, D, real, y_real, z, y_fake)
    _, opt_D = make_optimizers(G, D)
    out = d_step(G, D, opt_D, real, y_real, z, y_fake, loss=loss)
    assert out["loss_d"].item() == pytest.approx(by_hand(real_scores, fake_scores), abs=SCORE_ATOL)
    assert out["d_real"].item() == pytest.approx(real_scores.mean().item(), abs=SCORE_ATOL)
    assert out["d_fake"].item() == pytest.approx(fake_scores.mean().item(), abs=SCORE_ATOL)
    for value in out.values():
        assert value.dim() == 0 and not value.requires_grad


def test_d_step_hinge_clips_scores_beyond_the_margin():
    """Scale D's output so that some scores lie outside [-1, 1]: the relu must cut them off."""
    config, G, D = build()
    with torch.no_grad():
        D.psi.bias.fill_(3.0)  # every score > 1: real terms 0, fake terms 1 + s > 4
    real, y_real, z, y_fake = batch(config)
    real_scores, fake_scores = expected_d_scores(G, D, real, y_real, z, y_fake)
    assert (real_scores > 1).all()
    _, opt_D = make_optimizers(G, D)
    out = d_step(G, D, opt_D, real, y_real, z, y_fake)
    assert out["loss_d"].item() == pytest.approx(1 + fake_scores.mean().item(), abs=SCORE_ATOL)


def test_d_step_changes_only_d_parameters_and_leaves_g_parameters_and_gradients_alone():
    config, G, D = build()
    real, y_real, z, y_fake = batch(config)
    opt_G, opt_D = make_optimizers(G, D)
    g_before, d_before = parameters_of(G), parameters_of(D)
    d_step(G, D, opt_D, real, y_real, z, y_fake)
    assert all(torch.equal(p, q) for p, q in zip(G.parameters(), g_before))
    assert all(p.grad is None for p in G.parameters())
    assert all(p.grad is not None for p in D.parameters())
    # every D parameter with a gradient moved (gamma = 0 leaves the attention convolutions' at 0)
    assert all(not torch.equal(p, q) for p, q in zip(D.parameters(), d_before) if p.grad.abs().max() > 0)
    assert D.blocks[1].gamma.grad.abs() > 0 and not torch.equal(D.blocks[1].gamma, d_before[
        [n for n, _ in D.named_parameters()].index("blocks.1.gamma")])


def test_d_step_calls_d_once_on_real_then_fake_with_matching_labels():
    config, G, D = build()
    real, y_real, z, y_fake = batch(config)
    with torch.no_grad():
        fake = copy.deepcopy(G)(z, y_fake)
    _, opt_D = make_optimizers(G, D)
    calls, handle = count_calls(D)
    d_step(G, D, opt_D, real, y_real, z, y_fake)
    handle.remove()
    assert len(calls) == 1
    (images, labels, _), = calls
    assert images.shape == (2 * BATCH, 3, 32, 32)
    assert torch.equal(images[:BATCH], real)
    assert torch.allclose(images[BATCH:], fake, atol=FLOAT64_ATOL, rtol=0)
    assert torch.equal(labels, torch.cat([y_real, y_fake]))


def d_grads_by_hand(G, D, real, y_real, z, y_fake, loss="hinge"):
    """Gradients of the D loss w.r.t. a copy of D's parameters, in D.parameters() order."""
    D_copy, r, f = score_copies(G, D, real, y_real, z, y_fake)
    if loss == "hinge":  # relu(1 - r) + relu(1 + f), written out
        value = (1 - r).clamp(min=0).mean() + (1 + f).clamp(min=0).mean()
    else:  # -log sigmoid(r) - log(1 - sigmoid(f))
        value = -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean()
    return torch.autograd.grad(value, list(D_copy.parameters()))


def g_loss_and_grads_by_hand(G, D, z, y, loss="hinge"):
    """-mean D(G(z), y) (or -log sigmoid) on copies of G and D, both in training mode as in g_step,
    and its gradients w.r.t. the copy of G's parameters, in G.parameters() order."""
    G_copy, D_copy = copy.deepcopy(G), copy.deepcopy(D)
    scores = D_copy(G_copy(z, y), y)
    value = -scores.mean() if loss == "hinge" else -torch.log(torch.sigmoid(scores)).mean()
    return value.detach(), torch.autograd.grad(value, list(G_copy.parameters()))


def test_d_step_advances_d_spectral_norm_vectors_by_exactly_one_power_iteration():
    config, G, D = build()
    real, y_real, z, y_fake = batch(config)
    D_before = copy.deepcopy(D)
    _, opt_D = make_optimizers(G, D)
    d_step(G, D, opt_D, real, y_real, z, y_fake)
    layers = dict(sn_layers(D))
    assert len(layers) == len(sn_layers(D_before)) > 5
    for name, old in sn_layers(D_before):
        W = old.weight.detach().flatten(1)  # the weight the forward saw, before Adam moved it
        u, v = one_power_iteration(W, old.sn_v)
        new = layers[name]
        assert torch.allclose(new.sn_u, u, atol=FLOAT64_ATOL, rtol=0), name
        assert torch.allclose(new.sn_v, v, atol=FLOAT64_ATOL, rtol=0), name
        assert new.sn_sigma.item() == pytest.approx((u @ W @ v).item(), abs=FLOAT64_ATOL), name
    # not vacuous: a second iteration would have landed elsewhere in at least one layer
    assert any(not torch.allclose(layers[name].sn_v, power_iteration(old.weight.detach().flatten(1), old.sn_v, 2)[2],
                                  atol=FLOAT64_ATOL, rtol=0) for name, old in sn_layers(D_before))


@pytest.mark.parametrize("loss", ["hinge", "ns"])
def test_d_step_gradients_and_grad_norm_equal_autograd_of_the_loss_by_hand(loss):
    config, G, D = build()
    real, y_real, z, y_fake = batch(config)
    expected = d_grads_by_hand(G, D, real, y_real, z, y_fake, loss)
    _, opt_D = make_optimizers(G, D)
    out = d_step(G, D, opt_D, real, y_real, z, y_fake, loss=loss)
    # hinge: the loss's derivative is +-1/B, exact in float32; ns: sigmoid of float32 scores
    rtol = 1e-8 if loss == "hinge" else 1e-5
    for p, g in zip(D.parameters(), expected, strict=True):
        assert torch.allclose(p.grad, g, atol=FLOAT64_ATOL + rtol * g.abs().max().item(), rtol=0)
    norm = math.sqrt(sum((g.double() ** 2).sum().item() for g in expected))
    assert norm > 0
    assert out["grad_norm_d"].item() == pytest.approx(norm, rel=rtol)
    flat = torch.cat([p.grad.flatten() for p in D.parameters()])
    assert out["grad_norm_d"].item() == pytest.approx(torch.sqrt((flat * flat).sum()).item(), rel=1e-10)


def test_d_step_first_adam_step_moves_each_d_parameter_by_lr_times_g_over_abs_g_plus_eps():
    config, G, D = build()
    real, y_real, z, y_fake = batch(config)
    grads = d_grads_by_hand(G, D, real, y_real, z, y_fake)
    before = parameters_of(D)
    _, opt_D = make_optimizers(G, D)
    d_step(G, D, opt_D, real, y_real, z, y_fake)
    for p, old, g in zip(D.parameters(), before, grads, strict=True):
        assert torch.allclose(p.detach(), first_adam_step(old, g, 4e-4), atol=1e-9, rtol=0)
    # beta1 = 0: the step is +-lr wherever |g| >> eps, whatever |g| is
    steps = torch.cat([(p.detach() - old).flatten() for p, old in zip(D.parameters(), before)])
    big = torch.cat([(g.abs() > 1e-5).flatten() for g in grads])
    assert big.sum() > 100
    assert torch.allclose(steps[big].abs(), torch.full_like(steps[big], 4e-4), rtol=1e-3, atol=0)


def test_d_step_discards_stale_d_gradients():
    config, G, D = build()
    real, y_real, z, y_fake = batch(config)
    expected = d_grads_by_hand(G, D, real, y_real, z, y_fake)
    for p in D.parameters():
        p.grad = torch.full_like(p, 1e3)  # left over from elsewhere: must not be accumulated into
    _, opt_D = make_optimizers(G, D)
    out = d_step(G, D, opt_D, real, y_real, z, y_fake)
    for p, g in zip(D.parameters(), expected):
        assert torch.allclose(p.grad, g, atol=FLOAT64_ATOL, rtol=1e-8)
    assert out["grad_norm_d"].item() < 1e3


def test_d_step_works_unconditionally_without_labels_in_float32():
    config, G, D = build(num_classes=0, dtype=torch.float32)
    real, y_real, z, y_fake = batch(config, dtype=torch.float32)
    assert y_real is None and y_fake is None
    real_scores, fake_scores = expected_d_scores(G, D, real, None, z, None)
    calls, handle = count_calls(D)
    _, opt_D = make_optimizers(G, D)
    out = d_step(G, D, opt_D, real, None, z, None)
    handle.remove()
    assert len(calls) == 1 and calls[0][1] is None
    assert out["loss_d"].item() == pytest.approx(hinge_d_by_hand(real_scores, fake_scores), abs=FLOAT32_ATOL)
    assert all(torch.isfinite(v) for v in out.values())


def test_d_step_runs_both_forwards_inside_the_autocast_given():
    config, G, D = build()
    real, y_real, z, y_fake = batch(config)
    active, seen = [], []

    class Recording:
        def __enter__(self):
            active.append(True)

        def __exit__(self, *exc):
            active.pop()

    handles = [m.register_forward_hook(lambda m, args, out: seen.append((type(m).__name__, bool(active))))
               for m in (G, D)]
    _, opt_D = make_optimizers(G, D)
    d_step(G, D, opt_D, real, y_real, z, y_fake, autocast=Recording)
    for handle in handles:
        handle.remove()
    assert seen == [("Generator", True), ("Discriminator", True)]
    assert not active


# --- g_step ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["hinge", "ns"])
def test_g_step_loss_equals_the_g_loss_of_copies_of_g_and_d(loss):
    config, G, D = build()
    _, _, z, y = batch(config)
    with torch.no_grad():
        scores = copy.deepcopy(D)(copy.deepcopy(G)(z, y), y)
    by_hand = (-sum(scores.tolist()) / BATCH if loss == "hinge"
               else sum(math.log1p(math.exp(-s)) for s in scores.tolist()) / BATCH)
    opt_G, _ = make_optimizers(G, D)
    out = g_step(G, D, opt_G, z, y, loss=loss)
    assert out["loss_g"].item() == pytest.approx(by_hand, abs=SCORE_ATOL)
    assert out["loss_g"].dim() == 0 and not out["loss_g"].requires_grad


def test_g_step_gradients_grad_norm_and_first_adam_step_match_autograd_by_hand():
    config, G, D = build()
    _, _, z, y = batch(config)
    _, grads = g_loss_and_grads_by_hand(G, D, z, y)
    before = parameters_of(G)
    for p in G.parameters():
        p.grad = torch.full_like(p, 1e3)  # stale: must be discarded, not accumulated into
    opt_G, _ = make_optimizers(G, D)
    out = g_step(G, D, opt_G, z, y)
    for p, old, g in zip(G.parameters(), before, grads, strict=True):
        assert torch.allclose(p.grad, g, atol=FLOAT64_ATOL, rtol=1e-8)
        assert torch.allclose(p.detach(), first_adam_step(old, g, 1e-4), atol=1e-9, rtol=0)
    norm = math.sqrt(sum((g ** 2).sum().item() for g in grads))
    assert out["grad_norm_g"].item() == pytest.approx(norm, rel=1e-8)


def test_g_step_changes_only_g_parameters_and_gives_d_no_gradients():
    config, G, D = build()
    _, _, z, y = batch(config)
    g_before, d_before = parameters_of(G), parameters_of(D)
    opt_G, _ = make_optimizers(G, D)
    g_step(G, D, opt_G, z, y)
    assert all(torch.equal(p, q) for p, q in zip(D.parameters(), d_before))
    assert all(p.grad is None for p in D.parameters())
    assert all(not torch.equal(p, q) for p, q in zip(G.parameters(), g_before) if p.grad.abs().max() > 0)
    assert sum(not torch.equal(p, q) for p, q in zip(G.parameters(), g_before)) > 20


def test_g_step_leaves_d_gradients_from_the_d_step_as_they_were():
    config, G, D = build()
    real, y_real, z, y_fake = batch(config)
    opt_G, opt_D = make_optimizers(G, D)
    d_step(G, D, opt_D, real, y_real, z, y_fake)
    d_grads = grads_of(D)
    g_step(G, D, opt_G, z, y_fake)
    for p, g in zip(D.parameters(), d_grads):
        assert torch.equal(p.grad, g)  # neither accumulated into nor cleared


def test_g_step_freezes_d_during_its_forward_and_restores_requires_grad():
    config, G, D = build()
    _, _, z, y = batch(config)
    calls, handle = count_calls(D)
    opt_G, _ = make_optimizers(G, D)
    g_step(G, D, opt_G, z, y)
    handle.remove()
    assert len(calls) == 1
    images, labels, requires_grad = calls[0]
    assert images.shape == (BATCH, 3, 32, 32) and torch.equal(labels, y)
    assert not any(requires_grad)
    assert all(p.requires_grad for p in D.parameters())
    assert all(p.requires_grad for p in G.parameters())


def test_g_step_restores_d_requires_grad_when_the_forward_raises(monkeypatch):
    config, G, D = build()
    _, _, z, y = batch(config)

    def broken(*args, **kwargs):
        raise RuntimeError("D exploded")

    monkeypatch.setattr(D, "forward", broken)
    opt_G, _ = make_optimizers(G, D)
    with pytest.raises(RuntimeError, match="D exploded"):
        g_step(G, D, opt_G, z, y)
    assert all(p.requires_grad for p in D.parameters())


def test_g_step_works_unconditionally_without_labels_in_float32():
    config, G, D = build(num_classes=0, dtype=torch.float32)
    _, _, z, _ = batch(config, dtype=torch.float32)
    with torch.no_grad():
        scores = copy.deepcopy(D)(copy.deepcopy(G)(z))
    opt_G, _ = make_optimizers(G, D)
    out = g_step(G, D, opt_G, z, None)
    assert out["loss_g"].item() == pytest.approx(-scores.mean().item(), abs=FLOAT32_ATOL)
    assert torch.isfinite(out["grad_norm_g"]) and out["grad_norm_g"] > 0


# --- GeneratorEMA ---------------------------------------------------------------------------------

def perturb(model: nn.Module, seed: int, scale=0.1) -> None:
    """Move every parameter, as a training step would (but further)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))


@pytest.mark.parametrize("decay", [0, 1, -0.1, 1.5, 0.0, 1.0])
def test_ema_rejects_a_decay_outside_0_1_naming_it(decay):
    _, G, _ = build()
    with pytest.raises(ValueError, match="decay"):
        GeneratorEMA(G, decay=decay)


def test_ema_starts_as_a_frozen_eval_copy_of_g_that_does_not_share_g_tensors():
    _, G, _ = build()
    ema = GeneratorEMA(G, decay=0.9)
    assert ema.model is not G and not ema.model.training
    assert all(not m.training for m in ema.model.modules())
    assert all(not p.requires_grad for p in ema.model.parameters())
    assert G.training and all(p.requires_grad for p in G.parameters())  # G itself untouched
    for (name, p_ema), p in zip(ema.model.named_parameters(), G.parameters()):
        assert torch.equal(p_ema, p) and p_ema.data_ptr() != p.data_ptr(), name
    perturb(G, seed=5)
    ema.update(G, step=0)
    assert not ema.model.training and all(not p.requires_grad for p in ema.model.parameters())


def test_ema_copies_g_exactly_before_start_and_averages_from_start_on():
    _, G, _ = build()
    ema = GeneratorEMA(G, decay=0.9, start=3)
    for step in (0, 2):
        perturb(G, seed=step)
        ema.update(G, step=step)
        assert all(torch.equal(p_ema, p) for p_ema, p in zip(ema.model.parameters(), G.parameters()))
    old = parameters_of(ema.model)
    perturb(G, seed=3)
    ema.update(G, step=3)  # step == start: averaging
    for p_ema, o, p in zip(ema.model.parameters(), old, G.parameters()):
        assert torch.allclose(p_ema, 0.9 * o + 0.1 * p.detach(), atol=FLOAT64_ATOL, rtol=0)
    assert not all(torch.equal(p_ema, p) for p_ema, p in zip(ema.model.parameters(), G.parameters()))


@pytest.mark.parametrize("decay", [0.5, 0.999])
def test_ema_each_parameter_is_decay_old_plus_one_minus_decay_new(decay):
    _, G, _ = build()
    ema = GeneratorEMA(G, decay=decay)
    for step in range(3):
        old = parameters_of(ema.model)
        perturb(G, seed=10 + step)
        ema.update(G, step=step)
        for p_ema, o, p in zip(ema.model.parameters(), old, G.parameters(), strict=True):
            assert torch.allclose(p_ema, decay * o + (1 - decay) * p.detach(), atol=FLOAT64_ATOL, rtol=0)


def test_ema_copies_batch_norm_running_statistics_from_g_and_keeps_its_own_sn_vectors():
    config, G, _ = build()
    ema = GeneratorEMA(G, decay=0.9)
    _, _, z, y = batch(config)
    with torch.no_grad():
        for _ in range(2):
            G(z, y)  # training forwards: BN statistics and G's SN vectors move
    ema.update(G, step=0)
    g_buffers = dict(G.named_buffers())
    bn = [name for name in g_buffers if not name.rpartition(".")[2].startswith("sn_")]
    assert any(name.endswith("running_mean") for name in bn)
    assert any(name.endswith("num_batches_tracked") for name in bn)
    for name, b in ema.model.named_buffers():
        if name in bn:
            assert torch.equal(b, g_buffers[name]), name
    assert g_buffers["blocks.0.bn1.bn.num_batches_tracked"].item() == 2
    sn = [name for name in g_buffers if name.endswith("sn_v")]
    ema_buffers = dict(ema.model.named_buffers())
    assert any(not torch.equal(ema_buffers[name], g_buffers[name]) for name in sn)


def test_ema_runs_one_power_iteration_on_its_own_averaged_weight_per_update():
    _, G, _ = build()
    ema = GeneratorEMA(G, decay=0.5)
    before = copy.deepcopy(ema.model)
    perturb(G, seed=7)
    ema.update(G, step=0)
    old_layers = dict(sn_layers(before))
    assert len(old_layers) > 5
    for name, layer in sn_layers(ema.model):
        W = layer.weight.flatten(1)  # the new average
        u, v = one_power_iteration(W, old_layers[name].sn_v)
        assert torch.allclose(layer.sn_u, u, atol=FLOAT64_ATOL, rtol=0), name
        assert torch.allclose(layer.sn_v, v, atol=FLOAT64_ATOL, rtol=0), name
        assert layer.sn_sigma.item() == pytest.approx((u @ W @ v).item(), abs=FLOAT64_ATOL), name


def test_ema_sigma_is_its_own_weights_top_singular_value_not_an_average_of_g_vectors():
    _, G, _ = build()
    ema = GeneratorEMA(G, decay=0.9)
    perturb(G, seed=11, scale=0.3)
    generator = torch.Generator().manual_seed(12)
    with torch.no_grad():  # G's vectors: arbitrary unit vectors, far from any singular vector
        for _, layer in sn_layers(G):
            for buffer in (layer.sn_u, layer.sn_v):
                buffer.copy_(torch.nn.functional.normalize(
                    torch.randn(buffer.shape, generator=generator, dtype=buffer.dtype), dim=0))
    for step in range(200):
        ema.update(G, step=step)
    layers = sn_layers(ema.model)
    for name, layer in layers:
        W = layer.weight.flatten(1)
        svd_sigma = torch.linalg.svdvals(W)[0].item()
        assert layer.sn_sigma.item() == pytest.approx(svd_sigma, rel=EMA_SIGMA_RTOL), name
        assert layer.sn_u.norm().item() == pytest.approx(1, abs=FLOAT64_ATOL), name
        assert layer.sn_v.norm().item() == pytest.approx(1, abs=FLOAT64_ATOL), name
    g_sigma = {name: (l.sn_u @ l.weight.flatten(1) @ l.sn_v).item() for name, l in sn_layers(G)}
    assert any(abs(g_sigma[name] - layer.sn_sigma.item()) > 0.1 * layer.sn_sigma.item() for name, layer in layers)


def test_ema_state_dict_round_trip_reproduces_the_average_and_its_outputs():
    config, G, _ = build()
    ema = GeneratorEMA(G, decay=0.7)
    for step in range(3):
        perturb(G, seed=20 + step)
        ema.update(G, step=step)
    _, other_G, _ = build(seed=99)
    restored = GeneratorEMA(other_G, decay=0.7)
    state = ema.state_dict()
    assert any(name.endswith("sn_v") for name in state) and any(name.endswith("running_var") for name in state)
    restored.load_state_dict(state)
    for (name, a), b in zip(ema.model.state_dict().items(), restored.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    _, _, z, y = batch(config)
    with torch.no_grad():
        assert torch.equal(ema.model(z, y), restored.model(z, y))


# --- attention_gammas ----------------------------------------------------------------------------

def test_attention_gammas_reads_every_attention_block_by_name():
    _, G, D = build(attention=16)
    with torch.no_grad():
        G.blocks[2].gamma.fill_(0.25)
        D.blocks[1].gamma.fill_(-0.5)
    assert isinstance(G.blocks[2], SelfAttention) and isinstance(D.blocks[1], SelfAttention)
    g_gammas, d_gammas = attention_gammas(G), attention_gammas(D)
    assert list(g_gammas) == ["blocks.2"] and g_gammas["blocks.2"].item() == 0.25
    assert list(d_gammas) == ["blocks.1"] and d_gammas["blocks.1"].item() == -0.5
    both = attention_gammas(nn.ModuleDict({"G": G, "D": D}))
    assert {name: g.item() for name, g in both.items()} == {"G.blocks.2": 0.25, "D.blocks.1": -0.5}
    assert not any(g.requires_grad for g in both.values())


@pytest.mark.parametrize("overrides", [dict(attention=0), dict(attention=16, attention_kind="residual")],
                         ids=["none", "residual"])
def test_attention_gammas_is_empty_without_attention(overrides):
    _, G, D = build(**overrides)
    assert attention_gammas(G) == {} and attention_gammas(D) == {}


# --- total_grad_norm -----------------------------------------------------------------------------

def test_total_grad_norm_is_the_norm_of_all_gradients_together():
    layer = nn.Linear(2, 2)
    layer.weight.grad = torch.tensor([[1.0, 2.0], [-2.0, 4.0]])
    assert total_grad_norm(layer).item() == pytest.approx(5.0)  # bias has no gradient: skipped
    layer.bias.grad = torch.tensor([0.0, -5.0])
    norm = total_grad_norm(layer)
    assert norm.dim() == 0 and norm.item() == pytest.approx(math.sqrt(25 + 25))


@pytest.mark.parametrize("module", [nn.Linear(3, 2), nn.ReLU()], ids=["no-gradients", "no-parameters"])
def test_total_grad_norm_is_a_zero_tensor_when_nothing_has_a_gradient(module):
    norm = total_grad_norm(module)
    assert isinstance(norm, torch.Tensor) and norm.dim() == 0 and norm.item() == 0
