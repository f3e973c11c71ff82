"""The training driver behind ``make train`` and ``minisagan train``: Chapter 6's steps (or
Chapter 1's, for the toy GAN) wrapped in run folders, logs, metrics, samples, checkpoints, exact
resumption, mixed precision, ``torch.compile`` and ``torchrun``.

A run folder holds::

    config.json        the full configuration
    metrics.csv        step, training seconds, losses, D's scores, gradient norms, gamma of each
                       attention block, images per second (one row every log_every steps)
    eval.csv           step, seconds, domain FID / KID / IS on shape features and consistency
                       (built-in data), Inception FID / KID / IS when a weights file is given
    samples/           image grids from fixed noise and classes (step_000300.png, ..., latest.png)
    attention/         where G's last attention block looks, for a few fixed queries
    curves.png         losses, scores, gradient norms, gamma and the metrics over the run
    checkpoint.pt      everything needed to resume exactly (written atomically)

Resuming restores the models, optimizers, the average of G, the random generators, the position in
the data order and the clock, so a run stopped and resumed logs the same losses as one that never
stopped. The global batch is split evenly over the processes of a ``torchrun``: each process draws
the same global noise and data order and keeps its own slice, so the run sees the same batches with
any number of processes.
"""

import copy
import csv
import json
import math
import time
import warnings
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch import nn
from torchvision.utils import save_image
from tqdm.auto import tqdm

from ..attention import SelfAttention, attention_maps
from ..data import SHAPE_NAMES, ShapesDataset, consistency, image_folder, sample_shapes
from ..errors import CheckpointError, ConfigError
from ..metrics import fidelity_metrics, inception_weights, sample_images, to_uint8
from ..sagan import Discriminator, Generator
from ..toygan import ToyDiscriminator, ToyGenerator
from ..training import GeneratorEMA, attention_gammas, d_step, g_step, make_optimizers, sample_latents
from . import distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .plots import to_grid

STEP_COLUMNS = ["step", "seconds", "loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"]
EVAL_COLUMNS = ["step", "seconds", "fid_shapes", "kid_shapes", "is_shapes", "consistency",
                "fid_inception", "kid_inception", "is_inception"]
HELD_OUT_SEED = 7919  # the built-in evaluation images: a seed no training set of the book uses


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is left as it was."""


class LabelFree(nn.Module):
    """Chapter 1's toy networks behind the (input, labels) call of SAGAN's; the labels are ignored."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x, y=None):
        return self.net(x)


def make_dataset(config: TrainConfig):
    """(dataset, number of classes): the built-in shapes, or an ImageFolder-style folder."""
    if config.data == "shapes":
        return ShapesDataset(resolution=config.resolution, length=config.data_size, seed=config.seed), len(SHAPE_NAMES)
    folder = image_folder(config.data, config.resolution)
    return folder, len(folder.classes)


def build_models(config: TrainConfig, num_classes: int, device: torch.device):
    """G and D as the config says, seeded by it."""
    torch.manual_seed(config.seed)
    if config.model == "toygan":
        G = LabelFree(ToyGenerator(config.z_dim, config.width, config.resolution))
        D = LabelFree(ToyDiscriminator(config.width, config.resolution))
    else:
        sagan = config.sagan_config(num_classes)
        G, D = Generator(sagan), Discriminator(sagan)
    return G.to(device), D.to(device)


def classes_of(config: TrainConfig, num_classes: int) -> int:
    """The classes G and D are conditioned on: 0 when the run is unconditional or the toy GAN."""
    return num_classes if config.conditional and config.model == "sagan" else 0


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The index batches of one epoch: a permutation fixed by (seed, epoch), incomplete tail dropped."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def real_batches(dataset, config: TrainConfig, epoch: int, position: int, part: slice = slice(None)):
    """Yield ``(epoch, position_after, images, labels)`` forever from a saved position; each
    process loads only its ``part`` of every global batch."""
    while True:
        batches = epoch_batches(len(dataset), config.batch_size, config.seed, epoch)
        if not batches:
            raise ConfigError(f"config key 'batch_size' ({config.batch_size}) exceeds the data's "
                              f"{len(dataset)} images")
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=[b[part] for b in batches[position:]],
                                             num_workers=config.num_workers)
        for images, labels in loader:
            position += 1
            yield epoch, position, images, labels
        epoch, position = epoch + 1, 0


