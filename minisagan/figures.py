"""Pictures the chapters and the run share: image grids, curves, and where an attention block looks
(matplotlib, torchvision)."""

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
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


def _short(label: str) -> str:
    """'blocks.2.SelfAttention' -> 'SelfAttention (blocks.2)', 'input.SNLinear' -> 'SNLinear (input)'."""
    where, _, kind = label.rpartition(".")
    return f"{kind}\n({where})" if where else kind


def architecture_figure(G: nn.Module, D: nn.Module) -> Figure:
    """G and D drawn from their own layer tables (`minisagan.sagan.layer_table`: one forward pass with
    hooks): a box per top-level block with its output shape and parameters, attention in colour."""
    from .sagan import layer_table  # the networks' module imports this one's neighbours, not this

    config = G.config
    y = torch.zeros(1, dtype=torch.long) if config.num_classes else None
    device = next(G.parameters()).device
    tables = {"G": layer_table(G, torch.zeros(1, config.z_dim, device=device), y),
              "D": layer_table(D, torch.zeros(1, 3, config.resolution, config.resolution, device=device), y)}
    width = max(len(rows) for rows in tables.values())
    fig = plt.figure(figsize=(1.45 * width, 3.4))  # pyplot: a notebook shows it
    for ax, (name, rows) in zip(fig.subplots(2, 1), tables.items()):
        model = G if name == "G" else D
        for i, (label, shape, params) in enumerate(rows):
            attention = "SelfAttention" in label
            colour = "#f4a261" if attention else "#a8dadc"
            ax.add_patch(Rectangle((i * 1.5, 0), 1.3, 1.3, facecolor=colour, edgecolor="#1d3557"))
            size = " x ".join(str(s) for s in shape[1:])
            count = f"{params / 1e6:.2f}M" if params >= 1e5 else f"{params:,}"
            ax.text(i * 1.5 + 0.65, 0.65, f"{_short(label)}\n{size}\n{count}", ha="center", va="center",
                    fontsize=7)
            if i:
                ax.annotate("", xy=(i * 1.5, 0.65), xytext=(i * 1.5 - 0.2, 0.65), arrowprops={"arrowstyle": "->"})
        total = sum(p.numel() for p in model.parameters())
        ax.set_title(f"{name}: {total / 1e6:.2f}M parameters ({config.resolution}x{config.resolution}, "
                     f"width {config.width}); each box: block, output shape without the batch, parameters",
                     loc="left", fontsize=8.5)
        ax.set_xlim(-0.1, width * 1.5)
        ax.set_ylim(-0.1, 1.4)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


# The book's article column is at most 60em (about 900 px) wide; a figure of 10 inches at matplotlib's
# 100 dpi is shown at 0.9 of its size there, so 9-point text renders at about 11 px.
BLOCK_FIGURE_INCHES, BLOCK_FONT = 10, 9


def attention_block_figure(block: SelfAttention, x: torch.Tensor) -> Figure:
    """The attention block as the paper's Figure 2 draws it, with the shapes this block computes on
    x [B, C, H, W] at each arrow (without the batch): f, g, h, s = f^T g, softmax, o, gamma o + x."""
    with torch.no_grad():
        query, key, value = block.project(x[:1])  # [1, N, C/8], [1, M, C/8], [1, M, Cv]
        out = block(x[:1])
    C, H, W = x.shape[1:]
    N, M, d, cv = query.shape[1], key.shape[1], query.shape[2], value.shape[2]
    pooled = "\nmax-pool 2x2" if block.official else ""
    boxes = {  # name -> (x, y, text, colour); five columns, lines of at most 16 characters
        "x": (0, 2, f"x\nfeature maps\n{C} x {H} x {W}", "#a8dadc"),
        "f": (2.9, 4, f"keys\nf(x) = W_f x\n1x1 conv{pooled}\n{M} x {d}", "#e9c46a"),
        "g": (2.9, 2, f"queries\ng(x) = W_g x\n1x1 conv\n{N} x {d}", "#e9c46a"),
        "h": (2.9, 0, f"values\nh(x) = W_h x\n1x1 conv{pooled}\n{M} x {cv}", "#e9c46a"),
        "beta": (5.8, 3, f"s = g(x) f(x)^T\nsoftmax (eq. 1)\nover {M} keys\nbeta: {N} x {M}", "#f4a261"),
        "o": (8.7, 1, f"o = beta h(x)\n(eq. 2)\n{N} x {cv}" + (f"\nthen 1x1 conv\nto {C}" if block.official else ""),
              "#f4a261"),
        "y": (11.6, 2, f"y = gamma o + x\n(eq. 3)\n{out.shape[1]} x {H} x {W}\ngamma = {block.gamma.item():+.3f}",
              "#a8dadc"),
    }
    arrows = [("x", "f"), ("x", "g"), ("x", "h"), ("f", "beta"), ("g", "beta"), ("beta", "o"), ("h", "o"), ("o", "y")]
    fig = plt.figure(figsize=(BLOCK_FIGURE_INCHES, 5))  # pyplot: a notebook shows it
    ax = fig.subplots()
    box_w, box_h = 2.4, 1.6
    for name, (bx, by, text, colour) in boxes.items():
        ax.add_patch(Rectangle((bx, by), box_w, box_h, facecolor=colour, edgecolor="#1d3557"))
        ax.text(bx + box_w / 2, by + box_h / 2, text, ha="center", va="center", fontsize=BLOCK_FONT)
    for start, end in arrows:
        (x0, y0, *_), (x1, y1, *_) = boxes[start], boxes[end]
        ax.annotate("", xy=(x1, y1 + box_h / 2), xytext=(x0 + box_w, y0 + box_h / 2), arrowprops={"arrowstyle": "->"})
    (x0, y0, *_), (x1, y1, *_) = boxes["x"], boxes["y"]  # the residual path, under everything
    ax.plot([x0 + box_w / 2] * 2 + [x1 + box_w / 2] * 2, [y0, -0.4, -0.4, y1 - 0.05], color="grey", lw=1)
    ax.annotate("", xy=(x1 + box_w / 2, y1), xytext=(x1 + box_w / 2, y1 - 0.3), arrowprops={"arrowstyle": "->", "color": "grey"})
    ax.text((x0 + x1) / 2 + box_w / 2, -0.3, "x, unchanged (the residual path)", ha="center", va="bottom",
            fontsize=BLOCK_FONT, color="grey")
    ax.set_xlim(-0.1, 14.1)
    ax.set_ylim(-0.7, 5.7)
    ax.set_axis_off()
    variant = "the official code's variant" if block.official else "the paper's block"
    ax.set_title(f"The self-attention block ({variant}) on {C} x {H} x {W} features:\n"
                 f"N = {N} query positions, {M} keys", fontsize=BLOCK_FONT + 1)
    return fig
