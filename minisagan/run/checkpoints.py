"""A run's checkpoint: what it holds (`run_state`), putting it back (`restore`), writing it
(`save`), and opening the run folder for a fresh or a resumed run (`open_folder`).

A checkpoint holds everything a resumed run needs to continue exactly: both networks, both
optimizers, the average of G, the random generators' states, the position in the data order, the
step and the clock. A resumed run reads it once (`minisagan.run.loop.resume`) and hands it here.
"""

import json
import os
import shutil
import time

import torch

from ..checkpoint import rng_bytes, rng_tensor, save_checkpoint, write_text_atomically
from ..errors import CheckpointError, ConfigError, DiskFullError
from .evaluation import protocol
from .logs import CsvLog
from .run_folder import prepare_fresh
from .stream import data_record

CHANGE_COLUMNS = ["step", "time", "key", "old", "new"]


def run_state(run) -> dict:
    """The checkpoint of ``run`` (a `minisagan.run.state.Run`) as it stands."""
    return {
        "step": run.step, "epoch": run.epoch, "position": run.position, "seconds": run.seconds,
        "config": run.config.to_dict(), "num_classes": run.num_classes, "data": data_record(run.dataset),
        "G": run.G.state_dict(), "D": run.D.state_dict(),
        "opt_G": run.opt_G.state_dict(), "opt_D": run.opt_D.state_dict(),
        "ema": None if run.ema is None else run.ema.state_dict(),
        # the random states as bytes (`minisagan.checkpoint.rng_bytes`); the CUDA state is this
        # process's GPU's only, so that a run resumes where fewer (or more) GPUs are visible
        "noise_rng": rng_bytes(run.noise.get_state()), "torch_rng": rng_bytes(torch.get_rng_state()),
        "cuda_rng": rng_bytes(torch.cuda.get_rng_state(run.device)) if run.device.type == "cuda" else None,
        "world_size": run.processes.world_size,
    }


def restore(run, state: dict) -> None:
    """Put ``state`` (a checkpoint) back into ``run``: weights, optimizers, average, random states,
    position, step and clock."""
    try:
        run.G.load_state_dict(state["G"])
        run.D.load_state_dict(state["D"])
        run.opt_G.load_state_dict(state["opt_G"])
        run.opt_D.load_state_dict(state["opt_D"])
    except (RuntimeError, ValueError, KeyError) as err:
        raise CheckpointError(f"{str(run.ckpt_path)!r} holds networks of another shape than its configuration "
                              f"builds ({str(err).splitlines()[0][:200]}); it does not belong to this run") from None
    if run.ema is not None:
        if state.get("ema") is None:
            raise ConfigError("config key 'ema_decay': the checkpoint has no average of G to resume")
        run.ema.load_state_dict(state["ema"])
    run.noise.set_state(rng_tensor(state["noise_rng"]))
    torch.set_rng_state(rng_tensor(state["torch_rng"]))
    cuda_rng = state.get("cuda_rng")
    if isinstance(cuda_rng, (list, tuple)):  # older checkpoints: the state of every GPU process 0 saw
        index = run.device.index or 0
        cuda_rng = cuda_rng[index] if index < len(cuda_rng) else None
    if cuda_rng is not None and run.device.type == "cuda":
        torch.cuda.set_rng_state(rng_tensor(cuda_rng), run.device)
    run.step, run.epoch, run.position = state["step"], state["epoch"], state["position"]
    run.seconds = state.get("seconds", 0.0)


def save(run) -> None:
    """The latest checkpoint (atomically), and a kept copy every ``keep_every`` steps
    (``checkpoints/step_0010000.pt``), from which the best-FID one can be picked afterwards."""
    if run.processes.is_main:
        try:
            save_checkpoint(run_state(run), run.ckpt_path)
        except DiskFullError as err:  # what to do, once space is freed
            then = f"minisagan resume {run.run_dir}" if run.ckpt_path.exists() else "train again (--overwrite)"
            raise DiskFullError(f"{err}; free space, then {then}") from err
        keep = run.config.keep_every
        if keep and run.step % keep == 0:
            _keep_copy(run.ckpt_path, run.run_dir / "checkpoints" / f"step_{run.step:07d}.pt")
    run.processes.barrier()


