"""The run folder and its one writer.

A run holds an exclusive lock on ``RUN/.lock`` for its whole life (`RunLock`), so a second
training or resume of the same folder stops at once with a message naming the process that holds
it; the operating system releases the lock when that process ends, however it ends. A fresh run
starts only in a new or empty folder: one that holds another run's files is refused unless the user
asks to overwrite them (`prepare_fresh`).
"""

import datetime
import fcntl
import os
import shutil
import socket
import sys
from pathlib import Path

LOCK_NAME = ".lock"
# Every file and folder a run folder may hold: the one list (the README's table and `minisagan.run.loop`'s
# docstring name these, and a test holds them to it); `prepare_fresh` replaces these and nothing else.
RUN_FILES = {
    "config.json": "the full configuration, and the number of processes",
    "metrics.csv": "losses, D's scores, gradient norms, gamma of each attention block, images per second",
    "eval.csv": "the evaluation metrics (`minisagan.run.evaluation`)",
    "samples": "samples/step_*.png and samples/latest.png: G's images for fixed noise and classes",
    "attention": "attention/step_*.png: where G's attention block looks",
    "curves.png": "the logs, plotted",
    "checkpoint.pt": "everything needed to resume exactly (written atomically)",
    "checkpoints": "a kept checkpoint every keep_every steps, and `minisagan evaluate`'s report on each",
    "protocol.json": "how the Inception metrics are measured (a run with inception_weights)",
    "changes.csv": "the settings a resume changed",
    "evaluation.json": "`minisagan evaluate`'s report on checkpoint.pt",
    LOCK_NAME: "the lock of the folder's one writer (the process named inside)",
}


class RunFolderBusy(RuntimeError):
    """Another process is writing this run folder."""


class RunLock:
    """``with RunLock(run_dir): ...``: hold the folder's lock, or raise `RunFolderBusy` at once."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self.handle = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunFolderBusy(f"{str(self.path.parent)!r} is in use by {holder}: wait for that run to end, "
                                "or pick another run_dir") from None
        except OSError as err:  # some network file systems have no locks (ENOLCK, EOPNOTSUPP)
            handle.close()
            print(f"minisagan: warning: the file system of {str(self.path.parent)!r} does not support locks "
                  f"({err.strerror or err}): nothing stops a second train or resume of this folder, so start "
                  "only one", file=sys.stderr)
            return self
        handle.seek(0)
        handle.truncate()
        started = datetime.datetime.now().isoformat(timespec="seconds")
        handle.write(f"process {os.getpid()} on {socket.gethostname()} (since {started})\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            self.handle.close()  # closing releases the lock
            self.handle = None


def prepare_fresh(run_dir: Path, overwrite: bool) -> None:
    """Make sure a fresh run may write ``run_dir``: refuse a folder that holds anything but the lock
    (unless ``overwrite``, which removes the files a run writes, `RUN_FILES`, and nothing else; the
    lock stays, held by this run)."""
    present = sorted(p.name for p in Path(run_dir).iterdir() if p.name != LOCK_NAME) if Path(run_dir).is_dir() else []
    if not present:
        return
    if "checkpoint.pt" in present and not overwrite:
        raise FileExistsError(f"{str(run_dir)!r} already holds a run: resume it (minisagan resume {run_dir}), "
                              "pick another run_dir, or overwrite it (--overwrite)")
    if not overwrite:
        shown = ", ".join(present[:4]) + (", ..." if len(present) > 4 else "")
        raise FileExistsError(f"{str(run_dir)!r} is not empty ({shown}): a fresh run needs a new or empty folder; "
                              "pick another run_dir, or replace that run's files with --overwrite")
    foreign = [name for name in present if name not in RUN_FILES]
    if foreign:
        raise FileExistsError(f"{str(run_dir)!r} holds files that no run writes ({', '.join(foreign[:4])}): "
                              "--overwrite replaces a run's own files only; pick another run_dir")
    for name in present:
        path = Path(run_dir) / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
