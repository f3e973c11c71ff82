"""Pictures the chapters and the trainer share: image grids and loss curves (matplotlib, torchvision)."""

import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid


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
