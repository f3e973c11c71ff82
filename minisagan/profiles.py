"""Profiles: one switch that sizes every experiment in the book and every training run.

- ``smoke``: CI and quick checks; seconds per chapter, every key cell still runs.
- ``cpu``: a laptop; a chapter in a few minutes, big enough to show the chapter's effect.
- ``gpu``: the paper's scale.
- ``gpu-smoke``: smoke's sizes on the gpu profile's code path (a CUDA GPU, bf16 autocast,
  ``torch.compile``): a GPU lease checks that every chapter runs there, in seconds each.

`PROFILES` is the one record of what a profile implies, in two parts: ``run``, the default run's
sizes and switches (`RunPreset`, which `minisagan.run.config.TrainConfig` takes as its presets), and
``chapter``, the size of each chapter's own experiment (`ChapterSizes`), read by name
(``sizes().run.steps``, ``sizes().chapter.sn_study_steps``).

The profile in force is ``$MINISAGAN_PROFILE`` when set, else ``gpu`` when PyTorch sees a CUDA GPU,
else ``cpu``. One rule picks the device, for the chapters and for ``minisagan train`` alike: a CUDA
GPU in the gpu and gpu-smoke profiles when there is one, the CPU in every other case (`device_for`).
"""

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

ENV_VAR = "MINISAGAN_PROFILE"


@dataclass(frozen=True)
class RunPreset:
    """The default training run of a profile (``make train``, ``minisagan train``): what
    `minisagan.run.config.TrainConfig` takes as its presets. Steps count generator updates."""

    steps: int
    batch_size: int
    width: int  # the channel multiplier of G and D
    data_size: int  # built-in training images
    log_every: int
    sample_every: int
    checkpoint_every: int
    eval_every: int
    eval_samples: int  # images per set for FID / KID during a run
    lr_g: float  # Adam's learning rates (the paper's TTUR: 1e-4 for G, 4e-4 for D)
    lr_d: float
    ema_decay: float  # average of G's weights (0: none)
    ema_start: int
    amp: str  # "bf16" or "none"
    compile: bool
    num_workers: int  # data loader processes


@dataclass(frozen=True)
class ChapterSizes:
    """The size of each chapter's own experiment, read by name (``sizes().chapter.toy_steps``)."""

    width: int  # the channel multiplier of the chapters' models (Chapters 1, 2 and 4)
    data_batches: int  # Chapter 0: batches timed through a DataLoader
    toy_steps: int  # Chapter 1: the toy GAN's training run
    sn_study_steps: int  # Chapter 2: the spectral-norm study, per run
    attention_sizes: tuple[int, ...]  # Chapter 3: feature-map sizes timed
    timing_repeats: int  # Chapter 3: repeats per timing
    metric_samples: int  # Chapter 5: images per set for the metrics
    metric_sample_sizes: tuple[int, ...]  # Chapter 5: set sizes of the bias study
    se_draws: int  # Chapter 5: independent draws of the shipped model's samples
    se_samples: int  # Chapter 5: samples per draw (a run's evaluations use 1,000)
    study_steps: int  # Chapters 6 and 8: the stabilization and attention studies, per run
    study_eval_every: int
    study_eval_samples: int
    jpeg_per_class: int  # Chapter 7: generated JPEGs per class of the smoke path
    imagenet_width: int  # Chapter 7: the 128x128 networks' width in the smoke path
    imagenet_batch: int
    imagenet_steps: int


@dataclass(frozen=True)
class Profile:
    """What one profile implies: its default training run and its chapters' experiments."""

    name: str
    run: RunPreset
    chapter: ChapterSizes


