# Generated from book/02_spectral_norm.md by minisagan.bookbuild.mirror.
# Do not edit: change the chapter, then run `make mirror`.


# --- book/02_spectral_norm.md, section: The power iteration
"""Spectral normalization (Miyato et al.; SAGAN section 4.1): W / sigma(W), sigma
estimated by a power iteration whose vectors persist between steps. SNLinear, SNConv2d
and SNEmbedding are drop-in replacements for their torch.nn counterparts."""

import torch
import torch.nn.functional as F
from torch import nn


def power_iteration(W: torch.Tensor, v: torch.Tensor, n_iterations: int = 1,
                    eps: float = 1e-12):
    """Estimate the largest singular value of W [rows, cols] from a start vector
    v [cols].

    Returns (sigma, u [rows], v [cols]): sigma = u^T W v, and u, v the current estimates
    of the top left- and right-singular vectors (unit length).
    """
    if W.dim() != 2:
        raise ValueError("power_iteration needs a matrix [rows, cols], "
                         f"got a weight of shape {list(W.shape)}")
    if n_iterations < 1:
        raise ValueError(f"n_iterations must be at least 1, got {n_iterations}")
    for _ in range(n_iterations):
        u = F.normalize(W @ v, dim=0, eps=eps)  # u <- W v / ||W v||
        v = F.normalize(W.T @ u, dim=0, eps=eps)  # v <- W^T u / ||W^T u||
    return u @ W @ v, u, v  # sigma ~ u^T W v


# --- book/02_spectral_norm.md, section: The spectral-norm layers
class SpectralNorm:
    """Mixin for a layer with a ``weight``: ``self.normalized_weight()`` is
    weight / sigma(weight).

    The weight is viewed as a matrix [weight.shape[0], rest] (a conv's [out, in, kh, kw]
    becomes [out, in*kh*kw]). Buffers: ``sn_u`` [rows], ``sn_v`` [cols], and
    ``sn_sigma`` (the last sigma used, for logging).
    """

    def init_spectral_norm(self, n_power_iterations: int = 1, eps: float = 1e-12,
                           warmup: int = 15):
        if n_power_iterations < 1:
            raise ValueError("n_power_iterations must be at least 1, "
                             f"got {n_power_iterations}")
        if self.weight.dim() < 2:
            raise ValueError("spectral norm needs a weight of 2 or more dimensions, "
                             f"got {list(self.weight.shape)}")
        self.n_power_iterations, self.eps = n_power_iterations, eps
        W = self.weight.detach().flatten(1)  # [rows, cols]
        v = F.normalize(torch.randn(W.shape[1], device=W.device, dtype=W.dtype),
                        dim=0, eps=eps)
        sigma, u, v = power_iteration(W, v, warmup, eps)
        self.register_buffer("sn_u", u)
        self.register_buffer("sn_v", v)
        self.register_buffer("sn_sigma", sigma)

    def normalized_weight(self) -> torch.Tensor:
        W = self.weight.flatten(1)  # [rows, cols]
        # In the weight's own precision even under bf16 autocast (Chapter 6):
        # a bf16 sigma is ~0.4% off
        with torch.autocast(W.device.type, enabled=False):
            if self.training:
                # the vectors are estimates, not functions of W to differentiate
                with torch.no_grad():
                    _, u, v = power_iteration(W, self.sn_v, self.n_power_iterations,
                                              self.eps)
                    self.sn_u.copy_(u)
                    self.sn_v.copy_(v)
            # sigma = u^T W v, differentiable in W. Clones: the next forward updates the
            # buffers in place, and this forward's graph must keep the vectors it used
            # (D(real) + D(fake), one backward).
            sigma = self.sn_u.clone() @ W @ self.sn_v.clone()
            self.sn_sigma.copy_(sigma.detach())
            return self.weight / sigma


class SNLinear(nn.Linear, SpectralNorm):
    """nn.Linear with its weight divided by its spectral norm."""

    def __init__(self, in_features, out_features, bias=True, n_power_iterations=1,
                 eps=1e-12):
        super().__init__(in_features, out_features, bias=bias)
        self.init_spectral_norm(n_power_iterations, eps)

    def forward(self, x):
        return F.linear(x, self.normalized_weight(), self.bias)


class SNConv2d(nn.Conv2d, SpectralNorm):
    """nn.Conv2d with its weight, as a matrix [out, in*kh*kw], divided by its spectral
    norm."""

    def __init__(self, *args, n_power_iterations=1, eps=1e-12, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_spectral_norm(n_power_iterations, eps)

    def forward(self, x):
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class SNEmbedding(nn.Embedding, SpectralNorm):
    """nn.Embedding with its table [num_embeddings, dim] divided by its spectral
    norm."""

    def __init__(self, num_embeddings, embedding_dim, n_power_iterations=1, eps=1e-12,
                 **kwargs):
        super().__init__(num_embeddings, embedding_dim, **kwargs)
        self.init_spectral_norm(n_power_iterations, eps)

    def forward(self, x):
        return F.embedding(x, self.normalized_weight(), self.padding_idx, self.max_norm,
                           self.norm_type, self.scale_grad_by_freq, self.sparse)


# --- book/02_spectral_norm.md, section: The spectral-norm layers
SN_LAYERS = {nn.Linear: SNLinear, nn.Conv2d: SNConv2d, nn.Embedding: SNEmbedding}


def _to_spectral_norm(layer: nn.Module, n_power_iterations: int,
                      eps: float) -> nn.Module:
    if isinstance(layer, nn.Linear):
        new = SNLinear(layer.in_features, layer.out_features, layer.bias is not None,
                       n_power_iterations, eps)
    elif isinstance(layer, nn.Conv2d):
        new = SNConv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                       layer.stride, layer.padding, layer.dilation, layer.groups,
                       layer.bias is not None, layer.padding_mode,
                       n_power_iterations=n_power_iterations, eps=eps)
    else:
        new = SNEmbedding(layer.num_embeddings, layer.embedding_dim, n_power_iterations,
                          eps, padding_idx=layer.padding_idx, max_norm=layer.max_norm,
                          norm_type=layer.norm_type, sparse=layer.sparse,
                          scale_grad_by_freq=layer.scale_grad_by_freq)
    new = new.to(device=layer.weight.device, dtype=layer.weight.dtype)
    # the weights; the sn_* buffers stay fresh and warm up on the copied weight
    new.load_state_dict(layer.state_dict(), strict=False)
    new.init_spectral_norm(n_power_iterations, eps)
    return new


def spectral_norm_all(model: nn.Module, n_power_iterations: int = 1,
                      eps: float = 1e-12) -> nn.Module:
    """Replace, in place, every Linear, Conv2d and Embedding of ``model`` by its SN
    twin; returns it."""
    for name, child in model.named_children():
        if type(child) in SN_LAYERS:
            setattr(model, name, _to_spectral_norm(child, n_power_iterations, eps))
        else:
            spectral_norm_all(child, n_power_iterations, eps)
    return model
