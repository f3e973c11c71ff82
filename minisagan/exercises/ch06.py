"""Checkers for Chapter 6's exercises (the training loop, n_dis, the average of G)."""

import copy

import torch

from ..sagan import Discriminator, Generator, SAGANConfig
from ..spectral_norm import SNLinear
from ..training import d_step
from . import CheckResult, check_number, compare_tensors


def _tiny_networks(seed: int):
    torch.manual_seed(seed)
    config = SAGANConfig(resolution=32, width=8, z_dim=16, num_classes=3, attention=16)
    return Generator(config).double(), Discriminator(config).double()


def check_d_step(fn) -> CheckResult:
    """Exercise 6.1: ``fn(G, D, opt_D, real, y_real, z, y_fake) -> loss``, one hinge D update."""
    G, D = _tiny_networks(seed=61)
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    opt, opt_ref = (torch.optim.Adam(net.parameters(), lr=4e-4, betas=(0.0, 0.9)) for net in (D, D_ref))
    gen = torch.Generator().manual_seed(6)
    for step in range(2):
        real = torch.rand(4, 3, 32, 32, generator=gen, dtype=torch.float64) * 2 - 1
        y_real, y_fake = torch.randint(3, (4,), generator=gen), torch.randint(3, (4,), generator=gen)
        z = torch.randn(4, 16, generator=gen, dtype=torch.float64)
        calls = []
        hook = D.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
        G_before = copy.deepcopy(G.state_dict())
        try:
            loss = fn(G, D, opt, real, y_real, z, y_fake)
        finally:
            hook.remove()
        expected = d_step(G_ref, D_ref, opt_ref, real, y_real, z, y_fake)["loss_d"]
        if calls != [8]:
            return CheckResult(False, f"step {step + 1}: D was called on batches of {calls}; one call on the "
                                      "8 real and fake images together is one power iteration per SN layer")
        failure = compare_tensors(loss, expected.double().reshape(loss.shape if isinstance(loss, torch.Tensor) else ()),
                                  tol=1e-5, case=f"step {step + 1}, the loss")
        if failure is not None:
            return failure
        if any(not torch.equal(v, G.state_dict()[k]) for k, v in G_before.items() if v.is_floating_point()
               and not k.endswith(("sn_u", "sn_v", "sn_sigma")) and "running" not in k):
            return CheckResult(False, f"step {step + 1}: G's weights changed; the D step must not train G")
        moved = max((p - q).abs().max().item() for p, q in zip(D.parameters(), D_ref.parameters()))
        if moved > 1e-6:
            return CheckResult(False, f"step {step + 1}: D's weights differ from one hinge D update by {moved:.3g}")
    return CheckResult(True, "one forward on [real; fake], the hinge loss, and only D updated, two steps in a row")


def check_n_dis(d_updates, real_images) -> CheckResult:
    """Exercise 6.2: with n_dis = 5, batch 32 and 10 generator updates: D's updates and real images seen."""
    updates = check_number(d_updates, 5 * 10, tol=0, what="D updates")
    if not updates:
        return updates
    return check_number(real_images, 5 * 10 * 32, tol=0, what="real images D sees")


def check_ema_of_sn_layer(fn) -> CheckResult:
    """Exercise 6.3: ``fn(ema_layer, layer, decay)`` folds an SNLinear into its average in place."""
    torch.manual_seed(63)
    layer = SNLinear(24, 10).double()
    ema = copy.deepcopy(layer)
    gen = torch.Generator().manual_seed(3)
    expected = ema.weight.detach().clone()
    for _ in range(60):
        with torch.no_grad():  # G's training moves the weight (and its own power iteration its vectors)
            layer.weight.add_(0.05 * torch.randn(layer.weight.shape, generator=gen, dtype=torch.float64))
            layer.sn_u.copy_(torch.nn.functional.normalize(torch.randn(10, generator=gen, dtype=torch.float64), dim=0))
            layer.sn_v.copy_(torch.nn.functional.normalize(torch.randn(24, generator=gen, dtype=torch.float64), dim=0))
        expected = 0.9 * expected + 0.1 * layer.weight.detach()
        fn(ema, layer, 0.9)
    failure = compare_tensors(ema.weight.detach(), expected, tol=1e-9, case="the averaged weight")
    if failure is not None:
        return failure
    for name in ("sn_u", "sn_v"):
        norm = getattr(ema, name).norm().item()
        if abs(norm - 1) > 1e-6:
            return CheckResult(False, f"{name} has length {norm:.3f}: an average of unit vectors is shorter than 1; "
                                      "give the average its own power iteration")
    true_sigma = torch.linalg.svdvals(ema.weight.detach())[0].item()
    sigma = (ema.sn_u @ ema.weight.detach() @ ema.sn_v).item()
    if abs(sigma - true_sigma) > 1e-3 * true_sigma:
        return CheckResult(False, f"u^T W_ema v = {sigma:.4f} but the averaged weight's largest singular value is "
                                  f"{true_sigma:.4f}: its vectors do not belong to its weight")
    return CheckResult(True, f"weights averaged, and sigma = {sigma:.4f} matches the SVD of the average")
