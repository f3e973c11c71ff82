"""``minisagan curves RUN [RUN ...]``: the runs' FID and IS against iterations, beside the paper's and
the public reproductions' (Chapter 7's `minisagan.imagenet.curves_figure`), and the best kept
checkpoint of each run by FID. ``--evaluate`` first evaluates every kept checkpoint that has no
evaluation yet, as ``minisagan evaluate`` does (on the GPU by the device rule)."""

import argparse
from pathlib import Path

from ..errors import ConfigError
from . import evaluate_command


def add_command(commands, common: argparse.ArgumentParser) -> None:
    curves = commands.add_parser(
        "curves", parents=[common], help="draw runs' FID and IS against iterations beside the paper's; "
        "name each run's best checkpoint", description=__doc__.split("\n\n")[0].replace("``", ""))
    curves.add_argument("runs", nargs="+", type=Path, help="run folders (their eval.csv and checkpoints/)")
    curves.add_argument("--out", type=Path, default=Path("curves_imagenet.png"),
                        help="the figure (default curves_imagenet.png)")
    curves.add_argument("--features", choices=("inception", "shapes"), default="inception",
                        help="whose FID and IS: 'inception' (default; the paper's points are drawn beside) or "
                             "'shapes' (runs on the built-in data)")
    curves.add_argument("--evaluate", action="store_true",
                        help="first evaluate each kept checkpoint without a checkpoints/step_N.evaluation.json")
    curves.add_argument("--n", type=int, default=50_000, help="with --evaluate: samples (default 50000, the paper's)")
    curves.add_argument("--reference", choices=("sample", "train"), default="train",
                        help="with --evaluate: FID's real images (default train: every training image)")
    curves.add_argument("--device", default="auto", help="with --evaluate: as for evaluate (default auto)")
    curves.add_argument("--inception-weights", default=None, help="with --evaluate: the Inception weights file")


def run(args) -> Path:
    from ..imagenet import best_checkpoint, curves_figure

    for folder in args.runs:
        if not folder.is_dir():
            raise ConfigError(f"{str(folder)!r} is not a run folder")
    evaluate_command.checked_out(args.out)
    if args.evaluate:
        if not args.inception_weights:
            raise ConfigError("--evaluate: pass --inception-weights PATH (Chapter 5 says where to get it)")
        for folder in args.runs:
            for kept in sorted((folder / "checkpoints").glob("step_*.pt")):
                if not kept.with_suffix(".evaluation.json").exists():
                    evaluate_command.run(argparse.Namespace(
                        checkpoint=kept, n=args.n, reference=args.reference, device=args.device,
                        inception_weights=args.inception_weights, raw=False, seed=None, out=None))
    for folder in args.runs:
        best = best_checkpoint(folder, args.features)
        print(f"{folder}: " + (f"best kept checkpoint {best[0].name}, FID {best[1]:.2f}" if best else
                               "no evaluated kept checkpoint (minisagan curves --evaluate, or minisagan evaluate)"))
    figure = curves_figure(args.runs, args.features)
    figure.savefig(args.out, dpi=120, bbox_inches="tight")
    return args.out
