"""Pictures the chapters and the run share: image grids, curves, and where an attention block looks
(matplotlib, torchvision)."""

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn
from torchvision.utils import make_grid

from .attention import SelfAttention, attention_maps


def to_grid(images: torch.Tensor, nrow: int = 8) -> torch.Tensor:
    """``[B, 3, H, W]`` in [-1, 1] -> one ``[3, H', W']`` grid in [0, 1] (torchvision's make_grid)."""
    return make_grid(images.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1)


def show_grid(images: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None, scale: float = 0.9):
    """Draw a batch ``[B, 3, H, W]`` in [-1, 1] as a grid; returns the axes."""
    grid = to_grid(images, nrow)
    if ax is None:
        rows = -(-images.shape[0] // nrow)
        _, ax = plt.subplots(figsize=(scale * nrow, scale * rows))
    ax.imshow(grid.permute(1, 2, 0).numpy())  # [3, H, W] -> [H, W, 3] for imshow
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_curves(history: dict[str, list[float]], x_key: str = "step", keys: list[str] | None = None,
                ax=None, title: str | None = None):
    """Plot columns of a run's history (a dict of equal-length lists) against ``x_key``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    for key in keys or [k for k in history if k != x_key]:
        ax.plot(history[x_key], history[key], label=key)
    ax.set_xlabel(x_key)
    ax.legend()
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def attention_figure(G: nn.Module, z: torch.Tensor, y, positions=None) -> Figure | None:
    """Where G's last attention block looks: for each image (rows), the image with the query
    points marked, then beta for each query (Chapter 3's `attention_maps`). None if G has no block."""
    blocks = [m for m in G.modules() if isinstance(m, SelfAttention)]
    if not blocks:
        return None
    captured = {}
    hook = blocks[-1].register_forward_hook(lambda module, args, out: captured.update(x=args[0]))
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            images = G(z, y)
            x = captured["x"]  # [B, C, H, W], the block's input
            H, W = x.shape[2:]
            positions = positions or [(H // 2, W // 4), (H // 2, 3 * W // 4), (H // 8, W // 2)]
            maps = attention_maps(blocks[-1], x, positions).float().cpu()  # [B, Q, Hk, Wk]
    finally:
        hook.remove()
        G.train(was_training)
    images = (images.float().cpu() + 1) / 2
    B, Q = maps.shape[:2]
    fig = Figure(figsize=(1.6 * (Q + 1), 1.6 * B))
    axes = fig.subplots(B, Q + 1, squeeze=False)
    colours = ["red", "cyan", "yellow", "lime"]
    scale = images.shape[-1] / W
    for b in range(B):
        axes[b, 0].imshow(images[b].clamp(0, 1).permute(1, 2, 0).numpy())
        for q, (r, c) in enumerate(positions):
            axes[b, 0].plot((c + 0.5) * scale - 0.5, (r + 0.5) * scale - 0.5, "o", ms=5,
                            mfc=colours[q % 4], mec="black")
            axes[b, q + 1].imshow(maps[b, q].numpy(), cmap="viridis")
            axes[b, q + 1].set_title(f"query {q} ({colours[q % 4]})", fontsize=7)
        for ax in axes[b]:
            ax.set_axis_off()
    fig.suptitle(f"G's last attention block ({H}x{W} features): beta for each query", fontsize=8)
    fig.tight_layout()
    return fig


def architecture_figure(config, g_params: int | None = None, d_params: int | None = None) -> Figure:
    """G and D of a `SAGANConfig` as two rows of blocks: each block's output channels and resolution,
    the attention blocks in colour (Chapter 7's picture of the 128x128 model)."""
    g_res = [4 * 2**i for i in range(config.n_blocks + 1)]  # 4x4, then each up-block's output
    g_boxes = [("linear", config.g_channels()[0], 4)]
    for channels, resolution in zip(config.g_channels()[1:], g_res[1:]):
        g_boxes.append(("up-block", channels, resolution))
        if config.attention == resolution:
            g_boxes.append(("attention", channels, resolution))
    g_boxes.append(("BN, ReLU, conv, tanh", 3, config.resolution))
    d_boxes = [("image", 3, config.resolution)]
    for i, channels in enumerate(config.d_channels()[:-1]):
        resolution = config.resolution // 2 ** (i + 1)
        d_boxes.append(("first block" if i == 0 else "down-block", channels, resolution))
        if config.attention == resolution:
            d_boxes.append(("attention", channels, resolution))
    d_boxes.append(("block (no pooling)", config.d_channels()[-1], 4))
    d_boxes.append(("sum pool, linear\n+ projection", 1, 1))
    width = max(len(g_boxes), len(d_boxes))
    fig, axes = plt.subplots(2, 1, figsize=(1.55 * width, 4.2))
    for ax, boxes, name, params in ((axes[0], g_boxes, "G", g_params), (axes[1], d_boxes, "D", d_params)):
        for i, (kind, channels, resolution) in enumerate(boxes):
            colour = "#f4a261" if kind == "attention" else "#a8dadc"
            ax.add_patch(plt.Rectangle((i * 1.5, 0), 1.2, 1, facecolor=colour, edgecolor="#1d3557"))
            size = f"{resolution}x{resolution}" if resolution > 1 else "score"
            ax.text(i * 1.5 + 0.6, 0.5, f"{kind}\n{channels} ch\n{size}", ha="center", va="center", fontsize=7.5)
            if i:
                ax.annotate("", xy=(i * 1.5, 0.5), xytext=(i * 1.5 - 0.3, 0.5), arrowprops={"arrowstyle": "->"})
        title = f"{name}: {params / 1e6:.1f}M parameters" if params else name
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_xlim(-0.1, width * 1.5)
        ax.set_ylim(-0.1, 1.1)
        ax.set_axis_off()
    fig.tight_layout()
    return fig
