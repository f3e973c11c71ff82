"""Checkers for Chapter 6's exercises (the training loop, n_dis, the average of G).

`check_d_step` watches the reader's step as it runs: how often D is called and on what, whether G
ran with autograd on, the loss, and D's gradients and weights against `d_step`'s; it names the
mistakes the chapter warns about (two calls of D, a graph through G, a sum where eq. (4) averages,
gradients left to accumulate). `check_ema_of_sn_layer` names the average of SN vectors.
"""

import copy

import torch
import torch.nn.functional as F

from ..sagan import Discriminator, Generator, SAGANConfig
from ..spectral_norm import SNLinear
from ..training import d_step
from . import CheckResult, all_parts, as_part, call, check_number, checker, each_step, expect_tensor, fail

GRAPH = ("G ran with autograd on: the D step built a graph through G that it never uses (memory and time for "
         "nothing, and gradients may reach G); make the fakes under torch.no_grad(), as d_step does")


def _tiny_networks(seed: int):
    torch.manual_seed(seed)
    config = SAGANConfig(resolution=32, width=8, z_dim=16, num_classes=3, attention=16)
    return Generator(config).double(), Discriminator(config).double()


def _loss_mistakes(D, G, real, y_real, z, y_fake):
    """The losses a step makes with the chapter's warned-about mistakes, from D's state before the step."""
    with torch.no_grad():  # on copies: a training-mode forward moves BN statistics and SN vectors
        fake = copy.deepcopy(G)(z, y_fake)
        scores = copy.deepcopy(D)(torch.cat([real, fake]), torch.cat([y_real, y_fake]))
    r, f = scores[: len(real)], scores[len(real):]
    return [("sum-instead-of-mean", F.relu(1 - r).sum() + F.relu(1 + f).sum(), "the loss is a sum where eq. (4) "
             "takes a mean over each batch"),
            ("not-hinge", F.softplus(-r).mean() + F.softplus(f).mean(), "that is the non-saturating (logistic) loss; "
             "this step uses the hinge loss, eq. (4)")]


def _watch(module, record):
    return module.register_forward_hook(lambda m, args, out: record.append((args[0].shape[0], out.requires_grad)))


@checker
def check_d_step(fn) -> CheckResult:
    """Exercise 6.1: ``fn(G, D, opt_D, real, y_real, z, y_fake) -> loss``, one hinge D update; two
    steps in a row (the second catches gradients left to accumulate), a step each for partial credit."""
    G, D = _tiny_networks(seed=61)
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    opt, opt_ref = (torch.optim.Adam(net.parameters(), lr=4e-4, betas=(0.0, 0.9)) for net in (D, D_ref))
    gen = torch.Generator().manual_seed(6)

    def check_one(step: int) -> None:
        real = torch.rand(4, 3, 32, 32, generator=gen, dtype=torch.float64) * 2 - 1
        y_real, y_fake = torch.randint(3, (4,), generator=gen), torch.randint(3, (4,), generator=gen)
        z = torch.randn(4, 16, generator=gen, dtype=torch.float64)
        mistakes = _loss_mistakes(D, G, real, y_real, z, y_fake)  # before the hooks: a deep copy keeps them
        G_before = copy.deepcopy(G.state_dict())
        grads_before = [None if p.grad is None else p.grad.clone() for p in D.parameters()]
        d_calls, g_calls = [], []
        hooks = [_watch(D, d_calls), _watch(G, g_calls)]
        try:
            loss = call(fn, G, D, opt, real, y_real, z, y_fake, form="(G, D, opt_D, real, y_real, z, y_fake)")
        finally:
            for hook in hooks:
                hook.remove()
        expected = d_step(G_ref, D_ref, opt_ref, real, y_real, z, y_fake)["loss_d"]
        where = f"step {step + 1}"
        if len(d_calls) > 1:
            fail(f"{where}: D was called {len(d_calls)} times, on batches of {[n for n, _ in d_calls]}; call it once "
                 "on the 8 real and fake images together: one power iteration per SN layer, and real and fake "
                 "scored by the same D", "two-d-calls")
        if d_calls != [(8, True)]:
            fail(f"{where}: D was called on batches of {[n for n, _ in d_calls]}; call it once on [real; fake]")
        if not g_calls:
            fail(f"{where}: G was never called: the fakes are G(z, y_fake)", "no-fakes")
        if any(graph for _, graph in g_calls) or any(p.grad is not None for p in G.parameters()):
            fail(f"{where}: {GRAPH}", "graph-through-g")
        if isinstance(loss, torch.Tensor):
            expected = expected.double().reshape(loss.shape)
        expect_tensor(loss, expected, tol=1e-5, case=f"{where}, the loss", mistakes=mistakes)
        if any(not torch.equal(v, G.state_dict()[k]) for k, v in G_before.items() if v.is_floating_point()
               and not k.endswith(("sn_u", "sn_v", "sn_sigma")) and "running" not in k):
            fail(f"{where}: G's weights changed; the D step must not train G", "trained-g")
        moved = max((p - q).abs().max().item() for p, q in zip(D.parameters(), D_ref.parameters()))
        if moved > 1e-6:
            _diagnose_update(D, D_ref, grads_before, where)
            fail(f"{where}: D's weights differ from one hinge D update by {moved:.3g}")

    return each_step(2, check_one, "one forward on [real; fake], the hinge loss, only D updated, two steps in a row")


