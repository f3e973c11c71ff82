# Generated from book/06_training.md by minisagan.bookbuild.mirror.
# Do not edit: change the chapter, then run `make mirror`.


# --- book/06_training.md, section: The code: one step of each network
"""SAGAN's training loop, piece by piece (sections 4 and 5.1 of the paper): one
discriminator step and one generator step with the hinge loss, Adam with TTUR, an
exponential moving average of G that keeps its own spectral-norm vectors, and the
iteration and the loop that repeat them (`train_iteration`, `train_loop`). The steps
return detached tensors, not floats, so that a GPU is never made to wait for a number
nobody reads."""

import copy
from contextlib import nullcontext

import torch
from torch import nn

from minisagan.attention import SelfAttention
from minisagan.losses import LOSSES
from minisagan.spectral_norm import SpectralNorm, power_iteration


def make_optimizers(G: nn.Module, D: nn.Module, lr_g: float = 1e-4, lr_d: float = 4e-4,
                    betas: tuple[float, float] = (0.0, 0.9)):
    """Adam for G and for D. TTUR (section 4.2): D's learning rate is 4x G's;
    betas (0, 0.9)."""
    return (torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas),
            torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas))


def sample_latents(batch: int, z_dim: int, num_classes: int, generator: torch.Generator,
                   device="cpu"):
    """z [B, z_dim] ~ N(0, I) and classes y [B] uniform in [0, num_classes) (None if
    unconditional)."""
    z = torch.randn(batch, z_dim, generator=generator)
    y = (torch.randint(num_classes, (batch,), generator=generator) if num_classes
         else None)
    return z.to(device), None if y is None else y.to(device)


