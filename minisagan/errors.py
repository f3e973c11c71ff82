"""Errors that minisagan raises for bad input, or for a run that cannot go on: each names what is
wrong and how to fix it.

They subclass the built-in error a caller would expect (ValueError, FileNotFoundError, RuntimeError),
so code that already catches those keeps working.
"""


class ConfigError(ValueError):
    """A configuration key is unknown or its value impossible; the message names the key."""


class DataError(ValueError):
    """A data folder is missing, empty or holds something that is not an image."""


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated or does not belong to this model."""


class MissingWeightsError(FileNotFoundError):
    """A weights file that cannot be downloaded here is not on disk; the message says how to get it."""


class DiskFullError(OSError):
    """A file could not be written for want of space; the message names the folder, the space needed
    and what is still intact."""


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN or infinite; the last good checkpoint is left as it was."""
