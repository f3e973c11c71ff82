"""Errors that minisagan raises for bad input: each names what is wrong and how to fix it.

They subclass the built-in error a caller would expect (ValueError, FileNotFoundError), so code that
already catches those keeps working.
"""


class ConfigError(ValueError):
    """A configuration key is unknown or its value impossible; the message names the key."""


class DataError(ValueError):
    """A data folder is missing, empty or holds something that is not an image."""


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated or does not belong to this model."""


class MissingWeightsError(FileNotFoundError):
    """A weights file that cannot be downloaded here is not on disk; the message says how to get it."""