def _diagnose_update(D, D_ref, grads_before, where: str) -> None:
    """Name why D's weights went astray although the loss was right: a missing step or accumulated gradients."""
    pairs = [(p, q, g) for (p, q), g in zip(zip(D.parameters(), D_ref.parameters()), grads_before) if q.grad is not None]
    if all(p.grad is None for p, _, _ in pairs):
        fail(f"{where}: D has no gradients: call loss.backward() before opt_D.step()", "no-backward")
    if any(g is not None for _, _, g in pairs) and all(
            p.grad is not None and torch.allclose(p.grad, q.grad + (0 if g is None else g), atol=1e-6, rtol=1e-4)
            for p, q, g in pairs):
        fail(f"{where}: D's gradients are this step's plus the last step's: call opt_D.zero_grad() before "
             "loss.backward(), or they accumulate", "no-zero-grad")
    if all(torch.allclose(p.grad, q.grad, atol=1e-6, rtol=1e-4) for p, q, _ in pairs):
        fail(f"{where}: the gradients are right but the weights are not one Adam step further: call opt_D.step() "
             "once, after loss.backward()", "no-optimizer-step")


@checker
def check_n_dis(d_updates, real_images) -> CheckResult:
    """Exercise 6.2: with n_dis = 5, batch 32 and 10 generator updates: D's updates and real images seen."""
    return all_parts([
        check_number(d_updates, 5 * 10, tol=0, what="D updates", mistakes=[
            ("one-d-step-per-g-step", 10, "n_dis = 5 means five D updates before each of the 10 G updates")]),
        check_number(real_images, 5 * 10 * 32, tol=0, what="real images D sees", mistakes=[
            ("one-batch-per-g-step", 10 * 32, "each of the 50 D updates takes a fresh real batch of 32")])],
        said="real images D sees = 1600")


@checker
def check_ema_of_sn_layer(fn) -> CheckResult:
    """Exercise 6.3: ``fn(ema_layer, layer, decay)`` folds an SNLinear into its average in place; three
    parts (the averaged weight, unit vectors, sigma of the average) for partial credit."""
    torch.manual_seed(63)
    layer = SNLinear(24, 10).double()
    ema = copy.deepcopy(layer)
    gen = torch.Generator().manual_seed(3)
    expected = reversed_decay = ema.weight.detach().clone()
    for _ in range(60):
        with torch.no_grad():  # G's training moves the weight (and its own power iteration its vectors)
            layer.weight.add_(0.05 * torch.randn(layer.weight.shape, generator=gen, dtype=torch.float64))
            layer.sn_u.copy_(torch.nn.functional.normalize(torch.randn(10, generator=gen, dtype=torch.float64), dim=0))
            layer.sn_v.copy_(torch.nn.functional.normalize(torch.randn(24, generator=gen, dtype=torch.float64), dim=0))
        expected = 0.9 * expected + 0.1 * layer.weight.detach()
        reversed_decay = 0.1 * reversed_decay + 0.9 * layer.weight.detach()
        call(fn, ema, layer, 0.9, form="(ema_layer, layer, decay)")
    weight = as_part(expect_tensor, ema.weight.detach(), expected, tol=1e-9, case="the averaged weight",
                     said="weights averaged", mistakes=[
        ("decay-reversed", reversed_decay, "the decay is the wrong way round: the average keeps decay = 0.9 of "
         "itself and takes 1 - decay of the live weight"),
        ("weight-copied", layer.weight.detach(), "the weight is copied, not averaged")])
    parts = [weight, _unit_vectors(ema), _sigma_of_average(ema, layer)]
    return all_parts(parts, said=f"weights averaged, and {parts[2].message}" if all(parts) else "")


def _unit_vectors(ema) -> CheckResult:
    for name in ("sn_u", "sn_v"):
        norm = getattr(ema, name).norm().item()
        if abs(norm - 1) > 1e-6:
            return CheckResult(False, f"{name} has length {norm:.3f}: you averaged the spectral-norm vectors, and an "
                                      "average of unit vectors is shorter than 1; give the average its own power "
                                      "iteration", "averaged-sn-vectors")
    return CheckResult(True, "u and v of unit length")


def _sigma_of_average(ema, layer) -> CheckResult:
    true_sigma = torch.linalg.svdvals(ema.weight.detach())[0].item()
    sigma = (ema.sn_u @ ema.weight.detach() @ ema.sn_v).item()
    if abs(sigma - true_sigma) > 1e-3 * true_sigma:
        copied = torch.equal(ema.sn_u, layer.sn_u) and torch.equal(ema.sn_v, layer.sn_v)
        return CheckResult(False, f"u^T W_ema v = {sigma:.4f} but the averaged weight's largest singular value is "
                                  f"{true_sigma:.4f}: its vectors do not belong to its weight"
                                  + (" (they are the live layer's, copied)" if copied else ""),
                           "copied-sn-vectors" if copied else "stale-sn-vectors")
    return CheckResult(True, f"sigma = {sigma:.4f} matches the SVD of the average")
