"""The training driver behind ``make train`` and ``minisagan train``: run folders, logs, samples,
curves, checkpoints and exact resumption around the training step a chapter teaches.

A run folder holds::

    config.json      the full configuration
    metrics.csv      step, losses, D's scores, images per second (one row every log_every steps)
    samples/         image grids from a fixed batch of noise (step_000200.png, ..., latest.png)
    curves.png       the loss curves
    checkpoint.pt    everything needed to resume exactly (written atomically)

Resuming restores the models, optimizers, the noise generator's state and the position in the
data order, so a run stopped and resumed logs the same numbers as one that never stopped.
"""

import csv
import json
import math
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torchvision.utils import save_image
from tqdm.auto import tqdm

from ..data import ShapesDataset, image_folder
from ..toygan import ToyDiscriminator, ToyGenerator, train_step
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .plots import to_grid

LOG_COLUMNS = ["step", "loss_d", "loss_g", "d_real", "d_fake", "images_per_s"]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is left as it was."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"config key 'device' is {name!r} but this machine has no CUDA GPU; use 'auto' or 'cpu'")
    return torch.device(name)


def make_dataset(config: TrainConfig):
    """The built-in shapes, or an ImageFolder-style folder of real images resized to the resolution."""
    if config.data == "shapes":
        return ShapesDataset(resolution=config.resolution, length=config.data_size, seed=config.seed)
    return image_folder(config.data, config.resolution)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The index batches of one epoch: a permutation fixed by (seed, epoch), incomplete tail dropped."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def real_batches(dataset, config: TrainConfig, epoch: int, position: int):
    """Yield ``(epoch, position_after, images)`` forever, starting at a saved position."""
    while True:
        batches = epoch_batches(len(dataset), config.batch_size, config.seed, epoch)
        if not batches:
            raise ValueError(f"config key 'batch_size' ({config.batch_size}) exceeds the data's {len(dataset)} images")
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches[position:],
                                             num_workers=config.num_workers)
        for images, _ in loader:
            position += 1
            yield epoch, position, images
        epoch, position = epoch + 1, 0


def build_models(config: TrainConfig, device: torch.device):
    torch.manual_seed(config.seed)
    G = ToyGenerator(config.z_dim, config.width, config.resolution).to(device)
    D = ToyDiscriminator(config.width, config.resolution).to(device)
    opt_G = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=config.betas)
    opt_D = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=config.betas)
    return G, D, opt_G, opt_D