def total_grad_norm(module: nn.Module) -> torch.Tensor:
    """||all gradients of module||_2, as one 0-dim tensor (0 when nothing has a
    gradient)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())


# --- book/06_training.md, section: The code: one step of each network
def d_step(G, D, opt_D, real: torch.Tensor, y_real, z: torch.Tensor, y_fake,
           loss: str = "hinge", autocast=nullcontext) -> dict:
    """One discriminator update on a real batch and a fake batch of the same size.

    real [B, 3, R, R] in [-1, 1], y_real [B]; z [B, z_dim], y_fake [B] make the fakes
    (labels None when unconditional). loss: "hinge" (eq. 4) or Chapter 1's "ns".
    autocast: a context manager factory (e.g. bf16 autocast) for the forward passes.
    """
    B = real.shape[0]
    with torch.no_grad(), autocast():
        fake = G(z, y_fake)  # [B, 3, R, R]; no graph: this step trains D only
    labels = None if y_real is None else torch.cat([y_real, y_fake])  # [2B]
    with autocast():
        # one forward on [real; fake]: one power iteration per SN layer, one batch per
        # step (Chapter 2)
        scores = D(torch.cat([real, fake.to(real.dtype)]), labels).float()  # [2B]
    real_scores, fake_scores = scores[:B], scores[B:]
    # hinge, eq. (4): E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]
    d_loss = LOSSES[loss][0](real_scores, fake_scores)
    opt_D.zero_grad(set_to_none=True)
    d_loss.backward()
    grad_norm = total_grad_norm(D)
    opt_D.step()
    return {"loss_d": d_loss.detach(), "d_real": real_scores.detach().mean(),
            "d_fake": fake_scores.detach().mean(), "grad_norm_d": grad_norm}


def g_step(G, D, opt_G, z: torch.Tensor, y, loss: str = "hinge",
           autocast=nullcontext) -> dict:
    """One generator update: z [B, z_dim], y [B] (or None) -> fakes scored by D, hinge G
    loss."""
    # gradients flow through D to G; D's own weight gradients are not needed
    D.requires_grad_(False)
    try:
        with autocast():
            scores = D(G(z, y), y).float()  # [B]
        g_loss = LOSSES[loss][1](scores)  # hinge, eq. (4): L_G = -E[D(G(z), y)]
        opt_G.zero_grad(set_to_none=True)
        g_loss.backward()
    finally:
        D.requires_grad_(True)
    grad_norm = total_grad_norm(G)
    opt_G.step()
    return {"loss_g": g_loss.detach(), "grad_norm_g": grad_norm}


# --- book/06_training.md, section: An average of G
class GeneratorEMA:
    """An exponential moving average of G's weights:
    theta_ema <- decay * theta_ema + (1 - decay) * theta.

    Spectral norm: the averaged weights have their own top singular vectors. G's u and v
    belong to G's weights, and an average of unit vectors is neither unit length nor a
    singular vector (Chapter 2), so the average keeps its own persistent vectors and
    refines them with one power iteration on its own weights after every update; sigma
    is then u^T W_ema v, as in any SN layer. Batch-norm running statistics are copied
    from G (averaging them buys nothing). Before step ``start`` the average simply
    copies G.
    """

    def __init__(self, G: nn.Module, decay: float = 0.999, start: int = 0):
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay, self.start = decay, start
        self.model = copy.deepcopy(G).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, G: nn.Module, step: int) -> None:
        """Fold in G's weights after G's ``step``-th update (G: the plain module, not a
        DDP wrapper)."""
        decay = self.decay if step >= self.start else 0.0
        for p_ema, p in zip(self.model.parameters(), G.parameters(), strict=True):
            p_ema.lerp_(p.detach(), 1 - decay)  # p_ema + (1 - decay) (p - p_ema)
        for (name, b_ema), b in zip(self.model.named_buffers(), G.buffers(),
                                    strict=True):
            if not name.rpartition(".")[2].startswith("sn_"):
                b_ema.copy_(b)  # BN running mean and variance: G's own
        for layer in self.model.modules():
            # the average's own vectors, never averaged ones
            if isinstance(layer, SpectralNorm):
                sigma, u, v = power_iteration(layer.weight.flatten(1), layer.sn_v,
                                              layer.n_power_iterations, layer.eps)
                layer.sn_u.copy_(u)
                layer.sn_v.copy_(v)
                layer.sn_sigma.copy_(sigma)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)


def attention_gammas(model: nn.Module) -> dict[str, torch.Tensor]:
    """gamma of every self-attention block of model, by module name (eq. 3's
    y = gamma * o + x)."""
    return {name: block.gamma.detach() for name, block in model.named_modules()
            if isinstance(block, SelfAttention)}


# --- book/06_training.md, section: The loop
def train_iteration(G, D, opt_G, opt_D, batches, latents, step: int, n_dis: int = 1,
                    loss: str = "hinge", ema=None, autocast=nullcontext,
                    wrapped: dict | None = None) -> dict:
    """n_dis discriminator steps, one generator step, then the average of G.

    batches: an iterator of (real [B, 3, R, R] in [-1, 1], labels [B] or None) on G's
    device; latents(): a fresh (z [B, z_dim], y [B] or None). step: G's updates before
    this one. wrapped: the networks as the step that trains them calls them
    ("G_train", "D_train") and as the other network's step calls them ("G_fwd",
    "D_fwd"), when an application wraps them (several GPUs, a compiler); by default
    G and D themselves. Returns the steps' detached values.
    """
    nets = {"G_train": G, "D_train": D, "G_fwd": G, "D_fwd": D, **(wrapped or {})}
    for _ in range(n_dis):
        real, labels = next(batches)
        z, y = latents()
        stats = d_step(nets["G_fwd"], nets["D_train"], opt_D, real, labels, z, y, loss,
                       autocast)
    z, y = latents()
    stats.update(g_step(nets["G_train"], nets["D_fwd"], opt_G, z, y, loss, autocast))
    if ema is not None:
        ema.update(G, step + 1)  # G itself: a wrapper holds the same weights
    return stats


# --- book/06_training.md, section: The loop
def train_loop(G, D, opt_G, opt_D, batches, latents, steps: int, start: int = 0,
               log_every: int = 100, after_step=None, **options) -> list[dict]:
    """Iterations from G's step ``start`` up to ``steps``; returns a row every
    ``log_every`` steps and at the last (0: none): the step, then every value the steps
    return, as floats. after_step(step, values) runs after each iteration, with G's
    step count and the steps' tensors. options: `train_iteration`'s (n_dis, loss, ema,
    autocast, wrapped)."""
    log = []
    for step in range(start, steps):
        values = train_iteration(G, D, opt_G, opt_D, batches, latents, step, **options)
        if log_every and ((step + 1) % log_every == 0 or step + 1 == steps):
            log.append({"step": step + 1, **{k: v.item() for k, v in values.items()}})
        if after_step is not None:
            after_step(step + 1, values)
    return log
