"""One training run, behind ``make train`` and ``minisagan train``: Chapter 6's steps (or Chapter
1's, for the toy GAN) in a loop that writes the run folder.

A run folder holds::

    config.json        the full configuration
    metrics.csv        losses, D's scores, gradient norms, gamma of each attention block, images/s
    eval.csv           the evaluation metrics (`minisagan.run.evaluation`)
    samples/, attention/, curves.png   the pictures (`minisagan.run.figures`)
    checkpoint.pt      everything needed to resume exactly (written atomically)

`Run` owns the state (networks, optimizers, average of G, random generators, position in the data,
step, clock) and one `Run.iteration`; `train` loops over iterations and decides when to log,
sample, evaluate and save. Resuming restores the whole state, so a run stopped and resumed logs the
same losses as one that never stopped. Under ``torchrun`` every process runs this; process 0 writes.
"""

import copy
import math
import time
import warnings
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..checkpoint import load_checkpoint
from ..training import attention_gammas
from . import distributed
from .config import TrainConfig
from .figures import save_curves
from .state import Run, TrainingDiverged
from .stream import real_batches

__all__ = ["Run", "TrainingDiverged", "train", "resume"]


def train(config: TrainConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Train as ``config`` says; returns the run folder.

    With ``resume=True`` the run continues from ``run_dir/checkpoint.pt`` up to ``config.steps``.
    A fresh run refuses a folder that already holds a checkpoint, so nothing is overwritten. Under
    ``torchrun`` every process calls this; process 0 writes the folder.
    """
    processes, device = distributed.start(config.device, config.profile)
    try:
        run = Run(config, processes, device, resume)
        _loop(run, progress)
    finally:
        distributed.stop(processes)
    return Path(config.run_dir)


def resume(run_dir: str | Path, *, steps: int | None = None, progress: bool = True) -> Path:
    """Continue the run in ``run_dir`` with its saved configuration (optionally to more ``steps``)."""
    state = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    config = TrainConfig.from_dict({**state["config"], "run_dir": str(run_dir)})
    if steps is not None:
        config = config.replace(steps=steps)
    return train(config, resume=True, progress=progress)


def _loop(run: Run, progress: bool) -> None:
    config, processes = run.config, run.processes
    main = processes.is_main
    bar = tqdm(total=config.steps, initial=run.step, disable=not (progress and main),
               desc=f"train {run.run_dir.name}", unit="step")
    batches = run.batches()
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
                results = run.evaluate()
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
        run.restore(snapshot)
        run.prepare_networks(compiled=False)
        batches = run.batches()
        return run.iteration(batches), batches


def _short(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in values.items() if not k.startswith("gamma_"))