def read_log(path: Path) -> dict[str, list[float]]:
    """A run's metrics.csv or eval.csv as columns of floats (empty cells: NaN)."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames or []
    return {key: [float(row[key]) if row[key] != "" else math.nan for row in rows] for key in columns}


class CsvLog:
    """An append-only CSV with a fixed header; rows after a checkpoint can be dropped on resume."""

    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = path, columns

    def start(self) -> None:
        with open(self.path, "w", newline="") as handle:
            csv.writer(handle).writerow(self.columns)

    def append(self, row: dict) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.writer(handle).writerow([_format(row.get(key, "")) for key in self.columns])

    def truncate(self, last_step: int) -> None:
        # Rows logged after the checkpoint belong to the interrupted run; the resumed run rewrites them.
        if not self.path.exists():
            return self.start()
        with open(self.path, newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if int(row["step"]) <= last_step]
        self.start()
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.columns).writerows(rows)


def _format(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def step_columns(G: nn.Module, D: nn.Module) -> list[str]:
    """metrics.csv's header: the fixed columns, one gamma per attention block, images per second."""
    gammas = [f"gamma_{net}.{name}" for net, model in (("G", G), ("D", D)) for name in attention_gammas(model)]
    return STEP_COLUMNS + gammas + ["images_per_s"]


def save_curves(run_dir: Path) -> Path:
    """curves.png of a run folder: losses, D's scores, gradient norms and gamma, and the metrics."""
    log = read_log(run_dir / "metrics.csv")
    evals = read_log(run_dir / "eval.csv") if (run_dir / "eval.csv").exists() else {}
    fig = Figure(figsize=(14, 6.4))
    axes = fig.subplots(2, 3).ravel()
    panels = [("losses", log, ["loss_d", "loss_g"]), ("D's mean score", log, ["d_real", "d_fake"]),
              ("gradient norms", log, ["grad_norm_d", "grad_norm_g"]),
              ("gamma of each attention block", log, [k for k in log if k.startswith("gamma_")]),
              ("FID on shape features (lower is better)", evals, ["fid_shapes", "fid_inception"]),
              ("consistency (higher is better)", evals, ["consistency"])]
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


def evaluate(G: nn.Module, config: TrainConfig, num_classes: int, real: torch.Tensor | None, *,
             device: torch.device, progress: bool = False) -> dict[str, float]:
    """Metrics of G's samples against ``real`` (uint8 [n, 3, R, R]): on the built-in data, FID, KID
    and IS on the shapes classifier's features and the consistency score; with Inception weights,
    the paper's FID, KID and IS as well."""
    n = config.eval_samples
    fake = sample_images(G, n, z_dim=config.z_dim, num_classes=num_classes, seed=config.seed + 3,
                         device=device, progress=progress)
    results = {}
    if config.data == "shapes":
        shapes = fidelity_metrics(fake, real, features="shapes", device=device, seed=config.seed,
                                  isc_splits=1, fid=n >= 128)
        results.update(fid_shapes=shapes.get("FID", math.nan), kid_shapes=shapes["KID"], is_shapes=shapes["IS"],
                       consistency=consistency(fake).score)
    if config.inception_weights:
        paper = fidelity_metrics(fake, real, features="inception", weights=config.inception_weights,
                                 device=device, seed=config.seed, fid=n >= 2048)
        results.update(fid_inception=paper.get("FID", math.nan), kid_inception=paper["KID"],
                       is_inception=paper["IS"])
    return results


def evaluation_images(config: TrainConfig, dataset) -> torch.Tensor:
    """The real images the metrics compare with (uint8): held-out built-in images, or a fixed
    random subset of the folder."""
    n = config.eval_samples
    if config.data == "shapes":
        return to_uint8(sample_shapes(n, config.resolution, seed=HELD_OUT_SEED)[0])
    pick = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(config.seed))[:n]
    return to_uint8(torch.stack([dataset[i][0] for i in pick.tolist()]))


