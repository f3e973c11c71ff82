"""One training run, behind ``make train`` and ``minisagan train``: Chapter 6's steps (or Chapter
1's, for the toy GAN) in a loop that writes the run folder.

A run folder holds (`minisagan.run.run_folder.RUN_FILES`, the one list of them)::

    config.json        the full configuration
    metrics.csv        losses, D's scores, gradient norms, gamma of each attention block, images/s
    eval.csv           the evaluation metrics (`minisagan.run.evaluation`)
    samples/, attention/, curves.png   the pictures (`minisagan.run.pictures`)
    checkpoint.pt      everything needed to resume exactly (written atomically)
    checkpoints/       a kept checkpoint every keep_every steps (and `minisagan evaluate`'s reports)
    protocol.json      how the Inception metrics are measured (with inception_weights)
    changes.csv        the settings a resume changed
    evaluation.json    `minisagan evaluate`'s report on checkpoint.pt
    .lock              the lock of the folder's one writer (`minisagan.run.run_folder.RunLock`)

`Run` (`minisagan.run.state`) owns the state (networks, optimizers, average of G, random
generators, position in the data, step and clock); the iterations are Chapter 6's
`minisagan.training.train_loop`, and `AfterStep`, called after each, decides when to log, sample,
evaluate and save. Resuming restores the whole state, so a run stopped and resumed logs the
same losses as one that never stopped. Under ``torchrun`` every process runs this; process 0 writes.
"""

import copy
import math
import textwrap
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..checkpoint import load_checkpoint
from ..errors import ConfigError, TrainingDiverged
from ..training import attention_gammas, train_iteration, train_loop
from . import distributed
from .checkpoints import open_folder, restore, run_state, save
from .config import RESUMABLE, TrainConfig
from .pictures import save_curves
from .run_folder import RunLock
from .state import Run

__all__ = ["Run", "train", "resume"]


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False, progress: bool = True,
          checkpoint: dict | None = None) -> Path:
    """Train as ``config`` says; returns the run folder.

    With ``resume=True`` the run continues from ``run_dir/checkpoint.pt`` (or from ``checkpoint``,
    that file already read) up to ``config.steps``. A fresh run needs a new or empty folder
    (``overwrite=True`` replaces an earlier run's files). Process 0 holds the folder's lock for the
    whole run; under ``torchrun`` every process calls this and process 0 writes the folder.
    """
    processes, device = distributed.start(config.device, config.profile)
    try:
        run = Run(config, processes, device)
        with RunLock(run.run_dir) if processes.is_main else nullcontext():
            # onto the CPU, whatever the run's device: load_state_dict copies weights and optimizer
            # state to where the networks are, and the random states must stay CPU bytes
            if resume and checkpoint is None:
                checkpoint = load_checkpoint(run.ckpt_path, map_location="cpu")
            open_folder(run, checkpoint if resume else None, overwrite)
            checkpoint = None  # the weights now live in the networks; let the copy go
            run_iterations(run, AfterStep(run, progress))
    finally:
        distributed.stop(processes)
    return Path(config.run_dir)


def resume(run_dir: str | Path, *, progress: bool = True, **changes) -> Path:
    """Continue the run in ``run_dir`` with its saved configuration, with ``changes`` to the keys
    that may change mid-run (`RESUMABLE`: more ``steps``, learning rates, intervals, the device);
    each change is recorded in the run folder's changes.csv. The checkpoint is read once."""
    refused = sorted(key for key in changes if key not in RESUMABLE)
    if refused:
        raise ConfigError(f"config key {refused[0]!r} cannot change when a run resumes (only "
                          f"{', '.join(RESUMABLE)}); start a fresh run for that")
    state = load_checkpoint(Path(run_dir) / "checkpoint.pt", map_location="cpu")
    config = TrainConfig.from_dict({**state["config"], "run_dir": str(run_dir)})
    changes = {key: value for key, value in changes.items() if value is not None}
    return train(config.replace(**changes) if changes else config, resume=True, progress=progress,
                 checkpoint=state)


def run_iterations(run: Run, after_step) -> None:
    """Chapter 6's loop from the run's step to its last, with the run's data, noise,
    wrapped networks and autocast; ``after_step`` logs, samples, evaluates and saves."""
    batches = run.batches()
    try:
        if run.compiled:  # compiling happens in the first iteration
            batches = _first_compiled_iteration(run, batches, after_step)
        train_loop(run.G, run.D, run.opt_G, run.opt_D, batches, run.latents,
                   run.config.steps, start=run.step, log_every=0,
                   after_step=after_step, **run.loop_options())
    finally:
        after_step.bar.close()
    after_step.finish()


