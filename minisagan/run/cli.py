"""The command line: ``minisagan train | resume | sample | evaluate | curves | prepare | grade`` (also ``python -m minisagan``).

Every key of `TrainConfig` is a flag (``--batch-size 64``, ``--lr-d 4e-4``); ``--config FILE`` reads
a .toml or .json file first, flags override it, and ``--profile`` picks the preset underneath;
``train --help`` shows each key's value in a run without flags here (`TrainConfig.for_profile`).
``resume`` takes the keys that may change mid-run. Every user's mistake, operating-system error
(an unwritable folder, a full disk) and Ctrl-C ends in one line on stderr and an exit code (2: the
input, 1: the system, 130: interrupted); ``--debug`` shows the traceback instead.
"""

import argparse
import os
import re
import sys
import typing
from dataclasses import fields
from pathlib import Path

from ..errors import ConfigError, TrainingDiverged
from ..profiles import ENV_VAR
from . import curves, evaluate_command
from .config import RESUMABLE, TrainConfig
from .evaluate_command import checked_out, checkpoint_path

NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _boolean(text: str) -> bool:
    words = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False, "off": False}
    if text.lower() not in words:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return words[text.lower()]


def _add_config_flags(parser: argparse.ArgumentParser, defaults: TrainConfig | None, keys=None) -> None:
    """A flag per key of `TrainConfig` (or of ``keys``), whose help shows ``defaults``' value: the
    configuration a run without flags gets here (None: the help shows no values)."""
    for f in fields(TrainConfig):
        if keys is not None and f.name not in keys:
            continue
        flag = "--" + f.name.replace("_", "-")
        shown = None if defaults is None else getattr(defaults, f.name)
        text = None if shown is None else "default " + _shown(shown).replace("%", "%%")
        kind = next(t for t in typing.get_args(f.type) or (f.type,) if t is not type(None))  # unwrap "int | None"
        if f.name == "betas":
            parser.add_argument(flag, type=float, nargs=2, metavar=("BETA1", "BETA2"), default=None, help=text)
        elif kind is bool:
            parser.add_argument(flag, type=_boolean, default=None, metavar="true|false", help=text)
        else:
            parser.add_argument(flag, type=kind if kind in (int, float) else str, default=None,
                                metavar=f.name.upper(), help=text)


