"""Chapter 1's exported code (minisagan.losses, minisagan.toygan) against independent computations."""

import copy
import math

import pytest
import torch

from minisagan.losses import LOSSES, hinge_d_loss, hinge_g_loss, ns_d_loss, ns_g_loss
from minisagan.toygan import ToyDiscriminator, ToyGenerator, train_step


def scores(n, seed):
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2


def test_hinge_losses_match_eq4_computed_sample_by_sample():
    real, fake = scores(33, 0), scores(17, 1)
    by_hand = sum(max(0.0, 1 - r) for r in real.tolist()) / 33 + sum(max(0.0, 1 + f) for f in fake.tolist()) / 17
    assert hinge_d_loss(real, fake).item() == pytest.approx(by_hand, rel=1e-12)
    assert hinge_g_loss(fake).item() == pytest.approx(-sum(fake.tolist()) / 17, rel=1e-12)


def test_cross_entropy_losses_match_log_sigmoid():
    real, fake = scores(20, 2), scores(20, 3)
    sigmoid = lambda s: 1 / (1 + math.exp(-s))
    d_by_hand = (-sum(math.log(sigmoid(r)) for r in real.tolist()) - sum(math.log(1 - sigmoid(f)) for f in fake.tolist())) / 20
    g_by_hand = -sum(math.log(sigmoid(f)) for f in fake.tolist()) / 20
    assert ns_d_loss(real, fake).item() == pytest.approx(d_by_hand, rel=1e-10)
    assert ns_g_loss(fake).item() == pytest.approx(g_by_hand, rel=1e-10)


def test_cross_entropy_losses_stay_finite_for_extreme_scores():
    extreme = torch.tensor([-200.0, 200.0])
    assert torch.isfinite(ns_d_loss(extreme, extreme)) and torch.isfinite(ns_g_loss(extreme))
    assert ns_g_loss(torch.tensor([-200.0])).item() == pytest.approx(200.0)


def test_hinge_sends_no_gradient_past_the_margin():
    real = torch.tensor([0.0, 0.999, 1.001, 5.0], requires_grad=True)
    fake = torch.tensor([-5.0, -1.001, -0.999, 0.0], requires_grad=True)
    hinge_d_loss(real, fake).backward()
    assert real.grad.tolist() == pytest.approx([-0.25, -0.25, 0.0, 0.0])
    assert fake.grad.tolist() == pytest.approx([0.0, 0.0, 0.25, 0.25])


def test_loss_table_pairs_d_and_g_losses():
    assert LOSSES == {"hinge": (hinge_d_loss, hinge_g_loss), "ns": (ns_d_loss, ns_g_loss)}


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_models_map_noise_to_images_to_scores(resolution):
    G, D = ToyGenerator(z_dim=16, width=4, resolution=resolution), ToyDiscriminator(width=4, resolution=resolution)
    images = G(torch.randn(3, 16))
    assert images.shape == (3, 3, resolution, resolution)
    assert images.abs().max() <= 1
    assert D(images).shape == (3,)


def test_parameter_counts_match_a_count_by_hand():
    z, w = 64, 32
    conv = lambda c_in, c_out, k: c_in * c_out * k * k + c_out
    bn = lambda c: 2 * c
    # G: linear z -> 256*4*4, three blocks (BN + 3x3 conv) 256->128->64->32, then BN + conv 32->3
    g = (z + 1) * 256 * 16 + sum(bn(a) + conv(a, b, 3) for a, b in [(256, 128), (128, 64), (64, 32)]) + bn(32) + conv(32, 3, 3)
    # D: 3x3 conv 3->32, three 4x4 convs 32->64->128->256, linear 256*16 -> 1
    d = conv(3, 32, 3) + sum(conv(a, b, 4) for a, b in [(32, 64), (64, 128), (128, 256)]) + 256 * 16 + 1
    assert sum(p.numel() for p in ToyGenerator(z, w, 32).parameters()) == g
    assert sum(p.numel() for p in ToyDiscriminator(w, 32).parameters()) == d


def _setup(seed=0):
    torch.manual_seed(seed)
    G, D = ToyGenerator(8, 4, 32), ToyDiscriminator(4, 32)
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.0, 0.9))
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.0, 0.9))
    return G, D, opt_G, opt_D


def test_train_step_equals_the_two_updates_done_by_hand():
    # SGD, not Adam: Adam's first step is lr * sign(grad), which turns float rounding in a
    # near-zero gradient into a full-size difference.
    G, D, _, _ = _setup()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    opt_G, opt_D = torch.optim.SGD(G.parameters(), lr=0.05), torch.optim.SGD(D.parameters(), lr=0.05)
    opt_G2, opt_D2 = torch.optim.SGD(G2.parameters(), lr=0.05), torch.optim.SGD(D2.parameters(), lr=0.05)
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    z_d, z_g = torch.randn(4, 8), torch.randn(4, 8)

    stats = train_step(G, D, opt_G, opt_D, real, z_d, z_g, loss="hinge")

    with torch.no_grad():
        fake = G2(z_d)
    loss_d = torch.relu(1 - D2(real)).mean() + torch.relu(1 + D2(fake)).mean()  # D has no batch statistics
    opt_D2.zero_grad()
    loss_d.backward()
    opt_D2.step()
    loss_g = -D2(G2(z_g)).mean()
    opt_G2.zero_grad()
    loss_g.backward()
    opt_G2.step()

    assert stats["loss_d"] == pytest.approx(loss_d.item(), rel=1e-5)
    assert stats["loss_g"] == pytest.approx(loss_g.item(), rel=1e-5)
    for a, b in zip([*G.parameters(), *D.parameters()], [*G2.parameters(), *D2.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_generator_step_leaves_the_discriminator_alone():
    G, D, opt_G, opt_D = _setup()
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    opt_D.step = lambda: None  # freeze D's update: only the G step could change D now
    before = [p.detach().clone() for p in D.parameters()]
    train_step(G, D, opt_G, opt_D, real, torch.randn(4, 8), torch.randn(4, 8))
    assert all(torch.equal(a, b) for a, b in zip(before, D.parameters()))


def test_unknown_loss_name_is_an_error():
    G, D, opt_G, opt_D = _setup()
    with pytest.raises(KeyError):
        train_step(G, D, opt_G, opt_D, torch.zeros(2, 3, 32, 32), torch.randn(2, 8), torch.randn(2, 8), loss="wgan")
