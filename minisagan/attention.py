# Generated from book/03_self_attention.md by minisagan.bookbuild.mirror.
# Do not edit: change the chapter, then run `make mirror`.


# --- book/03_self_attention.md, section: The code, naively
"""The SAGAN self-attention block (section 3, eqs. 1-3) and the official code's cheaper
variant.

Shapes: feature maps [B, C, H, W]; sequences [B, N, channels] with N = H * W positions.
"""

import torch
import torch.nn.functional as F
from torch import nn

from minisagan.spectral_norm import SNConv2d


def naive_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor):
    """query [B, N, d], key [B, M, d], value [B, M, c] -> (o [B, N, c], beta [B, N, M]).

    Row j of beta is the distribution over the M attended positions for output
    position j.
    """
    s = query @ key.transpose(1, 2)  # eq. (1): s[b, j, i] = g(x_j)^T f(x_i)  [B, N, M]
    beta = s.softmax(dim=-1)  # eq. (1): softmax over i, attended positions   [B, N, M]
    return beta @ value, beta  # eq. (2): o_j = sum_i beta_{j,i} h(x_i)       [B, N, c]


def fused_attention(query: torch.Tensor, key: torch.Tensor,
                    value: torch.Tensor) -> torch.Tensor:
    """The same o as `naive_attention`, computed by PyTorch's fused kernel without
    storing beta.

    SAGAN does not divide s by sqrt(d) as transformers do, hence scale=1. PyTorch's
    fused CPU kernel runs only for equal, contiguous widths of query, key and value;
    otherwise it silently falls back to the N x N path. Zero channels appended to query
    and key leave every q . k unchanged. The fast CUDA kernels (flash, memory-efficient)
    take 4-D [B, heads, N, width] inputs, so the sequences go in as one head; 3-D inputs
    may send CUDA to the N x N path as well.
    """
    width = max(query.shape[-1], value.shape[-1])
    # [B, *, d] -> [B, 1, *, width]: zero channels up to width,
    # then a head axis of size 1
    pad = lambda t: F.pad(t, (0, width - t.shape[-1])).contiguous().unsqueeze(1)
    o = F.scaled_dot_product_attention(pad(query), pad(key), pad(value),
                                       scale=1.0)  # [B, 1, N, width]
    return o.squeeze(1)[..., : value.shape[-1]]  # [B, N, c]


# --- book/03_self_attention.md, section: The block
class SelfAttention(nn.Module):
    """y = gamma * o + x (eq. 3) on feature maps x [B, C, H, W]; gamma starts at 0.

    channels: C, divisible by 8 (and by 2 more for the official variant's C/2 values).
    official: the official code's variant (values C/2, keys and values max-pooled 2x2,
        output conv).
    spectral_norm: spectrally normalize every 1x1 convolution (the paper: yes).
    fused: compute the attention with the fused kernel (same result, no N x N matrix
        in memory).
    """

    def __init__(self, channels: int, *, official: bool = False,
                 spectral_norm: bool = True, fused: bool = True):
        super().__init__()
        if channels % 8 or channels < 8:
            raise ValueError("SelfAttention needs channels divisible by 8 "
                             f"(f and g have C/8), got {channels}")
        conv = SNConv2d if spectral_norm else nn.Conv2d
        value_channels = channels // 2 if official else channels
        self.channels, self.official, self.fused = channels, official, fused
        # keys f(x_i) = W_f x_i, queries g(x_j) = W_g x_j and values h(x_i) = W_h x_i
        self.f = conv(channels, channels // 8, 1, bias=False)
        self.g = conv(channels, channels // 8, 1, bias=False)
        self.h = conv(channels, value_channels, 1, bias=False)
        self.out = (conv(value_channels, channels, 1, bias=False) if official
                    else nn.Identity())
        # eq. (3): gamma starts at 0, the block is the identity
        self.gamma = nn.Parameter(torch.zeros(()))

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError("SelfAttention expects feature maps [B, C, H, W], "
                             f"got shape {list(x.shape)}")
        if x.shape[1] != self.channels:
            raise ValueError(f"SelfAttention was built for {self.channels} channels, "
                             f"got {x.shape[1]}")
        if self.official and (x.shape[2] % 2 or x.shape[3] % 2):
            raise ValueError("the official variant pools 2x2: height and width must be "
                             f"even, got {list(x.shape[2:])}")

    def project(self, x: torch.Tensor):
        """Queries [B, N, C/8], keys [B, M, C/8] and values [B, M, Cv] of
        x [B, C, H, W]."""
        self._check(x)
        # M = N/4 attended positions in the official variant, else N
        pool = (lambda t: F.max_pool2d(t, 2)) if self.official else (lambda t: t)
        query = self.g(x).flatten(2).transpose(1, 2)  # [B, C/8, H, W] -> [B, N, C/8]
        key = pool(self.f(x)).flatten(2).transpose(1, 2)  # -> [B, M, C/8]
        value = pool(self.h(x)).flatten(2).transpose(1, 2)  # -> [B, M, Cv]
        return query, key, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query, key, value = self.project(x)  # checks x first
        B, C, H, W = x.shape
        o = (fused_attention(query, key, value) if self.fused
             else naive_attention(query, key, value)[0])
        # [B, N, Cv] -> [B, Cv, H, W] -> [B, C, H, W]
        o = self.out(o.transpose(1, 2).reshape(B, -1, H, W))
        return self.gamma * o + x  # eq. (3)


def attention_maps(block: SelfAttention, x: torch.Tensor,
                   positions: list[tuple[int, int]]) -> torch.Tensor:
    """beta for chosen query positions (row, col) of x [B, C, H, W] -> [B, Q, Hk, Wk].

    Hk x Wk is the grid of attended positions (H/2 x W/2 in the official variant). Only
    the Q rows of beta are computed, so this works at any resolution.
    """
    query, key, _ = block.project(x)
    H, W = x.shape[2:]
    for r, c in positions:
        if not (0 <= r < H and 0 <= c < W):
            raise ValueError(f"query position ({r}, {c}) is outside the {H}x{W} "
                             "feature map")
    rows = torch.tensor([r * W + c for r, c in positions], device=x.device)
    # the value is unused: only beta
    _, beta = naive_attention(query[:, rows], key, key[..., :1])
    side = (H // 2, W // 2) if block.official else (H, W)
    return beta.reshape(x.shape[0], len(positions), *side)
