# Generated from book/04_sagan_networks.md by minisagan.bookbuild.mirror.
# Do not edit: change the chapter, then run `make mirror`.


# --- book/04_sagan_networks.md, section: Conditional batch norm
"""SAGAN's networks (section 5; the official code's layout): conditional batch norm,
residual up- and down-blocks, the projection discriminator, and `Generator` /
`Discriminator` built from one `SAGANConfig` at 32, 64 or 128 pixels, with attention (or
a residual block) at any feature resolution.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from minisagan.attention import SelfAttention
from minisagan.data import RESOLUTIONS  # (32, 64, 128): the sizes the data renders
from minisagan.errors import ConfigError
from minisagan.spectral_norm import SNConv2d, SNEmbedding, SNLinear


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without affine, then a per-class gain (init 1) and bias (init 0).

    x [B, C, H, W], y [B] (class indices) -> [B, C, H, W]. With num_classes = 0 it is
    plain batch norm with one learned gain and bias (an unconditional generator).
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(channels, affine=num_classes == 0)
        if num_classes:
            self.gain = nn.Embedding(num_classes, channels)
            self.bias = nn.Embedding(num_classes, channels)
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.bn(x)
        if not self.num_classes:
            return h
        # gain and bias [B, C] -> [B, C, 1, 1]
        return self.gain(y)[:, :, None, None] * h + self.bias(y)[:, :, None, None]


# --- book/04_sagan_networks.md, section: The residual blocks
def conv_layer(spectral_norm: bool):
    return SNConv2d if spectral_norm else nn.Conv2d


class GBlock(nn.Module):
    """G's up-block: CBN, ReLU, upsample x2, conv3x3, CBN, ReLU, conv3x3; shortcut:
    upsample, conv1x1.

    x [B, in, H, W], y [B] -> [B, out, 2H, 2W] (or [B, out, H, W] with upsample=False,
    the residual block that can stand in for attention).
    """

    def __init__(self, in_channels, out_channels, num_classes, spectral_norm=True,
                 upsample=True):
        super().__init__()
        conv = conv_layer(spectral_norm)
        self.upsample = upsample
        self.bn1 = ConditionalBatchNorm2d(in_channels, num_classes)
        self.conv1 = conv(in_channels, out_channels, 3, padding=1)
        self.bn2 = ConditionalBatchNorm2d(out_channels, num_classes)
        self.conv2 = conv(out_channels, out_channels, 3, padding=1)
        self.shortcut = conv(in_channels, out_channels, 1)

    def _up(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x

    def forward(self, x, y=None):
        h = self._up(F.relu(self.bn1(x, y)))
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.shortcut(self._up(x))


class DBlock(nn.Module):
    """D's down-block: ReLU, conv3x3, ReLU, conv3x3, avg-pool 2; shortcut: conv1x1 then
    avg-pool.

    first=True: D's first block, on the image: no leading ReLU, and the shortcut pools
    before its conv (the official code's order). downsample=False: no pooling (D's last
    block, or the residual block that can stand in for attention).
    x [B, in, H, W] -> [B, out, H/2, W/2] or [B, out, H, W].
    """

    def __init__(self, in_channels, out_channels, spectral_norm=True, downsample=True,
                 first=False):
        super().__init__()
        conv = conv_layer(spectral_norm)
        self.downsample, self.first = downsample, first
        self.conv1 = conv(in_channels, out_channels, 3, padding=1)
        self.conv2 = conv(out_channels, out_channels, 3, padding=1)
        self.shortcut = (conv(in_channels, out_channels, 1)
                         if in_channels != out_channels or downsample else None)

    def _down(self, x):
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self._down(self.conv2(F.relu(self.conv1(h))))
        if self.shortcut is None:
            return h + x
        if self.first:
            return h + self.shortcut(self._down(x))
        return h + self._down(self.shortcut(x))


# --- book/04_sagan_networks.md, section: One configuration for every network of the paper
# G's block outputs from 4x4 upwards, in units of width (128x128)
MULTIPLIERS = (16, 8, 4, 2, 1)


@dataclass(frozen=True)
class SAGANConfig:
    resolution: int = 128
    width: int = 64  # the channel multiplier, the official code's ch; 64 at 128x128
    z_dim: int = 128
    num_classes: int = 1000  # 0: unconditional (plain BN in G, no projection in D)
    attention: int = 32  # feature resolution of the attention block in G and D; 0: none
    # "attention", or "residual": a residual block in the same place (Table 1)
    attention_kind: str = "attention"
    official_attention: bool = True  # the official code's pooled variant (Chapter 3)
    sn_g: bool = True
    sn_d: bool = True
    init: str = "xavier"  # the official code's; or "orthogonal"

    def __post_init__(self):
        def fail(field, message):
            raise ConfigError(f"config key {field!r}: {message} "
                              f"(got {getattr(self, field)!r})")

        # 32.0 is no resolution
        if type(self.resolution) is not int or self.resolution not in RESOLUTIONS:
            fail("resolution", f"must be one of {RESOLUTIONS}")
        for field in ("width", "z_dim"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                fail(field, "must be a positive integer")
        if self.num_classes < 0:
            fail("num_classes", "must be 0 (unconditional) or more")
        if self.attention_kind not in ("attention", "residual"):
            fail("attention_kind", "must be 'attention' or 'residual'")
        if self.attention:
            if self.attention not in self.feature_resolutions:
                fail("attention",
                     f"this model's feature maps are {self.feature_resolutions}; "
                     "use one of them, or 0 for none")
            for where, channels in (("G", self.g_channels_at(self.attention)),
                                    ("D", self.d_channels_at(self.attention))):
                # f and g have C/8 channels
                if self.attention_kind == "attention" and channels % 8:
                    fail("width",
                         f"attention at {self.attention} in {where} would have "
                         f"{channels} channels, which must be divisible by 8")
        if self.init not in ("xavier", "orthogonal"):
            fail("init", "must be 'xavier' or 'orthogonal'")

    @property
    def n_blocks(self) -> int:
        return int(math.log2(self.resolution // 4))  # up-blocks in G, down-blocks in D

    @property
    def feature_resolutions(self) -> tuple[int, ...]:
        """Resolutions of the block outputs where attention may go: 8 .. resolution/2
        in G."""
        return tuple(8 * 2**i for i in range(self.n_blocks - 1))

    def g_channels(self) -> list[int]:
        """G: channels at 4x4, then each up-block's output."""
        mults = MULTIPLIERS[-self.n_blocks:]
        return [mults[0] * self.width] + [m * self.width for m in mults]

    def d_channels(self) -> list[int]:
        """D: each down-block's output, then the last (non-pooling) block's."""
        mults = MULTIPLIERS[::-1][: self.n_blocks]
        return [m * self.width for m in mults] + [mults[-1] * self.width]

    def g_channels_at(self, resolution: int) -> int:
        return self.g_channels()[int(math.log2(resolution // 4))]

    def d_channels_at(self, resolution: int) -> int:
        return self.d_channels()[int(math.log2(self.resolution // resolution)) - 1]


# --- book/04_sagan_networks.md, section: The generator and the projection discriminator
def _attention_block(config: SAGANConfig, channels: int, spectral_norm: bool,
                     in_generator: bool):
    if config.attention_kind == "residual":
        if in_generator:
            return GBlock(channels, channels, config.num_classes, spectral_norm,
                          upsample=False)
        return DBlock(channels, channels, spectral_norm, downsample=False)
    return SelfAttention(channels, official=config.official_attention,
                         spectral_norm=spectral_norm)


def initialize(module: nn.Module, scheme: str) -> None:
    """The official code's init (Xavier uniform weights, zero biases) or orthogonal, for
    convs and linear layers; embeddings and CBN keep their own (gains 1, biases 0)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            if scheme == "xavier":
                nn.init.xavier_uniform_(layer.weight)
            else:
                nn.init.orthogonal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
            # the weight changed: warm the SN vectors up again
            if hasattr(layer, "init_spectral_norm"):
                layer.init_spectral_norm(layer.n_power_iterations, layer.eps)


class Generator(nn.Module):
    """z [B, z_dim], y [B] -> images [B, 3, R, R] in [-1, 1]."""

    def __init__(self, config: SAGANConfig):
        super().__init__()
        self.config = config
        channels = config.g_channels()
        linear, conv = (SNLinear, SNConv2d) if config.sn_g else (nn.Linear, nn.Conv2d)
        self.input = linear(config.z_dim, channels[0] * 4 * 4)
        self.blocks = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
            self.blocks.append(GBlock(c_in, c_out, config.num_classes, config.sn_g))
            # this block's output is at the attention resolution
            if config.attention == 8 * 2**i:
                self.blocks.append(_attention_block(config, c_out, config.sn_g,
                                                    in_generator=True))
        self.output_bn = nn.BatchNorm2d(channels[-1])
        self.output = conv(channels[-1], 3, 3, padding=1)
        initialize(self, config.init)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.input(z).view(z.shape[0], -1, 4, 4)  # [B, z_dim] -> [B, C0, 4, 4]
        for block in self.blocks:
            h = block(h, y) if isinstance(block, GBlock) else block(h)
        h = self.output(F.relu(self.output_bn(h)))  # [B, C, R, R] -> [B, 3, R, R]
        return torch.tanh(h)


class Discriminator(nn.Module):
    """images [B, 3, R, R], y [B] -> scores [B] = psi(phi(x)) + <embed(y), phi(x)>."""

    def __init__(self, config: SAGANConfig):
        super().__init__()
        self.config = config
        channels = config.d_channels()
        linear, embedding = ((SNLinear, SNEmbedding) if config.sn_d
                             else (nn.Linear, nn.Embedding))
        self.blocks = nn.ModuleList()
        c_in = 3
        for i, c_out in enumerate(channels[:-1]):
            self.blocks.append(DBlock(c_in, c_out, config.sn_d, first=i == 0))
            # this block's output is at the attention resolution
            if config.attention == config.resolution // 2 ** (i + 1):
                self.blocks.append(_attention_block(config, c_out, config.sn_d,
                                                    in_generator=False))
            c_in = c_out
        self.blocks.append(DBlock(c_in, channels[-1], config.sn_d, downsample=False))
        self.psi = linear(channels[-1], 1)
        self.embed = (embedding(config.num_classes, channels[-1]) if config.num_classes
                      else None)
        initialize(self, config.init)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): ReLU, then a global sum pool of the last block:
        [B, 3, R, R] -> [B, C]."""
        h = x
        for block in self.blocks:
            h = block(h)
        return F.relu(h).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.features(x)  # [B, C]
        score = self.psi(phi).squeeze(1)  # psi(phi(x)): [B]
        if self.embed is not None:
            score = score + (self.embed(y) * phi).sum(1)  # + <e(y), phi(x)>: [B]
        return score


# --- book/04_sagan_networks.md, section: The networks, drawn
def layer_table(model: nn.Module, *inputs) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, output shape, parameters) of each top-level block of G or D, in forward
    order.

    Runs one forward in eval mode (so neither the SN vectors nor the BN statistics
    move), then restores the model's mode.
    """
    rows, hooks, was_training = [], [], model.training
    children = [(name, child) for name, child in model.named_children()]
    for name, child in children:
        if isinstance(child, nn.ModuleList):
            children_of = [(f"{name}.{i}.{type(c).__name__}", c)
                           for i, c in enumerate(child)]
        else:
            children_of = [(f"{name}.{type(child).__name__}", child)]
        for label, module in children_of:
            hooks.append(module.register_forward_hook(
                lambda m, args, out, label=label: rows.append(
                    (label, tuple(out.shape), sum(p.numel() for p in m.parameters())))))
    model.eval()
    with torch.no_grad():
        model(*inputs)
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    return rows


def print_layer_table(model: nn.Module, *inputs) -> None:
    for label, shape, params in layer_table(model, *inputs):
        print(f"{label:<28} {str(shape):<22} {params:>12,}")
    print(f"{'total':<28} {'':<22} {sum(p.numel() for p in model.parameters()):>12,}")
