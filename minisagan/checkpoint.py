"""Checkpoint files, and any file a run rewrites: written atomically, read with a clear error when
missing or damaged.

A file is first written to a temporary file beside the target (a unique name, so two writers never
share one), flushed to disk, then renamed over the target (`os.replace` is atomic on POSIX and
Windows). A crash mid-write leaves the previous file intact; a failed write (a full disk) removes its
temporary file, and a checkpoint that finds no room says so in one sentence (`DiskFullError`). The file gets the permissions the process's umask gives any new file (a group on a
shared file system can read a run), not the owner-only mode of a temporary file.

Random-number states go into a checkpoint as bytes (`rng_bytes`), not tensors: ``torch.load`` with a
``map_location`` moves every tensor (``"cuda"`` puts a CPU generator's state on the GPU, which
``set_state`` refuses), but leaves bytes alone. `rng_tensor` reads both (older checkpoints hold tensors).
"""

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from .errors import CheckpointError, DiskFullError

FORMAT_VERSION = 1


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file under the process's umask (0o644 under umask 022)."""
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def write_atomically(path: str | Path, write: Callable) -> Path:
    """Call ``write(handle)`` on a binary temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(descriptor, new_file_mode())  # mkstemp's 0600 would hide the run from the user's group
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, Ctrl-C: leave no temporary file behind
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: str | Path, text: str) -> Path:
    return write_atomically(path, lambda handle: handle.write(text.encode()))


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` (tensors, state dicts, plain Python values) to ``path`` atomically. Without
    room on the disk, `DiskFullError` names the folder, the space needed and the intact checkpoint."""
    state = {"format_version": FORMAT_VERSION, **state}
    try:
        return write_atomically(path, lambda handle: torch.save(state, handle))
    except (OSError, RuntimeError) as err:
        full = _full_disk(err)
        if full is None:
            raise
        raise DiskFullError(_no_room(full, state, Path(path))) from err


def _full_disk(err: BaseException | None) -> OSError | None:
    """The full disk (or exceeded quota) behind ``err``: torch.save reports a failed write as a
    RuntimeError ("unexpected pos") raised while handling the OSError, and closing the file may raise
    the OSError again on top of it."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return err
        err = err.__cause__ or err.__context__
    return None


class _ByteCounter:
    """A file that keeps nothing and counts what is written to it: a checkpoint's size, on no disk."""

    def __init__(self):
        self.bytes = 0

    def write(self, data) -> int:
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def _no_room(err: OSError, state: dict, path: Path) -> str:
    """One sentence: the folder, the size of ``state`` as a checkpoint, the space free, and the step of
    the checkpoint still at ``path`` (read back: it is intact only if it loads)."""
    def name(checkpoint: dict) -> str:
        return f"the checkpoint of step {checkpoint['step']}" if "step" in checkpoint else path.name

    counter = _ByteCounter()
    torch.save(state, counter)
    try:
        intact = f"{name(load_checkpoint(path))} there is intact"
    except CheckpointError:
        intact = "there is no earlier checkpoint"
    return (f"{os.strerror(err.errno)} in {str(path.parent)!r}: {name(state)} needs {_size(counter.bytes)}, "
            f"{_size(shutil.disk_usage(path.parent).free)} are free; {intact}")


def _size(n: int) -> str:
    """``1_234_567`` -> ``'1.2 MB'``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint`; `CheckpointError` names the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}: train first, or check the run folder")
    try:
        # weights_only=False: the state holds RNG states and plain Python values (our own files only)
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # damaged bytes make the unpickler raise almost anything (OverflowError, ...)
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or truncated ({type(err).__name__}); "
            "delete it to start over, or resume from an earlier copy"
        ) from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{str(path)!r} is not a minisagan checkpoint (format version {FORMAT_VERSION})")
    return state


def rng_bytes(state: torch.Tensor) -> bytes:
    """A generator's state (a CPU or CUDA uint8 tensor) as bytes, which no ``map_location`` moves."""
    return state.detach().cpu().numpy().tobytes()


def rng_tensor(saved) -> torch.Tensor:
    """The CPU uint8 tensor that ``Generator.set_state``, ``torch.set_rng_state`` and
    ``torch.cuda.set_rng_state`` take, from `rng_bytes`'s bytes or an older checkpoint's tensor
    (wherever ``torch.load`` put it)."""
    if isinstance(saved, (bytes, bytearray)):
        return torch.frombuffer(bytearray(saved), dtype=torch.uint8)
    return saved.detach().to("cpu", torch.uint8)
