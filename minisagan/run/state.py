"""What one training run holds, built from its `TrainConfig`.

`Run` builds the data stream, G and D with the wrappers the application adds (`wrappers`), their
optimizers, the average of G, the noise generator, the position in the data, the step and the
clock, and the run folder's logs. Building writes nothing. What it hands Chapter 6's loop
(`minisagan.training.train_loop`): `Run.batches` and `Run.latents`, and the options of
`Run.loop_options`. Its checkpoint (what it holds, restoring it, writing it, opening the folder) is
`minisagan.run.checkpoints`; the loop around it, `minisagan.run.loop`.
"""

from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError
from ..imagestore import to_model_input
from ..metrics import balanced_classes, inception_weights
from ..training import GeneratorEMA, attention_gammas, make_optimizers, sample_latents
from .config import TrainConfig
from .distributed import Processes
from .evaluation import EVAL_COLUMNS, check_cache, evaluate, real_cache
from .logs import CsvLog, step_columns
from .models import build_models, conditioning_classes
from .pictures import save_samples
from .stream import evaluation_images, make_dataset, real_batches
from .wrappers import autocast_for, wrap_networks


class Run:
    """One training run: the models, their optimizers, the data stream and the run folder."""

    def __init__(self, config: TrainConfig, processes: Processes, device: torch.device):
        self.config, self.processes, self.device = config, processes, device
        self.run_dir = Path(config.run_dir)
        self.ckpt_path = self.run_dir / "checkpoint.pt"
        if config.batch_size % processes.world_size:
            raise ConfigError(f"config key 'batch_size' ({config.batch_size}) must divide evenly over the "
                              f"{processes.world_size} processes")
        if config.inception_weights:
            inception_weights(config.inception_weights)  # a missing file fails now, not after hours
            if processes.is_main:
                check_cache(config)  # an unwritable cache folder likewise
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
        self.fixed_y = balanced_classes(64, self.num_classes).to(device) if self.num_classes else None
        self.step, self.epoch, self.position, self.seconds = 0, 0, 0, 0.0
        gamma_names = [f"gamma_{net}.{name}" for net, model in (("G", self.G), ("D", self.D))
                       for name in attention_gammas(model)]
        self.metrics = CsvLog(self.run_dir / "metrics.csv", step_columns(gamma_names))
        self.evals = CsvLog(self.run_dir / "eval.csv", EVAL_COLUMNS)
        self.real_eval = None
        self.wrap(compiled=config.compile)

    def wrap(self, compiled: bool) -> None:
        """The networks as the steps call them (DDP, ``torch.compile``) and the autocast context."""
        self.wrapped = wrap_networks(self.G, self.D, self.processes, self.device, compiled)
        self.compiled = compiled
        self.autocast = autocast_for(self.config.amp, self.device)

    def batches(self):
        """The real batches from the run's position on, on the run's device, as Chapter 6's loop
        takes them: (images in [-1, 1], labels or None). The run's epoch and position follow each
        batch drawn, so a checkpoint holds where the data order stands."""
        config = self.config
        for self.epoch, self.position, real, labels in real_batches(
                self.dataset, config.batch_size, config.seed, self.epoch, self.position, self.part,
                config.num_workers, pin=self.device.type == "cuda"):
            yield to_model_input(real, self.device), labels.to(self.device) if self.num_classes else None

    def latents(self):
        """This process's part of a global batch of noise z and classes y."""
        z, y = sample_latents(self.config.batch_size, self.config.z_dim, self.num_classes, self.noise)
        return z[self.part].to(self.device), None if y is None else y[self.part].to(self.device)

    def loop_options(self) -> dict:
        """`minisagan.training.train_iteration`'s options for this run."""
        return {"n_dis": self.config.n_dis, "loss": self.config.loss, "ema": self.ema,
                "autocast": self.autocast, "wrapped": self.wrapped}

    # --- what the run writes -----------------------------------------------------------------------
    @property
    def sampler(self) -> nn.Module:
        """The generator to show and measure: the average of G when there is one."""
        return self.G if self.ema is None else self.ema.model

    def save_samples(self) -> None:
        save_samples(self.sampler, self.fixed_z, self.fixed_y, self.run_dir, self.step)

    def evaluate(self) -> dict[str, float]:
        config = self.config
        shapes = config.on_shapes
        if not shapes and not config.inception_weights:
            return {}
        if self.real_eval is None:
            self.real_eval = evaluation_images(config.data, self.dataset, config.eval_samples, config.resolution,
                                               config.seed)
        results = evaluate(self.sampler, self.real_eval, n=config.eval_samples, z_dim=config.z_dim,
                           num_classes=self.num_classes, seed=config.seed, shapes=shapes,
                           inception_weights=config.inception_weights, device=self.device,
                           real_cache=real_cache(config))
        self.evals.append({"step": self.step, "seconds": round(self.seconds, 1), **results})
        return results