def read_log(path: Path) -> dict[str, list[float]]:
    """metrics.csv as columns of floats."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(row[key]) for row in rows] for key in LOG_COLUMNS}


def _truncate_log(path: Path, last_step: int) -> None:
    # Rows logged after the checkpoint belong to the interrupted run; the resumed run rewrites them.
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["step"]) <= last_step]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def save_curves(run_dir: Path) -> Path:
    log = read_log(run_dir / "metrics.csv")
    fig = Figure(figsize=(10, 3.4))
    loss_ax, score_ax = fig.subplots(1, 2)
    for ax, keys, title in ((loss_ax, ("loss_d", "loss_g"), "losses"), (score_ax, ("d_real", "d_fake"), "D's mean score")):
        for key in keys:
            ax.plot(log["step"], log[key], label=key)
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "curves.png", dpi=100)
    return run_dir / "curves.png"


def _save_samples(G, fixed_z: torch.Tensor, run_dir: Path, step: int) -> None:
    G.eval()
    with torch.no_grad():
        grid = to_grid(G(fixed_z), nrow=8)
    G.train()
    (run_dir / "samples").mkdir(exist_ok=True)
    save_image(grid, run_dir / "samples" / f"step_{step:06d}.png")
    save_image(grid, run_dir / "samples" / "latest.png")


def train(config: TrainConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Train Chapter 1's GAN as ``config`` says; returns the run folder.

    With ``resume=True`` the run continues from ``run_dir/checkpoint.pt`` up to ``config.steps``.
    A fresh run refuses a folder that already holds a checkpoint, so nothing is overwritten.
    """
    run_dir = Path(config.run_dir)
    ckpt_path = run_dir / "checkpoint.pt"
    if not resume and ckpt_path.exists():
        raise FileExistsError(f"{str(run_dir)!r} already holds a run: resume it (minisagan resume "
                              f"{run_dir}) or pick another run_dir")
    device = resolve_device(config.device)
    dataset = make_dataset(config)
    G, D, opt_G, opt_D = build_models(config, device)
    noise = torch.Generator().manual_seed(config.seed + 1)  # z for training; its state is checkpointed
    fixed_z = torch.randn(64, config.z_dim, generator=torch.Generator().manual_seed(config.seed + 2)).to(device)
    step, epoch, position = 0, 0, 0

    if resume:
        state = load_checkpoint(ckpt_path, map_location=device)
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        opt_G.load_state_dict(state["opt_G"])
        opt_D.load_state_dict(state["opt_D"])
        noise.set_state(state["noise_rng"])
        step, epoch, position = state["step"], state["epoch"], state["position"]
        _truncate_log(run_dir / "metrics.csv", step)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "metrics.csv", "w", newline="") as handle:
            csv.writer(handle).writerow(LOG_COLUMNS)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    def checkpoint():
        save_checkpoint({
            "step": step, "epoch": epoch, "position": position, "config": config.to_dict(),
            "G": G.state_dict(), "D": D.state_dict(), "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(),
            "noise_rng": noise.get_state(),
        }, ckpt_path)

    bar = tqdm(total=config.steps, initial=step, disable=not progress, desc=f"train {run_dir.name}", unit="step")
    batches = real_batches(dataset, config, epoch, position)
    tick, images_seen = time.perf_counter(), 0
    try:
        while step < config.steps:
            epoch, position, real = next(batches)
            z = torch.randn(2, config.batch_size, config.z_dim, generator=noise).to(device)
            stats = train_step(G, D, opt_G, opt_D, real.to(device), z[0], z[1], loss=config.loss)
            if not all(math.isfinite(v) for v in stats.values()):
                raise TrainingDiverged(
                    f"a loss became non-finite at step {step + 1} ({stats}); the last good checkpoint "
                    f"is {str(ckpt_path)!r}. Lower the learning rates or check the data."
                )
            step += 1
            images_seen += config.batch_size
            bar.update(1)
            if step % config.log_every == 0 or step == config.steps:
                rate = images_seen / (time.perf_counter() - tick)
                with open(run_dir / "metrics.csv", "a", newline="") as handle:
                    csv.writer(handle).writerow([step, *(f"{stats[k]:.6g}" for k in LOG_COLUMNS[1:5]), f"{rate:.1f}"])
                bar.set_postfix(loss_d=f"{stats['loss_d']:.3f}", loss_g=f"{stats['loss_g']:.3f}", img_s=f"{rate:.0f}")
                tick, images_seen = time.perf_counter(), 0
            if step % config.sample_every == 0 or step == config.steps:
                _save_samples(G, fixed_z, run_dir, step)
            if step % config.checkpoint_every == 0 or step == config.steps:
                checkpoint()
    finally:
        bar.close()
    save_curves(run_dir)
    return run_dir


def resume(run_dir: str | Path, *, steps: int | None = None, progress: bool = True) -> Path:
    """Continue the run in ``run_dir`` with its saved configuration (optionally to more ``steps``)."""
    state = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    config = TrainConfig.from_dict({**state["config"], "run_dir": str(run_dir)})
    if steps is not None:
        config = config.replace(steps=steps)
    return train(config, resume=True, progress=progress)


def load_generator(checkpoint_path: str | Path, device: str = "cpu") -> tuple[ToyGenerator, TrainConfig]:
    """The generator of a checkpoint, in eval mode, with the configuration it was trained with."""
    state = load_checkpoint(checkpoint_path, map_location=device)
    config = TrainConfig.from_dict(state["config"])
    G = ToyGenerator(config.z_dim, config.width, config.resolution).to(device)
    G.load_state_dict(state["G"])
    return G.eval(), config
