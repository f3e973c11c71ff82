"""The command line: ``minisagan train | resume | sample | evaluate`` (also ``python -m minisagan``).

Every key of `TrainConfig` is a flag (``--batch-size 64``, ``--lr-d 4e-4``); ``--config FILE`` reads
a .toml or .json file first, flags override it, and ``--profile`` picks the preset underneath.
"""

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from ..errors import CheckpointError, ConfigError, DataError, MissingWeightsError
from .config import TrainConfig


def _boolean(text: str) -> bool:
    words = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False, "off": False}
    if text.lower() not in words:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return words[text.lower()]


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "betas":
            parser.add_argument(flag, type=float, nargs=2, metavar=("BETA1", "BETA2"), default=None)
        elif isinstance(f.default, bool):
            parser.add_argument(flag, type=_boolean, default=None, metavar="true|false",
                                help=f"default {str(f.default).lower()} (the profile's preset may change it)")
        else:
            kind = {int: int, float: float}.get(type(f.default), str)
            parser.add_argument(flag, type=kind, default=None, metavar=f.name.upper(),
                                help=f"default {f.default!r} (the profile's preset may change it)")


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    if args.config:
        return TrainConfig.from_file(args.config, **overrides)
    return TrainConfig.for_profile(overrides.pop("profile", None), **overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minisagan", description="Train and sample the minisagan book's GANs.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="start a run (writes samples, curves, metrics, checkpoints)",
                                description="Start a training run in --run-dir.")
    train.add_argument("--config", type=Path, help="a .toml or .json file of config keys")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_flags(train)

    resume = commands.add_parser("resume", help="continue a run from its last checkpoint",
                                 description="Continue the run in RUN_DIR exactly where it stopped.")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--steps", type=int, help="train up to this many steps in all (default: the run's own)")
    resume.add_argument("--quiet", action="store_true")

    sample = commands.add_parser("sample", help="write a grid of samples from a checkpoint",
                                 description="Write an image grid from a run's generator.")
    sample.add_argument("checkpoint", type=Path, help="a checkpoint.pt, or the run folder holding it")
    sample.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", type=Path, default=Path("samples.png"))
    sample.add_argument("--raw", action="store_true", help="sample G itself, not its moving average")

    evaluate = commands.add_parser(
        "evaluate", help="measure a checkpoint: domain FID/KID/IS and consistency, Inception metrics",
        description="Sample the run's generator and compute its metrics against real images (Chapter 5). "
                    "Prints them and writes them as JSON.")
    evaluate.add_argument("checkpoint", type=Path, help="a checkpoint.pt, or the run folder holding it")
    evaluate.add_argument("--n", type=int, default=None, help="images per set (default: the run's eval_samples)")
    evaluate.add_argument("--inception-weights", default=None,
                          help="the Inception weights file: adds the paper's FID, KID and IS")
    evaluate.add_argument("--raw", action="store_true", help="measure G itself, not its moving average")
    evaluate.add_argument("--out", type=Path, default=None, help="JSON file (default: RUN/evaluation.json)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imported here so that `minisagan --help` answers without loading torch's models.
    from .loop import TrainingDiverged, resume, train

    try:
        if args.command == "train":
            run_dir = train(_config_from_args(args), progress=not args.quiet)
        elif args.command == "resume":
            run_dir = resume(args.run_dir, steps=args.steps, progress=not args.quiet)
        elif args.command == "sample":
            run_dir = _sample(args)
        else:
            run_dir = _evaluate(args)
    except (ConfigError, DataError, CheckpointError, FileExistsError, MissingWeightsError,
            TrainingDiverged, ValueError) as err:
        print(f"minisagan: error: {err}", file=sys.stderr)
        return 2
    print(f"minisagan: wrote {run_dir}")
    return 0


def _sample(args) -> Path:
    import torch
    from torchvision.utils import save_image

    from ..figures import to_grid
    from .models import load_generator

    G, config, num_classes = load_generator(_checkpoint_path(args.checkpoint), average=not args.raw)
    z = torch.randn(args.n, config.z_dim, generator=torch.Generator().manual_seed(args.seed))
    y = torch.arange(args.n) % num_classes if num_classes else None  # one column per class
    with torch.no_grad():
        save_image(to_grid(G(z, y), nrow=num_classes or 8), args.out)
    return args.out


def _checkpoint_path(path: Path) -> Path:
    return path / "checkpoint.pt" if path.is_dir() else path


def _evaluate(args) -> Path:
    import json

    import torch

    from .evaluation import evaluate
    from .models import load_generator
    from .stream import evaluation_images, make_dataset

    path = _checkpoint_path(args.checkpoint)
    G, config, num_classes = load_generator(path, average=not args.raw)
    changes = {"eval_samples": args.n} if args.n else {}
    if args.inception_weights:
        from ..metrics import inception_weights

        inception_weights(args.inception_weights)  # a missing or wrong file fails before any sampling
        changes["inception_weights"] = args.inception_weights
    config = config.replace(**changes)
    if config.data != "shapes" and not config.inception_weights:
        raise ConfigError("config key 'inception_weights': a run on your own images is measured with the "
                          "Inception features only; pass --inception-weights PATH (Chapter 5 says where to get it)")
    dataset, _ = make_dataset(config.data, config.resolution, config.data_size, config.seed)
    real = evaluation_images(config.data, dataset, config.eval_samples, config.resolution, config.seed)
    results = evaluate(G, real, n=config.eval_samples, z_dim=config.z_dim, num_classes=num_classes,
                       seed=config.seed, shapes=config.data == "shapes", inception_weights=config.inception_weights,
                       device=torch.device("cpu"), progress=True)
    for key, value in results.items():
        print(f"{key:>14}: {value:.4f}")
    out = args.out or path.parent / "evaluation.json"
    out.write_text(json.dumps({"checkpoint": str(path), "images": config.eval_samples, **results}, indent=2) + "\n")
    return out