class Run:
    """One training run: the models, their optimizers, the data stream and the run folder."""

    def __init__(self, config: TrainConfig, processes: distributed.Processes, device: torch.device,
                 resume: bool, progress: bool):
        self.config, self.processes, self.device, self.progress = config, processes, device, progress
        self.run_dir = Path(config.run_dir)
        self.ckpt_path = self.run_dir / "checkpoint.pt"
        if not resume and self.ckpt_path.exists():
            raise FileExistsError(f"{str(self.run_dir)!r} already holds a run: resume it (minisagan resume "
                                  f"{self.run_dir}) or pick another run_dir")
        if config.batch_size % processes.world_size:
            raise ConfigError(f"config key 'batch_size' ({config.batch_size}) must divide evenly over the "
                              f"{processes.world_size} processes")
        if config.inception_weights:
            inception_weights(config.inception_weights)  # a missing file fails now, not after hours
        self.local_batch = config.batch_size // processes.world_size
        self.part = slice(processes.rank * self.local_batch, (processes.rank + 1) * self.local_batch)
        self.dataset, data_classes = make_dataset(config)
        self.num_classes = classes_of(config, data_classes)
        self.G, self.D = build_models(config, data_classes, device)
        if processes.distributed and config.sync_bn and device.type == "cuda":
            # G's batch statistics over the global batch, as in one process (BigGAN's cross-replica
            # BN). PyTorch's SyncBatchNorm runs on GPUs only: on CPUs each process normalizes its part.
            self.G = nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
        self.opt_G, self.opt_D = make_optimizers(self.G, self.D, config.lr_g, config.lr_d, config.betas)
        self.ema = GeneratorEMA(self.G, config.ema_decay, config.ema_start) if config.ema_decay else None
        self.noise = torch.Generator().manual_seed(config.seed + 1)  # training z and y; checkpointed
        fixed = torch.Generator().manual_seed(config.seed + 2)
        self.fixed_z = torch.randn(64, config.z_dim, generator=fixed).to(device)
        self.fixed_y = (torch.arange(64) % self.num_classes).to(device) if self.num_classes else None
        self.step, self.epoch, self.position, self.seconds = 0, 0, 0, 0.0
        self.metrics = CsvLog(self.run_dir / "metrics.csv", step_columns(self.G, self.D))
        self.evals = CsvLog(self.run_dir / "eval.csv", EVAL_COLUMNS)
        if resume:
            self._load(load_checkpoint(self.ckpt_path, map_location=device))
        if processes.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for log in (self.metrics, self.evals):
                log.truncate(self.step) if resume else log.start()
            (self.run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        self.real_eval = None
        self._prepare_networks(compiled=config.compile)

    # --- the networks as the steps call them -------------------------------------------------------
    def _prepare_networks(self, compiled: bool) -> None:
        """G_train / D_train take gradients (DDP-wrapped under torchrun); G_fwd / D_fwd are the
        plain modules, for the other network's step: a network whose weights a step does not update
        needs no gradient all-reduce."""
        G_train, D_train = self.G, self.D
        if self.processes.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # broadcast_buffers=False: each process's SN vectors are computed from identical weights,
            # and a broadcast would race with their in-place update (shared/SAGAN_SPEC.md). torch 2.14
            # calls the flag deprecated but its replacement still syncs at start, which is harmless
            # here; the warning is silenced until torch offers init_sync_buffers.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*broadcast_buffers", category=FutureWarning)
                G_train = nn.parallel.DistributedDataParallel(self.G, device_ids=ids, broadcast_buffers=False)
                D_train = nn.parallel.DistributedDataParallel(self.D, device_ids=ids, broadcast_buffers=False)
        G_fwd, D_fwd = self.G, self.D
        if compiled:
            wrappers = {}  # one compiled wrapper per distinct module (one process: G_train is G_fwd)

            def compiled_once(net):
                if id(net) not in wrappers:
                    # static shapes: D sees 2B images in its step and B in G's, two graphs; dynamic
                    # shapes made inductor fail on this model (torch 2.14, CPU)
                    wrappers[id(net)] = torch.compile(net, dynamic=False)
                return wrappers[id(net)]

            G_train, D_train, G_fwd, D_fwd = map(compiled_once, (G_train, D_train, G_fwd, D_fwd))
        self.G_train, self.D_train, self.G_fwd, self.D_fwd = G_train, D_train, G_fwd, D_fwd
        self.compiled, self.compile_checked = compiled, False
        if self.config.amp == "bf16":
            self.autocast = partial(torch.autocast, self.device.type, dtype=torch.bfloat16)
        else:
            self.autocast = nullcontext

    def _latents(self):
        z, y = sample_latents(self.config.batch_size, self.config.z_dim, self.num_classes, self.noise)
        return z[self.part].to(self.device), None if y is None else y[self.part].to(self.device)

    def iteration(self, batches) -> dict[str, torch.Tensor]:
        """n_dis discriminator steps, then one generator step, then the average of G."""
        config = self.config
        for _ in range(config.n_dis):
            self.epoch, self.position, real, labels = next(batches)
            real = real.to(self.device, non_blocking=True)
            labels = labels.to(self.device) if self.num_classes else None
            z, y = self._latents()
            stats = d_step(self.G_fwd, self.D_train, self.opt_D, real, labels, z, y, config.loss, self.autocast)
        z, y = self._latents()
        stats.update(g_step(self.G_train, self.D_fwd, self.opt_G, z, y, config.loss, self.autocast))
        if self.ema is not None:
            self.ema.update(self.G, self.step + 1)
        return stats

    # --- checkpoints -------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "step": self.step, "epoch": self.epoch, "position": self.position, "seconds": self.seconds,
            "config": self.config.to_dict(), "num_classes": self.num_classes,
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "noise_rng": self.noise.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def _load(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        if self.ema is not None:
            if state.get("ema") is None:
                raise ConfigError("config key 'ema_decay': the checkpoint has no average of G to resume")
            self.ema.load_state_dict(state["ema"])
        self.noise.set_state(state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.seconds = state.get("seconds", 0.0)

    def save(self) -> None:
        if self.processes.is_main:
            save_checkpoint(self.state(), self.ckpt_path)
        self.processes.barrier()

    # --- what the run writes -----------------------------------------------------------------------
    @property
    def sampler(self) -> nn.Module:
        """The generator to show and measure: the average of G when there is one."""
        return self.G if self.ema is None else self.ema.model

    def save_samples(self) -> None:
        G = self.sampler
        was_training = G.training
        G.eval()
        with torch.no_grad():
            grid = to_grid(G(self.fixed_z, self.fixed_y), nrow=8)
        G.train(was_training)
        (self.run_dir / "samples").mkdir(exist_ok=True)
        save_image(grid, self.run_dir / "samples" / f"step_{self.step:06d}.png")
        save_image(grid, self.run_dir / "samples" / "latest.png")
        fig = attention_figure(G, self.fixed_z[:4], None if self.fixed_y is None else self.fixed_y[:4])
        if fig is not None:
            (self.run_dir / "attention").mkdir(exist_ok=True)
            for name in (f"step_{self.step:06d}.png", "latest.png"):
                fig.savefig(self.run_dir / "attention" / name, dpi=90)

    def run_eval(self) -> dict[str, float]:
        if self.config.data != "shapes" and not self.config.inception_weights:
            return {}
        if self.real_eval is None:
            self.real_eval = evaluation_images(self.config, self.dataset)
        results = evaluate(self.sampler, self.config, self.num_classes, self.real_eval, device=self.device)
        self.evals.append({"step": self.step, "seconds": round(self.seconds, 1), **results})
        return results


def train(config: TrainConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Train as ``config`` says; returns the run folder.

    With ``resume=True`` the run continues from ``run_dir/checkpoint.pt`` up to ``config.steps``.
    A fresh run refuses a folder that already holds a checkpoint, so nothing is overwritten. Under
    ``torchrun`` every process calls this; process 0 writes the folder.
    """
    processes, device = distributed.start(config.device)
    try:
        run = Run(config, processes, device, resume, progress)
        _loop(run)
    finally:
        distributed.stop(processes)
    return Path(config.run_dir)


def _loop(run: Run) -> None:
    config, processes = run.config, run.processes
    main = processes.is_main
    bar = tqdm(total=config.steps, initial=run.step, disable=not (run.progress and main),
               desc=f"train {run.run_dir.name}", unit="step")
    batches = real_batches(run.dataset, config, run.epoch, run.position, run.part)
    images_since, seconds_at_log = 0, run.seconds
    try:
        while run.step < config.steps:
            start = time.perf_counter()
            if run.compiled and not run.compile_checked:
                stats, batches = _first_compiled_iteration(run, batches)
            else:
                stats = run.iteration(batches)
            run.step += 1
            if run.device.type == "cuda":
                torch.cuda.synchronize(run.device)
            run.seconds += time.perf_counter() - start
            images_since += config.batch_size
            bar.update(1)
            last = run.step == config.steps
            log_now = run.step % config.log_every == 0 or last
            save_now = run.step % config.checkpoint_every == 0 or last
            if log_now or save_now:
                gammas = {f"gamma_{net}.{name}": g for net, model in (("G", run.G), ("D", run.D))
                          for name, g in attention_gammas(model).items()}
                values = processes.mean({**stats, **gammas})
                if not all(math.isfinite(v) for v in values.values()):
                    raise TrainingDiverged(
                        f"a loss became non-finite by step {run.step} ({_short(values)}); the last good "
                        f"checkpoint is {str(run.ckpt_path)!r}. Lower the learning rates or check the data.")
                if log_now and main:
                    rate = images_since / max(run.seconds - seconds_at_log, 1e-9)  # training time only
                    run.metrics.append({"step": run.step, "seconds": round(run.seconds, 2), **values,
                                        "images_per_s": round(rate, 1)})
                    bar.set_postfix(loss_d=f"{values['loss_d']:.3f}", loss_g=f"{values['loss_g']:.3f}",
                                    img_s=f"{rate:.0f}")
                    images_since, seconds_at_log = 0, run.seconds
            if main and (run.step % config.sample_every == 0 or last):
                run.save_samples()
            if main and config.eval_every and (run.step % config.eval_every == 0 or last):
                results = run.run_eval()
                if results:
                    bar.write(f"step {run.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in results.items()))
            if save_now:
                run.save()
    finally:
        bar.close()
    if main:
        save_curves(run.run_dir)


def _first_compiled_iteration(run: Run, batches):
    """The first compiled iteration; if compiling fails, restore the state and go on in eager mode."""
    run.compile_checked = True
    snapshot = copy.deepcopy(run.state())
    try:
        return run.iteration(batches), batches
    except Exception as err:  # compilers fail in many ways; the run must not die of an optimization
        warnings.warn(f"torch.compile failed ({type(err).__name__}: {str(err)[:200]}); training in eager mode")
        run._load(snapshot)
        run._prepare_networks(compiled=False)
        batches = real_batches(run.dataset, run.config, run.epoch, run.position, run.part)
        return run.iteration(batches), batches


def _short(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in values.items() if not k.startswith("gamma_"))


def resume(run_dir: str | Path, *, steps: int | None = None, progress: bool = True) -> Path:
    """Continue the run in ``run_dir`` with its saved configuration (optionally to more ``steps``)."""
    state = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    config = TrainConfig.from_dict({**state["config"], "run_dir": str(run_dir)})
    if steps is not None:
        config = config.replace(steps=steps)
    return train(config, resume=True, progress=progress)


def load_generator(checkpoint_path: str | Path, device: str = "cpu", average: bool = True):
    """The generator of a checkpoint (its average when it has one and ``average``), in eval mode,
    with the configuration it was trained with and its number of classes (0: unconditional)."""
    state = load_checkpoint(checkpoint_path, map_location=device)
    config = TrainConfig.from_dict(state["config"])
    num_classes = state.get("num_classes", 0)
    G, _ = build_models(config, num_classes, torch.device(device))
    weights = state["ema"] if average and state.get("ema") is not None else state["G"]
    try:
        G.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"{str(checkpoint_path)!r} does not match its own configuration: {str(err)[:300]}") from None
    return G.eval(), config, num_classes
