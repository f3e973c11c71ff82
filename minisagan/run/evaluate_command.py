"""``minisagan evaluate CHECKPOINT``: sample a run's generator and measure it against real images
(Chapter 5's metrics; with ``--reference train``, Chapter 7's statistics of the whole training set),
print the figures and write them as JSON beside the checkpoint."""

import argparse
import json
import math
from pathlib import Path

from ..errors import ConfigError
from .config import TrainConfig


def add_command(commands, common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser(
        "evaluate", parents=[common], help="measure a checkpoint: domain FID/KID/IS and consistency, Inception "
        "metrics", description="Sample the run's generator and compute its metrics against real images "
        "(Chapter 5). Prints them and writes them as JSON.")
    evaluate.add_argument("checkpoint", type=Path, help="a checkpoint.pt, or the run folder holding it")
    evaluate.add_argument("--n", type=int, default=None, help="images per set (default: the run's eval_samples)")
    evaluate.add_argument("--inception-weights", default=None,
                          help="the Inception weights file: adds the paper's FID, KID and IS")
    evaluate.add_argument("--raw", action="store_true", help="measure G itself, not its moving average")
    evaluate.add_argument("--device", default="auto",
                          help="'auto' (default: the device rule, a CUDA GPU in the gpu profile when there is one), "
                               "'cpu', 'cuda' or 'cuda:N'; on a GPU the samples and features go in batches of 256")
    evaluate.add_argument("--reference", choices=("sample", "train"), default="sample",
                          help="FID's real images: 'sample' (default: N drawn with the run's seed, as in eval.csv) or "
                               "'train' (every image of the run's store, statistics computed once and cached: the "
                               "paper's protocol with --n 50000; Inception FID only, needs --inception-weights)")
    evaluate.add_argument("--seed", type=int, default=None,
                          help="seed of the samples' noise (default: the run's seed, as in eval.csv); another "
                               "seed measures how much the figures move between two evaluations")
    evaluate.add_argument("--out", type=Path, default=None, help="JSON file (default: RUN/evaluation.json; for a "
                          "kept checkpoints/step_N.pt, checkpoints/step_N.evaluation.json)")


def checked_out(path: Path) -> Path:
    if not path.parent.is_dir():
        raise ConfigError(f"--out {str(path)!r}: the folder {str(path.parent)!r} does not exist")
    return path


def checkpoint_path(path: Path) -> Path:
    return path / "checkpoint.pt" if path.is_dir() else path


def run(args) -> Path:
    from .evaluation import check_cache, evaluate, fid_against_training_set, images_needed, real_cache
    from .models import load_generator

    path = checkpoint_path(args.checkpoint)
    default = "evaluation.json" if path.name == "checkpoint.pt" else f"{path.stem}.evaluation.json"  # kept ones
    out = checked_out(args.out or path.parent / default)
    if args.n is not None and args.n < 1:
        raise ConfigError(f"--n: the number of images must be at least 1 (got {args.n})")
    from ..profiles import active_profile
    from .distributed import resolve_device

    device = resolve_device(args.device, active_profile())  # a bad name or a missing GPU: one line, now
    G, config, num_classes = load_generator(path, device=str(device), average=not args.raw)
    changes = {"eval_samples": args.n} if args.n is not None else {}
    if args.inception_weights:
        from ..metrics import inception_weights

        inception_weights(args.inception_weights)  # a missing or wrong file fails before any sampling
        changes["inception_weights"] = args.inception_weights
    config = config.replace(**changes)
    seed = config.seed if args.seed is None else args.seed
    if args.reference == "train":  # the paper's protocol: its checks are fid_against_training_set's
        fid, n_reference = fid_against_training_set(G, config, num_classes, seed, device)
        return _report({"fid_inception_train": fid}, config, path, out, seed,
                       reference=f"every training image of {config.data} ({n_reference})")
    shapes = config.on_shapes
    if not shapes and not config.inception_weights:
        raise ConfigError("config key 'inception_weights': a run on your own images is measured with the "
                          "Inception features only; pass --inception-weights PATH (Chapter 5 says where to get it)")
    if config.inception_weights:
        check_cache(config)
    needed = images_needed(shapes, bool(config.inception_weights))
    if config.eval_samples < needed:
        raise ConfigError(f"--n: these metrics need at least {needed} images per set (FID's feature dimension), "
                          f"got {config.eval_samples}")
    from .stream import evaluation_images, make_dataset

    dataset, _ = make_dataset(config.data, config.resolution, config.data_size, config.seed)
    real = evaluation_images(config.data, dataset, config.eval_samples, config.resolution, config.seed)
    # the real images' Inception features: the run's own cache (the same n and seed), computed once
    results = evaluate(G, real, n=config.eval_samples, z_dim=config.z_dim, num_classes=num_classes,
                       seed=seed, shapes=shapes, inception_weights=config.inception_weights, device=device,
                       progress=True, real_cache=real_cache(config) if config.inception_weights else None)
    return _report(results, config, path, out, seed, reference=f"{config.eval_samples} images drawn (seed "
                   f"{config.seed})")


def _report(results: dict[str, float], config: TrainConfig, path: Path, out: Path, seed: int, reference: str) -> Path:
    for key, value in results.items():
        print(f"{key:>14}: {value:.4f}")
    report = {key: value if math.isfinite(value) else None for key, value in results.items()}  # JSON has no NaN
    out.write_text(json.dumps({"checkpoint": str(path), "images": config.eval_samples, "seed": seed,
                               "reference": reference, **report}, indent=2, allow_nan=False) + "\n")
    return out
