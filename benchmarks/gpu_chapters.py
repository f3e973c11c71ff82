"""Every chapter of the book run as a plain Python script, without Jupyter: for a GPU machine that has
PyTorch but no Jupyter, no jupytext and no project environment (issue 26).

Two steps, on two machines:

    # here, with the project's venv (jupytext): each chapter into DIR/NN_name.py (py:percent)
    .venv/bin/python benchmarks/gpu_chapters.py --convert chapters_py
    # there, from the repository's root: each script in its own process, in a profile
    PYTHONPATH=$PWD python3 benchmarks/gpu_chapters.py --run chapters_py --profile gpu-smoke --out results.json
    # a CPU check of both steps, Chapter 0 only (about 15 s)
    .venv/bin/python benchmarks/gpu_chapters.py --convert /tmp/ch --run /tmp/ch --dry-run --out /tmp/ch.json

``--chapters 00,03`` picks chapters by number (both steps). Each script runs as ``make book`` runs a
notebook (`minisagan.bookbuild.notebooks.execute`): in the book's folder, with ``$MINISAGAN_PROFILE``
set, ``MPLBACKEND=Agg`` and ``MINISAGAN_STATIC=1`` (Chapter 8 draws figures instead of widgets).
What a notebook kernel provides and a script lacks, this file's ``--exec`` mode provides (each
chapter's process starts in it, then runs the script as ``__main__``): a ``display`` builtin, a
stand-in ``IPython.display`` where IPython is not installed (Chapter 8 imports it; objects are
printed, nothing is saved), and ``plt.show()`` closing the figures it would have shown (the inline
backend does, so a chapter's figures do not pile up). Magics are commented out by jupytext (the
chapters have none).

The results file (``--out``), rewritten after each chapter so a killed run keeps what was done:
the profile, the machine, and per chapter its seconds, ``ok``, ``failed``, ``timeout`` or
``skipped``, the lines its chapter clocks printed (``[profile ...] ... took ...``) and, unless ok,
the end of its stderr. ``--timeout`` bounds each chapter, ``--budget`` all of them (a chapter gets
what is left, and the rest are skipped once it is spent): prefer it to killing the runner from
outside, which loses the chapter in progress (that chapter's process dies with the runner, on Linux).
"""

import argparse
import builtins
import json
import math
import os
import platform
import runpy
import signal
import subprocess
import sys
import time
import types
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
TAIL_LINES = 30  # of stderr, kept for a failed chapter
MIN_CHAPTER_SECONDS = 10  # under a budget: less than this left, the remaining chapters are skipped
PR_SET_PDEATHSIG = 1  # Linux prctl option: a signal for this process when its parent dies
CLOCK_PREFIX = "[profile "  # the lines minisagan.profiles.chapter_clock prints


# --- here: the chapters as scripts ------------------------------------------------------------------

def chapter_paths(book: Path = BOOK, numbers: list[str] | None = None) -> list[Path]:
    """The chapters ``NN_name.md`` of ``book`` in order, or those whose number is in ``numbers``."""
    chapters = sorted(book.glob("[0-9][0-9]_*.md"))
    if numbers:
        unknown = set(numbers) - {path.name[:2] for path in chapters}
        if unknown:
            raise SystemExit(f"no chapter numbered {', '.join(sorted(unknown))} in {book}")
        chapters = [path for path in chapters if path.name[:2] in numbers]
    return chapters


def convert(chapters: list[Path], out: Path) -> list[Path]:
    """Write each MyST chapter as ``out/NN_name.py`` in jupytext's percent format: one ``# %%`` per
    cell, prose as comments, magics commented out."""
    import jupytext

    out.mkdir(parents=True, exist_ok=True)
    scripts = []
    for chapter in chapters:
        script = out / (chapter.stem + ".py")
        script.write_text(jupytext.writes(jupytext.read(chapter), fmt="py:percent"), encoding="utf-8")
        scripts.append(script)
    return scripts