# CI and quick checks (named here: gpu-smoke copies its sizes)
SMOKE = Profile(
    "smoke",
    RunPreset(steps=20, batch_size=16, width=8, data_size=2_000, log_every=5, sample_every=10,
              checkpoint_every=10, eval_every=10, eval_samples=200, lr_g=1e-4, lr_d=4e-4, ema_decay=0.0,
              ema_start=0, amp="none", compile=False, num_workers=0),
    ChapterSizes(width=8, data_batches=10, toy_steps=20, sn_study_steps=12, attention_sizes=(8, 16),
                 timing_repeats=2, metric_samples=300, metric_sample_sizes=(150, 300), se_draws=5,
                 se_samples=200, study_steps=4, study_eval_every=4, study_eval_samples=130, jpeg_per_class=2,
                 imagenet_width=8, imagenet_batch=4, imagenet_steps=2))

PROFILES: dict[str, Profile] = {
    "smoke": SMOKE,
    # The default run departs from the paper's recipe to learn within 20 minutes on 2 cores (Chapter 6,
    # benchmarks/sweep_cpu_recipe.py): width 16 (0.14 s per step), G at D's rate, an average of G.
    "cpu": Profile(
        "cpu",
        RunPreset(steps=8_000, batch_size=32, width=16, data_size=50_000, log_every=10, sample_every=1_000,
                  checkpoint_every=1_000, eval_every=500, eval_samples=1_000, lr_g=4e-4, lr_d=4e-4,
                  ema_decay=0.999, ema_start=500, amp="none", compile=False, num_workers=0),
        ChapterSizes(width=32, data_batches=100, toy_steps=800, sn_study_steps=250,
                     attention_sizes=(8, 16, 32, 64), timing_repeats=5, metric_samples=2_000,
                     metric_sample_sizes=(200, 500, 1_000, 2_000), se_draws=20, se_samples=1_000,
                     study_steps=500, study_eval_every=100, study_eval_samples=500, jpeg_per_class=12,
                     imagenet_width=16, imagenet_batch=8, imagenet_steps=30)),
    "gpu": Profile(
        "gpu",
        RunPreset(steps=20_000, batch_size=256, width=64, data_size=200_000, log_every=50, sample_every=1_000,
                  checkpoint_every=1_000, eval_every=1_000, eval_samples=5_000, lr_g=1e-4, lr_d=4e-4,
                  ema_decay=0.999, ema_start=1_000, amp="bf16", compile=True, num_workers=4),
        ChapterSizes(width=64, data_batches=100, toy_steps=20_000, sn_study_steps=5_000,
                     attention_sizes=(8, 16, 32, 64, 128), timing_repeats=20, metric_samples=10_000,
                     metric_sample_sizes=(500, 1_000, 2_000, 5_000, 10_000), se_draws=50, se_samples=1_000,
                     study_steps=20_000, study_eval_every=2_000, study_eval_samples=5_000, jpeg_per_class=60,
                     imagenet_width=64, imagenet_batch=64, imagenet_steps=300)),
    # smoke's sizes, the gpu profile's switches: what only a GPU exercises (bf16 autocast, compiling), quickly
    "gpu-smoke": replace(SMOKE, name="gpu-smoke", run=replace(SMOKE.run, amp="bf16", compile=True)),
}
# The profiles that run on a CUDA GPU when PyTorch sees one (`device_for`)
GPU_PROFILES = ("gpu", "gpu-smoke")


def active_profile() -> str:
    """The profile in force: ``$MINISAGAN_PROFILE`` if set, else picked from the hardware."""
    name = os.environ.get(ENV_VAR, "").strip().lower()
    if not name:
        return "gpu" if torch.cuda.is_available() else "cpu"
    if name not in PROFILES:
        raise ValueError(f"{ENV_VAR}={name!r} is not a profile; choose one of {', '.join(PROFILES)}")
    return name


def sizes(profile: str | None = None) -> Profile:
    """The record of ``profile`` (default: the active one): ``sizes().run.steps``,
    ``sizes("cpu").chapter.width``."""
    profile = profile or active_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[profile]


def device_for(profile: str | None = None) -> torch.device:
    """The one device rule: a CUDA GPU in the gpu and gpu-smoke profiles when there is one, the CPU otherwise."""
    profile = sizes(profile).name
    return torch.device("cuda" if profile in GPU_PROFILES and torch.cuda.is_available() else "cpu")


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
