"""Profiles: one switch that sizes every experiment in the book.

- ``smoke``: CI and quick checks; seconds per chapter, every key cell still runs.
- ``cpu``: a laptop; a chapter in a few minutes, big enough to show the chapter's effect.
- ``gpu``: the paper's scale.

The default follows the hardware (``gpu`` when CUDA is available, else ``cpu``); the environment
variable ``MINISAGAN_PROFILE`` overrides it.
"""

import os
import time
from contextlib import contextmanager

import torch

PROFILES = ("smoke", "cpu", "gpu")
ENV_VAR = "MINISAGAN_PROFILE"


def active_profile() -> str:
    """The profile in force: ``$MINISAGAN_PROFILE`` if set, else picked from the hardware."""
    name = os.environ.get(ENV_VAR, "").strip().lower()
    if not name:
        return "gpu" if torch.cuda.is_available() else "cpu"
    if name not in PROFILES:
        raise ValueError(f"{ENV_VAR}={name!r} is not a profile; choose one of {', '.join(PROFILES)}")
    return name


def by_profile(*, smoke, cpu, gpu, profile: str | None = None):
    """Pick the value for the active profile (or ``profile``), e.g. ``steps = by_profile(smoke=20,
    cpu=1500, gpu=100_000)``. Every profile must be given, so no chapter silently lacks one."""
    profile = profile or active_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[profile]


def default_device(profile: str | None = None) -> torch.device:
    """CUDA for the gpu profile when there is one; the CPU otherwise."""
    profile = profile or active_profile()
    return torch.device("cuda" if profile == "gpu" and torch.cuda.is_available() else "cpu")


def format_seconds(seconds: float) -> str:
    """``75.3`` -> ``'1 min 15 s'``; short enough for a chapter's closing line."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.1f} s"


@contextmanager
def chapter_clock(what: str, profile: str | None = None):
    """Time a block and say what the profile ran: ``with chapter_clock("training"): ...``.

    Prints one line at the end, e.g. ``[profile cpu] training took 2 min 41 s``, so each chapter
    states what its profile ran and how long it took.
    """
    profile = profile or active_profile()
    start = time.perf_counter()
    yield
    print(f"[profile {profile}] {what} took {format_seconds(time.perf_counter() - start)}")