# --- there: each script in its own process ----------------------------------------------------------

def chapter_env(profile: str) -> dict[str, str]:
    """The environment of a chapter's process: the book builds' settings, the repository importable."""
    env = dict(os.environ, MINISAGAN_PROFILE=profile, MPLBACKEND="Agg", MINISAGAN_STATIC="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return env


def run_chapter(script: Path, profile: str, timeout: float, cwd: Path = BOOK, log=None) -> dict:
    """Run one chapter script in a fresh process; return its record (never raises for the chapter's sake)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--exec", str(script.resolve())]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=chapter_env(profile), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        status = "ok" if process.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: DataLoader and compile workers too
        except ProcessLookupError:  # it ended just now
            pass
        stdout, stderr = process.communicate()
        status = "timeout"
    record = {"chapter": script.stem, "status": status, "seconds": round(time.perf_counter() - start, 1),
              "returncode": process.returncode,
              "clocks": [line.strip() for line in stdout.splitlines() if line.startswith(CLOCK_PREFIX)]}
    if status != "ok":
        record["stderr_tail"] = "\n".join(stderr.rstrip().splitlines()[-TAIL_LINES:])
    if log is not None:
        log.write(f"===== {script.stem}: {status} in {record['seconds']} s\n{stdout}\n----- stderr\n{stderr}\n")
        log.flush()
    return record


def machine() -> dict:
    """What ran the chapters: Python, PyTorch, the GPU (if any), the processor count."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": gpu, "cpus": os.cpu_count(), "host": platform.node()}


def write_json(path: Path, data: dict) -> None:
    """Replace ``path`` in one step, so a kill leaves the last whole file."""
    from minisagan.checkpoint import write_text_atomically  # the repository's root is on PYTHONPATH

    write_text_atomically(path, json.dumps(data, indent=2) + "\n")


def run_all(scripts: list[Path], profile: str, out: Path, timeout: float, log_path: Path | None = None,
            budget: float | None = None) -> dict:
    """Run every script in turn (a failure does not stop the rest); the results file after each.
    ``budget``: seconds for all of them; a chapter gets at most what is left, and once less than
    `MIN_CHAPTER_SECONDS` is left the rest are recorded as ``skipped``."""
    start = time.perf_counter()
    results = {"profile": profile, "date": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}",
               "command": " ".join([Path(sys.executable).name, *sys.argv]), "timeout_s": timeout,
               "budget_s": budget, "machine": machine(), "chapters": [], "total_seconds": 0.0}
    write_json(out, results)
    log = open(log_path, "w", encoding="utf-8") if log_path else None
    try:
        for script in scripts:
            left = math.inf if budget is None else budget - (time.perf_counter() - start)
            if left < MIN_CHAPTER_SECONDS:
                results["chapters"].append({"chapter": script.stem, "status": "skipped", "seconds": 0.0})
                write_json(out, results)
                print(f"{script.stem}: skipped, {max(left, 0):.0f} s of the budget left", flush=True)
                continue
            print(f"{script.stem}: running in the {profile} profile ...", flush=True)
            record = run_chapter(script, profile, min(timeout, left), log=log)
            results["chapters"].append(record)
            results["total_seconds"] = round(sum(r["seconds"] for r in results["chapters"]), 1)
            write_json(out, results)
            print(f"{script.stem}: {record['status']} in {record['seconds']} s", flush=True)
            if record["status"] != "ok":
                print(record["stderr_tail"], flush=True)
    finally:
        if log is not None:
            log.close()
    return results


# --- inside a chapter's process: what a notebook kernel would provide -----------------------------

class _Shown:
    """A rich object where IPython is absent (``HTML(...)``): keeps its data, prints as its size."""

    def __init__(self, data=None, **kwargs):
        self.data = data

    def __repr__(self):
        return f"<{type(self).__name__}: {len(str(self.data or ''))} characters>"