class AfterStep:
    """What the application does after each iteration: count the step and the training time, and
    when it is due, log (and stop a diverged run), draw samples, evaluate and save a checkpoint."""

    def __init__(self, run: Run, progress: bool):
        self.run = run
        self.bar = tqdm(total=run.config.steps, initial=run.step, disable=not (progress and run.processes.is_main),
                        desc=f"train {run.run_dir.name}", unit="step")
        self.images_since, self.seconds_at_log = 0, run.seconds
        self.mark = time.perf_counter()  # the clock counts training only; the GPU is synchronized only when read

    def __call__(self, step: int, stats: dict) -> None:
        run, config = self.run, self.run.config
        main = run.processes.is_main
        run.step = step
        self.images_since += config.batch_size
        self.bar.update(1)
        last = step == config.steps
        log_now = step % config.log_every == 0 or last
        save_now = step % config.checkpoint_every == 0 or last
        sample_now = main and (step % config.sample_every == 0 or last)
        eval_now = main and config.eval_every and (step % config.eval_every == 0 or last)
        if not (log_now or save_now or sample_now or eval_now):
            return  # no host-device synchronization between logged steps
        if run.device.type == "cuda":
            torch.cuda.synchronize(run.device)  # the queued steps belong to the training time
        run.seconds += time.perf_counter() - self.mark
        if log_now or save_now:
            self.log(stats, write=log_now and main)
        if sample_now:
            run.save_samples()
        if eval_now:
            results = run.evaluate()
            if results:  # wrapped at 88 columns, the book's page width; "\xa0" keeps a key with its value
                line = f"step {step}: " + ", ".join(f"{k}\xa0{v:.4g}" for k, v in results.items()
                                                    if not k.startswith("accuracy_"))
                self.bar.write(textwrap.fill(line, width=88, subsequent_indent="    ").replace("\xa0", " "))
        if save_now:
            save(run)
        self.mark = time.perf_counter()

    def log(self, stats: dict, write: bool) -> None:
        """Check that every value is finite (a diverged run stops before anything is saved) and,
        when ``write``, append the row to metrics.csv."""
        run = self.run
        gammas = {f"gamma_{net}.{name}": g for net, model in (("G", run.G), ("D", run.D))
                  for name, g in attention_gammas(model).items()}
        weights = {f"weights_{net}": _all_finite(model) for net, model in (("G", run.G), ("D", run.D))}
        values = run.processes.mean({**stats, **gammas, **weights})
        finite_weights = {key: values.pop(key) == 1.0 for key in weights}
        if not all(math.isfinite(v) for v in values.values()) or not all(finite_weights.values()):
            broken = [key.removeprefix("weights_") for key, ok in finite_weights.items() if not ok]
            raise TrainingDiverged(
                f"training diverged by step {run.step}: "
                + (f"a weight of {' and '.join(broken)} became non-finite; " if broken else "")
                + f"{_short(values)}. Nothing after the last good checkpoint was saved: "
                f"{str(run.ckpt_path)!r}. Resume it with lower learning rates "
                f"(minisagan resume {run.run_dir} --lr-g ... --lr-d ...) or check the data.")
        if write:
            rate = self.images_since / max(run.seconds - self.seconds_at_log, 1e-9)  # training time only
            run.metrics.append({"step": run.step, "seconds": round(run.seconds, 2), **values,
                                "images_per_s": round(rate, 1)})
            self.bar.set_postfix(loss_d=f"{values['loss_d']:.3f}", loss_g=f"{values['loss_g']:.3f}",
                                 img_s=f"{rate:.0f}")
            self.images_since, self.seconds_at_log = 0, run.seconds

    def finish(self) -> None:
        """After the last step: curves.png, and the GPU memory the run needed."""
        run = self.run
        if run.processes.is_main:
            save_curves(run.run_dir)
            if run.device.type == "cuda":  # what the run needed of the GPU, for the next reader's planning
                print(f"peak GPU memory of process 0: {torch.cuda.max_memory_allocated(run.device) / 2**30:.1f} GiB")


def _first_compiled_iteration(run: Run, batches, after_step):
    """The first compiled iteration; if compiling fails, restore the state and go on in eager mode.
    Returns the batches to go on with."""
    snapshot = copy.deepcopy(run_state(run))
    try:
        stats = train_iteration(run.G, run.D, run.opt_G, run.opt_D, batches, run.latents, run.step,
                                **run.loop_options())
    except Exception as err:  # compilers fail in many ways; the run must not die of an optimization
        warnings.warn(f"torch.compile failed ({type(err).__name__}: {str(err)[:200]}); training in eager mode")
        restore(run, snapshot)
        run.wrap(compiled=False)
        batches = run.batches()
        stats = train_iteration(run.G, run.D, run.opt_G, run.opt_D, batches, run.latents, run.step,
                                **run.loop_options())
    after_step(run.step + 1, stats)
    return batches


def _all_finite(model: torch.nn.Module) -> torch.Tensor:
    """1.0 when every parameter of ``model`` is finite, else 0.0 (one tensor: one sync to read)."""
    return torch.stack([p.detach().isfinite().all() for p in model.parameters()]).all().float()


def _short(values: dict[str, float]) -> str:
    """The non-finite values first (gammas included), then the finite losses and scores."""
    bad = [f"{k} {v:.4g}" for k, v in values.items() if not math.isfinite(v)]
    good = [f"{k} {v:.4g}" for k, v in values.items() if math.isfinite(v) and not k.startswith("gamma_")]
    return ", ".join(bad + good)
