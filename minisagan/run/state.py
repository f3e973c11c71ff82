"""The state of one training run, and one iteration of it.

`Run` builds, from a `TrainConfig`, everything a run holds: the data stream, G and D (wrapped for
DDP and ``torch.compile`` when asked), their optimizers, the average of G, the noise generator, the
position in the data, the step and the clock, and the run folder's logs. `Run.state` and
`Run.restore` are the checkpoint's contents; `Run.iteration` is the algorithm of Chapter 6.
"""

import json
import warnings
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import ConfigError
from ..metrics import inception_weights
from ..training import GeneratorEMA, attention_gammas, d_step, g_step, make_optimizers, sample_latents
from .config import TrainConfig
from .distributed import Processes
from .evaluation import EVAL_COLUMNS, evaluate
from .figures import save_samples
from .logs import CsvLog, step_columns
from .models import build_models, conditioning_classes
from .stream import evaluation_images, make_dataset, real_batches


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is left as it was."""


class Run:
    """One training run: the models, their optimizers, the data stream and the run folder."""

    def __init__(self, config: TrainConfig, processes: Processes, device: torch.device, resume: bool):
        self.config, self.processes, self.device = config, processes, device
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
        local_batch = config.batch_size // processes.world_size
        self.part = slice(processes.rank * local_batch, (processes.rank + 1) * local_batch)
        self.dataset, data_classes = make_dataset(config.data, config.resolution, config.data_size, config.seed)
        self.num_classes = conditioning_classes(config.model, config.conditional, data_classes)
        self.G, self.D = build_models(config.model, config.sagan_config(data_classes), config.seed, device)
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
        gamma_names = [f"gamma_{net}.{name}" for net, model in (("G", self.G), ("D", self.D))
                       for name in attention_gammas(model)]
        self.metrics = CsvLog(self.run_dir / "metrics.csv", step_columns(gamma_names))
        self.evals = CsvLog(self.run_dir / "eval.csv", EVAL_COLUMNS)
        if resume:
            self.restore(load_checkpoint(self.ckpt_path, map_location=device))
        if processes.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for log in (self.metrics, self.evals):
                log.truncate(self.step) if resume else log.start()
            (self.run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        self.real_eval = None
        self.prepare_networks(compiled=config.compile)

    def batches(self):
        """The real batches from the run's position on (`minisagan.run.stream.real_batches`)."""
        config = self.config
        return real_batches(self.dataset, config.batch_size, config.seed, self.epoch, self.position, self.part,
                            config.num_workers)

    def prepare_networks(self, compiled: bool) -> None:
        """G_train / D_train take gradients (DDP-wrapped under torchrun); G_fwd / D_fwd are the
        plain modules, for the other network's step: a network whose weights a step does not update
        needs no gradient all-reduce."""
        G_train, D_train = self.G, self.D
        if self.processes.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # broadcast_buffers=False: each process's SN vectors are computed from identical weights,
            # and a broadcast would race with their in-place update. torch 2.14 calls the flag
            # deprecated but its replacement still syncs at start, which is harmless here; the
            # warning is silenced until torch offers init_sync_buffers.
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

    def latents(self):
        """This process's part of a global batch of noise z and classes y."""
        z, y = sample_latents(self.config.batch_size, self.config.z_dim, self.num_classes, self.noise)
        return z[self.part].to(self.device), None if y is None else y[self.part].to(self.device)

    def iteration(self, batches) -> dict[str, torch.Tensor]:
        """n_dis discriminator steps, then one generator step, then the average of G."""
        config = self.config
        for _ in range(config.n_dis):  # 1 in the paper
            self.epoch, self.position, real, labels = next(batches)
            real = real.to(self.device, non_blocking=True)
            labels = labels.to(self.device) if self.num_classes else None
            z, y = self.latents()
            stats = d_step(self.G_fwd, self.D_train, self.opt_D, real, labels, z, y, config.loss, self.autocast)
        z, y = self.latents()
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

    def restore(self, state: dict) -> None:
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
        save_samples(self.sampler, self.fixed_z, self.fixed_y, self.run_dir, self.step)

    def evaluate(self) -> dict[str, float]:
        config = self.config
        shapes = config.data == "shapes"
        if not shapes and not config.inception_weights:
            return {}
        if self.real_eval is None:
            self.real_eval = evaluation_images(config.data, self.dataset, config.eval_samples, config.resolution,
                                               config.seed)
        results = evaluate(self.sampler, self.real_eval, n=config.eval_samples, z_dim=config.z_dim,
                           num_classes=self.num_classes, seed=config.seed, shapes=shapes,
                           inception_weights=config.inception_weights, device=self.device)
        self.evals.append({"step": self.step, "seconds": round(self.seconds, 1), **results})
        return results
