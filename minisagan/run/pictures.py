"""The pictures a run folder holds: ``samples/`` (image grids from fixed noise and classes),
``attention/`` (where G's last attention block looks) and ``curves.png`` (the logs, plotted)."""

import math
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch import nn
from torchvision.utils import save_image

from ..figures import attention_figure, to_grid
from .evaluation import EVAL_METRICS
from .logs import GAMMA_PANEL, STEP_METRICS, read_log


def save_samples(G: nn.Module, z: torch.Tensor, y: torch.Tensor | None, run_dir: Path, step: int) -> None:
    """samples/step_NNNNNN.png and samples/latest.png: G's images for the fixed ``z`` and ``y`` in an
    8-wide grid; attention/ likewise for the first four, when G has an attention block."""
    was_training = G.training
    G.eval()
    with torch.no_grad():
        grid = to_grid(G(z, y), nrow=8)
    G.train(was_training)
    names = (f"step_{step:06d}.png", "latest.png")
    (run_dir / "samples").mkdir(exist_ok=True)
    for name in names:
        save_image(grid, run_dir / "samples" / name)
    fig = attention_figure(G, z[:4], None if y is None else y[:4])
    if fig is not None:
        (run_dir / "attention").mkdir(exist_ok=True)
        for name in names:
            fig.savefig(run_dir / "attention" / name, dpi=90)


def curve_panels(log: dict, evals: dict) -> list[tuple[str, dict, list[str]]]:
    """curves.png's panels, (title, the log it plots, its columns): one per panel title of
    `STEP_METRICS` (metrics.csv), the gammas, then one per panel title of `EVAL_METRICS` (eval.csv)."""
    panels = []
    for metrics, columns in ((STEP_METRICS, log), (EVAL_METRICS, evals)):
        titles = {}
        for metric in metrics:
            if metric.panel is not None:
                titles.setdefault(metric.panel, []).append(metric.column)
        panels += [(title, columns, keys) for title, keys in titles.items()]
        if metrics is STEP_METRICS:
            panels.append((GAMMA_PANEL, log, [key for key in log if key.startswith("gamma_")]))
    return panels


def save_curves(run_dir: Path) -> Path:
    """curves.png of a run folder (`curve_panels`)."""
    log = read_log(run_dir / "metrics.csv")
    evals = read_log(run_dir / "eval.csv") if (run_dir / "eval.csv").exists() else {}
    panels = curve_panels(log, evals)
    fig = Figure(figsize=(3.6 * math.ceil(len(panels) / 2), 6.4))
    axes = fig.subplots(2, math.ceil(len(panels) / 2)).ravel()
    for ax, (title, columns, keys) in zip(axes, panels):
        for key in keys:
            if columns.get(key) and not all(math.isnan(v) for v in columns[key]):
                ax.plot(columns["step"], columns[key], "o-" if columns is evals else "-", ms=3, label=key)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(run_dir / "curves.png", dpi=100)
    return run_dir / "curves.png"
