"""What a run measures (Chapter 5's metrics), and where each number goes.

`EVAL_METRICS` is the one list of evaluation metrics: each has its eval.csv column and the panel of
curves.png that plots it. Adding a metric means computing it in `evaluate` and naming it there.

On the built-in data: FID, KID and IS on the shapes classifier's features, the consistency score,
the hues the objects cover and, for a conditional generator, its class accuracy (overall and per
class); with a file of Inception weights, the paper's FID, KID and IS as well.
"""

import json
import math
import os
from pathlib import Path

import torch
from torch import nn

from ..data import SHAPE_NAMES, consistency
from ..data.store import is_store
from ..errors import ConfigError
from ..imagenet import CACHE_ENV, cache_folder, in_run_protocol
from ..metrics import balanced_classes, class_accuracy, fidelity_metrics, hues_present, sample_images
from .logs import Metric


FID_PANEL = "FID (lower is better)"
EVAL_METRICS = (
    Metric("fid_shapes", FID_PANEL),
    Metric("kid_shapes", "KID (lower is better)"),
    Metric("is_shapes", "IS (higher is better)"),
    Metric("consistency", "consistency (higher is better)"),
    Metric("class_accuracy", "class accuracy (higher is better)"),
    *(Metric(f"accuracy_{name}", None) for name in SHAPE_NAMES),
    Metric("hues", "hues present (of 10)"),
    Metric("fid_inception", FID_PANEL),
    Metric("kid_inception", "KID (lower is better)"),
    Metric("is_inception", "IS (higher is better)"),
)
EVAL_COLUMNS = ["step", "seconds"] + [metric.column for metric in EVAL_METRICS]


def images_needed(shapes: bool, inception: bool) -> int:
    """The fewest images per set from which every metric can be computed: FID needs at least as many
    as its features have dimensions (128 on shape features, 2048 on Inception's), or its covariance
    is singular."""
    if inception:
        return 2048
    return 128 if shapes else 2


def real_cache(config) -> tuple[Path, str] | None:
    """Where the real images' Inception features of a prepared store are kept once computed
    (`cache_folder`/fidelity), named by the store's checksum (its manifest's sha256 of the images),
    the number of images and the seed that picks them: a store rebuilt at the same path with other
    images has another name. None for the built-in data and image folders (no checksum to key by)."""
    if not is_store(config.data):
        return None
    manifest = json.loads((Path(config.data).expanduser() / "manifest.json").read_text())
    checksum = str(manifest.get("sha256", ""))[:16]
    if not checksum:
        raise ConfigError(f"config key 'data': the store {config.data} has no checksum in its manifest.json; "
                          "prepare it again with this version")
    return cache_folder() / "fidelity", f"minisagan-real-{checksum}-n{config.eval_samples}-seed{config.seed}"


def check_cache(config) -> None:
    """Fail now, in one line, if the real images' features of ``config`` could not be cached."""
    cache = real_cache(config)
    if cache is not None:
        writable_folder(cache[0], CACHE_ENV)


def writable_folder(folder: Path, env: str) -> Path:
    """``folder``, created if need be, or a one-line error naming it and ``env``, which moves it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"the cache folder {str(folder)!r} is not writable ({err.strerror or err}); set {env} "
                          "to a folder this process may write") from None
    return folder


def protocol(config, num_images: int) -> dict:
    """How the run's Inception metrics are measured, written beside them (``RUN/protocol.json``):
    Chapter 7's `in_run_protocol` for this run's configuration."""
    return in_run_protocol(n=config.eval_samples, seed=config.seed, data=config.data, num_images=num_images,
                           weights=config.inception_weights, average=bool(config.ema_decay))


def evaluate(G: nn.Module, real: torch.Tensor, *, n: int, z_dim: int, num_classes: int, seed: int,
             shapes: bool, inception_weights: str = "", device: torch.device,
             progress: bool = False, real_cache: tuple[Path, str] | None = None,
             batch_size: int | None = None) -> dict[str, float]:
    """Metrics of ``n`` samples of G (classes balanced, noise from ``seed + 3``) against ``real``
    (uint8 [n, 3, R, R]), sampled and measured on ``device`` in batches of ``batch_size`` (default:
    256 on a GPU, 64 on the CPU). ``shapes``: the run trains on the built-in data, so the
    shape-feature metrics and consistency apply. ``real_cache``: where torch-fidelity keeps the real
    images' Inception features between evaluations. Returns {column: value} for the columns of
    `EVAL_METRICS`."""
    device = torch.device(device)
    batch_size = batch_size or (256 if device.type == "cuda" else 64)
    fake = sample_images(G, n, z_dim=z_dim, num_classes=num_classes, seed=seed + 3, device=device, progress=progress,
                         batch_size=batch_size)
    results = {}
    if shapes:
        domain = fidelity_metrics(fake, real, features="shapes", device=device, seed=seed, isc_splits=1, fid=n >= 128,
                                  batch_size=batch_size)
        pairs = consistency(fake)  # once: the score, and the objects whose hues are counted
        results.update(fid_shapes=domain.get("FID", math.nan), kid_shapes=domain["KID"], is_shapes=domain["IS"],
                       consistency=pairs.score)
        if num_classes:  # the classes sample_images asked for
            overall, per_class = class_accuracy(fake, balanced_classes(n, num_classes), num_classes=num_classes)
            results.update(class_accuracy=overall,
                           **{f"accuracy_{name}": float(a) for name, a in zip(SHAPE_NAMES, per_class.tolist())})
        results["hues"] = float(hues_present(fake, report=pairs))
    if inception_weights:
        paper = fidelity_metrics(fake, real, features="inception", weights=inception_weights, device=device,
                                 seed=seed, fid=n >= 2048, real_cache=real_cache, batch_size=batch_size)
        results.update(fid_inception=paper.get("FID", math.nan), kid_inception=paper["KID"],
                       is_inception=paper["IS"])
    return results


def fid_against_training_set(G: nn.Module, config, num_classes: int, seed: int,
                             device: torch.device) -> tuple[float, int]:
    """The paper's protocol (Chapter 7): Inception FID of ``config.eval_samples`` samples of G (noise
    from ``seed + 3``, as `evaluate` draws them) against the mean and covariance of every image of the
    run's prepared store (`minisagan.imagenet.store_statistics`, computed once and cached). Returns
    (FID, number of training images)."""
    from ..data.store import ImageStore
    from ..imagenet import feature_extractor, frechet_distance, generator_statistics, store_statistics

    if not is_store(config.data):
        raise ConfigError(f"--reference train: the run's data {config.data!r} is not a prepared store (minisagan "
                          "prepare); the whole-training-set statistics are computed from one")
    if not config.inception_weights:
        raise ConfigError("--reference train: pass --inception-weights PATH (Chapter 5 says where to get it)")
    if config.eval_samples < images_needed(False, True):
        raise ConfigError(f"--n: Inception FID needs at least {images_needed(False, True)} images (its feature "
                          f"dimension), got {config.eval_samples}")
    extractor, dim = feature_extractor("inception", config.inception_weights, device)
    batch = 250 if device.type == "cuda" else 50
    reference = store_statistics(ImageStore(config.data), "inception", device=device, batch_size=batch,
                                 extractor=(extractor, dim))
    samples = generator_statistics(G, config.eval_samples, z_dim=config.z_dim, num_classes=num_classes,
                                   seed=seed + 3, extractor=extractor, dim=dim, device=device, batch_size=batch)
    return frechet_distance(samples, reference), reference["n"]