def _keep_copy(checkpoint, kept) -> None:
    """``kept``: the same bytes as ``checkpoint``, a hard link where the filesystem has them, else a
    copy written under a temporary name and renamed, so that a kill leaves no half-written file."""
    kept.parent.mkdir(exist_ok=True)
    temporary = kept.with_name(f".{kept.name}.tmp")  # the folder has one writer
    temporary.unlink(missing_ok=True)
    try:
        try:
            os.link(checkpoint, temporary)  # no second copy on disk
        except OSError:
            shutil.copyfile(checkpoint, temporary)
        os.replace(temporary, kept)
    finally:
        temporary.unlink(missing_ok=True)


def open_folder(run, resumed: dict | None, overwrite: bool = False) -> None:
    """Open the run folder: a fresh run checks that it is new or empty (``overwrite``: replace an
    earlier run's files); a resumed run (``resumed``: its checkpoint, read once) checks that the data
    and the networks are the ones it was trained on and that there are steps left, applies the
    settings that changed and records them in changes.csv. Process 0 holds the folder's lock."""
    config, main = run.config, run.processes.is_main
    if resumed is None:
        if main:
            prepare_fresh(run.run_dir, overwrite)
    else:
        _check_resumable(run, resumed)
        restore(run, resumed)
        for optimizer, lr in ((run.opt_G, config.lr_g), (run.opt_D, config.lr_d)):
            for group in optimizer.param_groups:  # the checkpoint's rate, unless resume changed it
                group["lr"] = lr
        if main:
            _record_changes(run, resumed["config"], resumed.get("world_size", 1))
    if main:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        for log in (run.metrics, run.evals):
            log.truncate(run.step) if resumed is not None else log.start()
        record = {**config.to_dict(), "world_size": run.processes.world_size}  # not a setting: a record
        write_text_atomically(run.run_dir / "config.json", json.dumps(record, indent=2) + "\n")
        if config.inception_weights and config.eval_every:
            write_text_atomically(run.run_dir / "protocol.json",
                                  json.dumps(protocol(config, len(run.dataset)), indent=2) + "\n")


def _check_resumable(run, state: dict) -> None:
    saved, now = state.get("data"), data_record(run.dataset)
    if saved is not None and saved != now:
        then, nowadays = (f"{r['length']} images in {len(r['classes'])} classes" for r in (saved, now))
        if then == nowadays:
            then, nowadays = (f"classes {', '.join(r['classes'][:5])}" for r in (saved, now))
        raise ConfigError(f"config key 'data': {run.config.data!r} has changed since the checkpoint was written "
                          f"(then {then}, now {nowadays}); a resumed run must read the same data: restore it, "
                          "or start a fresh run")
    if state["step"] >= run.config.steps:
        raise ConfigError(f"config key 'steps': the run in {str(run.run_dir)!r} is at step {state['step']} "
                          f"already; to train further, resume with --steps above {state['step']} "
                          f"(got {run.config.steps})")


def _record_changes(run, before: dict, world_size_before: int) -> None:
    """changes.csv: one row per setting that differs from the checkpoint's configuration, and one
    when the run resumes with another number of processes (the global batch, its data and its
    noise stay the same; only what each process computes on its own part changes: the batch
    statistics of G's batch norm where they are not synchronized, and the rounding of sums)."""
    after = {**run.config.to_dict(), "world_size": run.processes.world_size}
    before = {**before, "world_size": world_size_before}
    rows = [{"step": run.step, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "key": key, "old": before.get(key),
             "new": after[key]} for key in after if key != "run_dir" and before.get(key) != after[key]]
    if rows:
        log = CsvLog(run.run_dir / "changes.csv", CHANGE_COLUMNS)
        if not log.path.exists():
            log.start()
        for row in rows:
            log.append(row)
