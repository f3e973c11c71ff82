"""Checkpoint files: written atomically, read with a clear error when missing or damaged.

A checkpoint is first written to a temporary file beside the target, flushed to disk, then renamed
over the target (`os.replace` is atomic on POSIX and Windows). A crash mid-write leaves the previous
checkpoint intact and at worst a stray ``*.tmp`` file, never a half-written checkpoint.
"""

import os
from pathlib import Path

import torch

from .errors import CheckpointError

FORMAT_VERSION = 1


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` (tensors, state dicts, plain Python values) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        torch.save({"format_version": FORMAT_VERSION, **state}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


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
