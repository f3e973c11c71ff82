"""The state of one training run, and one iteration of it.

`Run` builds, from a `TrainConfig`, everything a run holds: the data stream, G and D (wrapped for
DDP and ``torch.compile`` when asked), their optimizers, the average of G, the noise generator, the
position in the data, the step and the clock, and the run folder's logs. Building writes nothing;
`Run.start` opens the folder (a fresh one, or the checkpoint of a resumed run, checked against what
the run is now). `Run.state` and `Run.restore` are the checkpoint's contents; `Run.iteration` is the
algorithm of Chapter 6.
"""

import json
import os
import shutil
import time
import warnings
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_checkpoint, rng_bytes, rng_tensor, save_checkpoint, write_text_atomically
from ..errors import CheckpointError, ConfigError, DiskFullError
from ..imagestore import to_model_input
from ..metrics import inception_weights
from ..training import GeneratorEMA, attention_gammas, d_step, g_step, make_optimizers, sample_latents
from .config import TrainConfig
from .distributed import Processes
from .evaluation import EVAL_COLUMNS, check_cache, evaluate, protocol, real_cache
from .figures import save_samples
from .folder import prepare_fresh
from .logs import CsvLog, step_columns
from .models import build_models, conditioning_classes
from .stream import data_record, evaluation_images, make_dataset, real_batches