def _stand_in_ipython() -> types.ModuleType:
    """``IPython`` with the ``display`` module's few names the chapters import. Libraries that find
    ``IPython`` imported probe it (matplotlib, tqdm): ``get_ipython`` answers None, as IPython does
    outside a shell, and ``version_info`` is older than any release, so none relies on newer APIs."""
    package, shown = types.ModuleType("IPython"), types.ModuleType("IPython.display")
    for name in ("HTML", "Markdown", "Image", "SVG", "Javascript"):
        setattr(shown, name, type(name, (_Shown,), {}))
    shown.display = _print_display
    package.display = shown
    package.get_ipython = lambda: None
    package.version_info = (0, 0, 0, "stand-in")
    return package


def _print_display(*objects, **kwargs):
    for obj in objects:
        print(repr(obj))


def _close_on_show(*args, **kwargs):
    import matplotlib.pyplot as plt

    plt.close("all")


def _die_with_parent() -> None:
    """A chapter runs in its own session (so a timeout kills its workers too); if the runner itself
    is killed, it must not run on, holding the GPU. Linux only; elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the runner was gone before the request
        os._exit(1)


def exec_chapter(script: Path) -> None:
    """Run ``script`` as ``__main__`` the way a notebook kernel would run its cells."""
    _die_with_parent()
    try:
        from IPython.display import display
    except ImportError:
        package = _stand_in_ipython()
        sys.modules.update({"IPython": package, "IPython.display": package.display})
        display = _print_display
    builtins.display = display
    import matplotlib.pyplot as plt

    plt.show = _close_on_show
    sys.path[0] = ""  # a kernel imports from its working folder, not from benchmarks/
    sys.argv = [str(script)]
    runpy.run_path(str(script), run_name="__main__")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--convert", type=Path, metavar="DIR", help="write the chapters as scripts into DIR")
    parser.add_argument("--run", type=Path, metavar="DIR", help="run the chapter scripts of DIR")
    parser.add_argument("--profile", default="gpu-smoke", help="MINISAGAN_PROFILE of every chapter (default gpu-smoke)")
    parser.add_argument("--chapters", help="comma-separated chapter numbers, e.g. 00,03 (default: all)")
    parser.add_argument("--out", type=Path, default=Path("gpu_chapters.json"), help="the results file (--run)")
    parser.add_argument("--log", type=Path, help="also write every chapter's stdout and stderr to this file")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per chapter before it is killed")
    parser.add_argument("--budget", type=float, help="seconds for all chapters: the rest are skipped once it is spent")
    parser.add_argument("--dry-run", action="store_true", help="Chapter 0 only, unless --chapters says otherwise")
    parser.add_argument("--exec", type=Path, help=argparse.SUPPRESS)  # the chapter's own process
    args = parser.parse_args(argv)
    if args.exec:
        exec_chapter(args.exec)
        return 0
    if not (args.convert or args.run):
        parser.error("give --convert DIR, --run DIR or both")
    numbers = args.chapters.split(",") if args.chapters else (["00"] if args.dry_run else None)
    if args.convert:
        scripts = convert(chapter_paths(BOOK, numbers), args.convert)
        print(f"converted {len(scripts)} chapter(s) into {args.convert}")
    if args.run:
        scripts = sorted(args.run.glob("[0-9][0-9]_*.py"))
        if numbers:
            scripts = [s for s in scripts if s.name[:2] in numbers]
        if not scripts:
            parser.error(f"no chapter scripts in {args.run}: convert them first (--convert)")
        results = run_all(scripts, args.profile, args.out, args.timeout, args.log, args.budget)
        failed = [r["chapter"] for r in results["chapters"] if r["status"] != "ok"]
        print(f"{len(scripts) - len(failed)}/{len(scripts)} chapters ran ok in {results['total_seconds']} s; "
              f"results in {args.out}" + (f"; not ok: {', '.join(failed)}" if failed else ""))
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