def _shown(value) -> str:
    """A value as it is typed on the command line: ``true``, ``0.0 0.9``, ``none`` for an empty path."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return " ".join(map(str, value))
    return str(value) if value != "" else "none"


def _defaults_here() -> tuple[TrainConfig | None, str]:
    """What ``minisagan train`` without flags runs on this machine (`TrainConfig.for_profile`, as
    `_config_from_args` builds it), and the sentence of the help that names its profile and why."""
    try:
        defaults = TrainConfig.for_profile()
    except ValueError as err:  # $MINISAGAN_PROFILE names no profile; train says so in one line too
        return None, f"no defaults shown ({err})."
    why = (f"set by ${ENV_VAR}" if os.environ.get(ENV_VAR, "").strip()
           else "picked by the hardware: " + ("a CUDA GPU" if defaults.profile == "gpu" else "no CUDA GPU"))
    return defaults, (f"defaults: the {defaults.profile} profile ({why}); --profile picks another profile's, "
                      "and --preset, then --config, then the flags go on top.")


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    preset = getattr(args, "preset", None)
    if args.config:
        return TrainConfig.from_file(args.config, preset=preset, **overrides)
    return TrainConfig.for_profile(overrides.pop("profile", None), preset=preset, **overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minisagan", description="Train and sample the minisagan book's GANs.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)
    defaults, profile_line = _defaults_here()

    train = commands.add_parser("train", parents=[common], help="start a run (writes samples, curves, metrics, "
                                "checkpoints)", description=f"Start a training run in --run-dir; {profile_line}")
    train.add_argument("--config", type=Path, help="a .toml or .json file of config keys")
    train.add_argument("--preset", default=None,
                       help="a named recipe under the flags: 'paper' (the paper's optimization at the profile's "
                            "size) or 'imagenet128' (the paper's ImageNet model, Chapter 7)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the files of an earlier run in --run-dir (refused otherwise)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_flags(train, defaults)

    resume = commands.add_parser("resume", parents=[common], help="continue a run from its last checkpoint",
                                 description="Continue the run in RUN_DIR exactly where it stopped. The keys "
                                             "below may change (each change is recorded in RUN_DIR/changes.csv); "
                                             "one not given keeps the run's value.")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--quiet", action="store_true")
    _add_config_flags(resume, None, keys=RESUMABLE)

    sample = commands.add_parser("sample", parents=[common], help="write a grid of samples from a checkpoint",
                                 description="Write an image grid from a run's generator.")
    sample.add_argument("checkpoint", type=Path, help="a checkpoint.pt, or the run folder holding it")
    sample.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", type=Path, default=Path("samples.png"))
    sample.add_argument("--raw", action="store_true", help="sample G itself, not its moving average")

    evaluate_command.add_command(commands, common)

    prepare = commands.add_parser(
        "prepare", parents=[common], help="turn a folder of images (ImageNet's train/) into a store that "
        "training reads fast", description="Crop each image of SOURCE/<class>/<images> to its centred square, "
        "resize it and write them all as one uint8 store in TARGET (Chapter 7); `minisagan train --data TARGET` "
        "reads it. Started again after an interruption, it continues.")
    prepare.add_argument("source", type=Path, help="a folder laid out as SOURCE/<class_name>/<image files>")
    prepare.add_argument("target", type=Path, help="the store's folder (must not exist)")
    prepare.add_argument("--resolution", type=int, default=128, choices=(32, 64, 128), help="default 128")
    prepare.add_argument("--workers", type=int, default=None, help="processes (default: every CPU core)")
    prepare.add_argument("--quiet", action="store_true", help="no progress bar")

    curves.add_command(commands, common)
    grade = commands.add_parser(
        "grade", parents=[common], help="run students' assignment notebooks (or folders of them) and score each "
        "exercise", description="Run each notebook (written by `make assignments`, then answered) in a fresh kernel, "
        "check every exercise of its chapter with the book's checkers, print a table and write a JSON report; with "
        "--out, also a student x exercise CSV, a feedback file per student, the answers in words and a Canvas "
        "import. Exit status: 0 when every exercise passed, 1 when one did not, 2 when a file could not be graded.")
    grade.add_argument("notebooks", nargs="+", type=Path, help="the students' .ipynb files, or folders of them")
    grade.add_argument("--timeout", type=int, default=60, help="seconds each answer and check cell may run (default 60)")
    grade.add_argument("--book-timeout", type=int, default=600,
                       help="seconds each of the chapter's own cells may run (default 600)")
    grade.add_argument("-j", "--jobs", type=int, default=1, help="notebooks graded at once (default 1)")
    grade.add_argument("--chapter", type=int, default=None,
                       help="the chapter the class is graded on (default: the most common in a folder)")
    grade.add_argument("--profile", default="smoke", choices=("smoke", "cpu", "gpu"),
                       help="the profile the notebooks run in (default smoke: the exercises need no training)")
    grade.add_argument("--json", type=Path, default=None,
                       help="the report (default grades.json, or OUT/grades.json with --out)")
    grade.add_argument("--out", type=Path, default=None,
                       help="a folder for the class's files: grades.csv, canvas.csv, written.md, feedback/ "
                            "(default: grades/ when a folder is graded, none otherwise)")
    return parser


def glue_negative_numbers(argv: list[str]) -> list[str]:
    """``--lr-d -1e-4`` -> ``--lr-d=-1e-4``: argparse takes ``-1e-4`` for an option, not a value."""
    out = []
    for token in argv:
        if out and NUMBER.match(token) and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(glue_negative_numbers(list(sys.argv[1:] if argv is None else argv)))
    commands = {"train": _train, "resume": _resume, "sample": _sample, "evaluate": evaluate_command.run, "prepare": _prepare,
                "grade": _grade, "curves": curves.run}
    try:
        written = commands[args.command](args)
        if args.command == "grade":
            return written  # its exit status: the table and the report are printed
    except (Exception, KeyboardInterrupt) as err:
        if args.debug:
            raise
        message, code = _explain(err, args)
        if message is None:  # not the user's mistake nor the system's: a bug, keep its traceback
            raise
        print(f"minisagan: {message}", file=sys.stderr)
        return code
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun: one line, not one per process
        print(f"minisagan: wrote {written}")
    return 0


def _explain(err: BaseException, args) -> tuple[str | None, int]:
    """One line and an exit code for an error a user can act on; (None, 1) for anything else."""
    from .run_folder import RunFolderBusy

    run_dir = getattr(args, "run_dir", None)
    if isinstance(err, KeyboardInterrupt):
        where = f"; continue with: minisagan resume {run_dir}" if run_dir else ""
        return f"interrupted{where}", 130
    if isinstance(err, (ValueError, FileExistsError, RunFolderBusy, TrainingDiverged)):
        return f"error: {err}", 2  # ConfigError, DataError, CheckpointError are ValueErrors
    if isinstance(err, FileNotFoundError):  # MissingWeightsError and its kin name the file themselves
        return f"error: {err}", 2
    if isinstance(err, OSError):
        what = f"{err.strerror or err}: {err.filename}" if err.filename else str(err)
        return f"error: {what}", 1
    return None, 1


def _train(args) -> Path:
    from .loop import train

    return train(_config_from_args(args), overwrite=args.overwrite, progress=not args.quiet)


def _resume(args) -> Path:
    from .loop import resume

    changes = {key: getattr(args, key) for key in RESUMABLE if getattr(args, key) is not None}
    return resume(args.run_dir, progress=not args.quiet, **changes)


def _prepare(args) -> Path:
    from ..data.prepare import prepare

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: must be at least 1 (got {args.workers})")
    prepare(args.source, args.target, args.resolution, args.workers, progress=not args.quiet)
    return args.target


def _sample(args) -> Path:
    if args.n < 1:
        raise ConfigError(f"--n: the number of images must be at least 1 (got {args.n})")
    out = checked_out(args.out)

    import torch
    from torchvision.utils import save_image

    from ..figures import to_grid
    from ..metrics import balanced_classes
    from .models import load_generator

    G, config, num_classes = load_generator(checkpoint_path(args.checkpoint), average=not args.raw)
    z = torch.randn(args.n, config.z_dim, generator=torch.Generator().manual_seed(args.seed))
    y = balanced_classes(args.n, num_classes) if num_classes else None  # one column per class
    with torch.no_grad():
        save_image(to_grid(G(z, y), nrow=num_classes or 8), out)
    return out


def _grade(args) -> int:
    from ..exercises.classroom import grade_all

    out = args.out if args.out is not None else Path("grades") if any(p.is_dir() for p in args.notebooks) else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    report = args.json or (out / "grades.json" if out is not None else Path("grades.json"))
    return grade_all(args.notebooks, timeout=args.timeout, book_timeout=args.book_timeout, profile=args.profile,
                     report=report, jobs=args.jobs, chapter=args.chapter, out=out)