CHANGE_COLUMNS = ["step", "time", "key", "old", "new"]


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
        self.fixed_y = (torch.arange(64) % self.num_classes).to(device) if self.num_classes else None
        self.step, self.epoch, self.position, self.seconds = 0, 0, 0, 0.0
        gamma_names = [f"gamma_{net}.{name}" for net, model in (("G", self.G), ("D", self.D))
                       for name in attention_gammas(model)]
        self.metrics = CsvLog(self.run_dir / "metrics.csv", step_columns(gamma_names))
        self.evals = CsvLog(self.run_dir / "eval.csv", EVAL_COLUMNS)
        self.real_eval = None
        self.prepare_networks(compiled=config.compile)

    def start(self, resume: bool, overwrite: bool = False) -> None:
        """Open the run folder: a fresh run checks that it is new or empty (``overwrite``: replace an
        earlier run's files); a resumed run loads its checkpoint, checks that the data and the
        networks are the ones it was trained on and that there are steps left, applies the settings
        that changed and records them in changes.csv. Process 0 holds the folder's lock meanwhile."""
        config, main = self.config, self.processes.is_main
        if not resume:
            if main:
                prepare_fresh(self.run_dir, overwrite)
        else:
            # onto the CPU, whatever the run's device: load_state_dict copies weights and optimizer
            # state to where the networks are, and the random states must stay CPU bytes
            state = load_checkpoint(self.ckpt_path, map_location="cpu")
            self._check_resumable(state)
            self.restore(state)
            for optimizer, lr in ((self.opt_G, config.lr_g), (self.opt_D, config.lr_d)):
                for group in optimizer.param_groups:  # the checkpoint's rate, unless resume changed it
                    group["lr"] = lr
            if main:
                self._record_changes(state["config"], state.get("world_size", 1))
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for log in (self.metrics, self.evals):
                log.truncate(self.step) if resume else log.start()
            record = {**config.to_dict(), "world_size": self.processes.world_size}  # not a setting: a record
            write_text_atomically(self.run_dir / "config.json", json.dumps(record, indent=2) + "\n")
            if config.inception_weights and config.eval_every:
                write_text_atomically(self.run_dir / "protocol.json",
                                      json.dumps(protocol(config, len(self.dataset)), indent=2) + "\n")

    def _check_resumable(self, state: dict) -> None:
        saved = state.get("data")
        now = data_record(self.dataset)
        if saved is not None and saved != now:
            then, nowadays = (f"{r['length']} images in {len(r['classes'])} classes" for r in (saved, now))
            if then == nowadays:
                then, nowadays = (f"classes {', '.join(r['classes'][:5])}" for r in (saved, now))
            raise ConfigError(f"config key 'data': {self.config.data!r} has changed since the checkpoint was written "
                              f"(then {then}, now {nowadays}); a resumed run must read the same data: restore it, "
                              "or start a fresh run")
        if state["step"] >= self.config.steps:
            raise ConfigError(f"config key 'steps': the run in {str(self.run_dir)!r} is at step {state['step']} "
                              f"already; to train further, resume with --steps above {state['step']} "
                              f"(got {self.config.steps})")

    def _record_changes(self, before: dict, world_size_before: int) -> None:
        """changes.csv: one row per setting that differs from the checkpoint's configuration, and one
        when the run resumes with another number of processes (the global batch, its data and its
        noise stay the same; only what each process computes on its own part changes: the batch
        statistics of G's batch norm where they are not synchronized, and the rounding of sums)."""
        after = {**self.config.to_dict(), "world_size": self.processes.world_size}
        before = {**before, "world_size": world_size_before}
        rows = [{"step": self.step, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "key": key, "old": before.get(key),
                 "new": after[key]} for key in after if key != "run_dir" and before.get(key) != after[key]]
        if rows:
            log = CsvLog(self.run_dir / "changes.csv", CHANGE_COLUMNS)
            if not log.path.exists():
                log.start()
            for row in rows:
                log.append(row)

    def batches(self):
        """The real batches from the run's position on (`minisagan.run.stream.real_batches`)."""
        config = self.config
        return real_batches(self.dataset, config.batch_size, config.seed, self.epoch, self.position, self.part,
                            config.num_workers, pin=self.device.type == "cuda")

    def prepare_networks(self, compiled: bool) -> None:
        """G_train / D_train take gradients (DDP-wrapped under torchrun); G_fwd / D_fwd are the
        plain modules, for the other network's step: a network whose weights a step does not update
        needs no gradient all-reduce."""
        if compiled and self.device.type == "cuda":
            # channels_last, the layout the compiled convolutions are fastest in, before any DDP wrap:
            # DDP's gradient buckets take the parameters' strides when it is built
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
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
            if self.processes.distributed:
                # compiling DDP-wrapped modules with parametrizations (spectral norm) has failed in
                # dynamo's DDP optimizer (PyTorch issue 113415); without it, one graph per network
                torch._dynamo.config.optimize_ddp = False
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
            real = to_model_input(real, self.device)
            labels = labels.to(self.device) if self.num_classes else None
            z, y = self.latents()
            stats = d_step(self.G_fwd, self.D_train, self.opt_D, real, labels, z, y,
                           config.loss, self.autocast)
        z, y = self.latents()
        stats.update(g_step(self.G_train, self.D_fwd, self.opt_G, z, y, config.loss,
                            self.autocast))
        if self.ema is not None:
            self.ema.update(self.G, self.step + 1)
        return stats

    # --- checkpoints -------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "step": self.step, "epoch": self.epoch, "position": self.position, "seconds": self.seconds,
            "config": self.config.to_dict(), "num_classes": self.num_classes, "data": data_record(self.dataset),
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            # the random states as bytes (`minisagan.checkpoint.rng_bytes`); the CUDA state is this
            # process's GPU's only, so that a run resumes where fewer (or more) GPUs are visible
            "noise_rng": rng_bytes(self.noise.get_state()), "torch_rng": rng_bytes(torch.get_rng_state()),
            "cuda_rng": rng_bytes(torch.cuda.get_rng_state(self.device)) if self.device.type == "cuda" else None,
            "world_size": self.processes.world_size,
        }

    def restore(self, state: dict) -> None:
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.opt_G.load_state_dict(state["opt_G"])
            self.opt_D.load_state_dict(state["opt_D"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{str(self.ckpt_path)!r} holds networks of another shape than its configuration "
                                  f"builds ({str(err).splitlines()[0][:200]}); it does not belong to this run") from None
        if self.ema is not None:
            if state.get("ema") is None:
                raise ConfigError("config key 'ema_decay': the checkpoint has no average of G to resume")
            self.ema.load_state_dict(state["ema"])
        self.noise.set_state(rng_tensor(state["noise_rng"]))
        torch.set_rng_state(rng_tensor(state["torch_rng"]))
        cuda_rng = state.get("cuda_rng")
        if isinstance(cuda_rng, (list, tuple)):  # older checkpoints: the state of every GPU process 0 saw
            index = self.device.index or 0
            cuda_rng = cuda_rng[index] if index < len(cuda_rng) else None
        if cuda_rng is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng_tensor(cuda_rng), self.device)
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.seconds = state.get("seconds", 0.0)

    def save(self) -> None:
        """The latest checkpoint (atomically), and a kept copy every ``keep_every`` steps
        (``checkpoints/step_0010000.pt``), from which the best-FID one can be picked afterwards."""
        if self.processes.is_main:
            try:
                save_checkpoint(self.state(), self.ckpt_path)
            except DiskFullError as err:  # what to do, once space is freed
                then = f"minisagan resume {self.run_dir}" if self.ckpt_path.exists() else "train again (--overwrite)"
                raise DiskFullError(f"{err}; free space, then {then}") from err
            keep = self.config.keep_every
            if keep and self.step % keep == 0:
                kept = self.run_dir / "checkpoints" / f"step_{self.step:07d}.pt"
                kept.parent.mkdir(exist_ok=True)
                kept.unlink(missing_ok=True)
                try:
                    os.link(self.ckpt_path, kept)  # the same bytes, no second copy on disk
                except OSError:
                    shutil.copyfile(self.ckpt_path, kept)
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
                           inception_weights=config.inception_weights, device=self.device,
                           real_cache=real_cache(config))
        self.evals.append({"step": self.step, "seconds": round(self.seconds, 1), **results})
        return results
