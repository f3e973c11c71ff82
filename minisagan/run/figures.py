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
from .logs import read_log

STEP_PANELS = {  # curves.png's panels of metrics.csv: title -> the columns whose names start so
    "losses": ("loss_d", "loss_g"),
    "D's mean score": ("d_real", "d_fake"),
    "gradient norms": ("grad_norm_d", "grad_norm_g"),
    "gamma of each attention block": ("gamma_",),
}


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


def save_curves(run_dir: Path) -> Path:
    """curves.png of a run folder: a panel per group of metrics.csv's columns, then a panel per
    evaluation metric's panel title (`EVAL_METRICS`)."""
    log = read_log(run_dir / "metrics.csv")
    evals = read_log(run_dir / "eval.csv") if (run_dir / "eval.csv").exists() else {}
    panels = [(title, log, [key for key in log if key.startswith(prefixes)]) for title, prefixes in STEP_PANELS.items()]
    eval_panels = {}
    for metric in EVAL_METRICS:
        if metric.panel is not None:
            eval_panels.setdefault(metric.panel, []).append(metric.column)
    panels += [(title, evals, columns) for title, columns in eval_panels.items()]
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
