"""The chapters as notebooks: for readers and for CI's output checks.

The chapters are MyST markdown (``book/NN_*.md``), paired through jupytext. This tool makes:

- ``export``: plain ``.ipynb`` copies, solutions included, for readers who open them in Jupyter or
  Colab (``notebooks/``). Students get theirs from `assignments` (``make assignments``) instead.
- ``reference``: each chapter executed in the smoke profile, saved with its text outputs as
  ``tests/notebooks/NN_*.ipynb``. nbval re-runs these and compares every output not tagged
  ``nbval-ignore-output``, so a wrong number fails CI, not only an exception. Images are dropped
  from the saved outputs (nbval does not compare them) to keep the files small.
- ``check``: fails when a reference notebook's code cells differ from its chapter's (run
  ``make reference``); prose may change without re-running.
"""

import argparse
import os
import sys
from pathlib import Path

import jupytext
import nbformat

from .mirror import chapter_paths
from ..profiles import ENV_VAR

REFERENCE_DIR = Path("tests") / "notebooks"
KEPT_OUTPUT_TYPES = ("text/plain",)


def _code_cells(notebook) -> list[tuple[str, tuple[str, ...]]]:
    """What nbval runs and how: each code cell's source and tags (prose does not matter to it)."""
    return [(c.source.strip(), tuple(c.get("metadata", {}).get("tags", [])))
            for c in notebook.cells if c.cell_type == "code"]


def execute(chapter: Path, profile: str = "smoke", timeout: int = 1200, extra_cells: list | None = None):
    """Run a chapter top to bottom in a fresh kernel (in the book's folder) and return the notebook.

    ``extra_cells`` run after the chapter's own, in the same kernel (to save what it computed)."""
    from nbclient import NotebookClient

    notebook = jupytext.read(chapter)
    notebook.cells += extra_cells or []
    os.environ[ENV_VAR] = profile  # the kernel inherits it
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(chapter.parent)}}).execute()
    return notebook


def strip_for_reference(notebook):
    """Keep text outputs only; drop images and execution metadata that change from run to run."""
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            if "data" in output:
                output["data"] = {k: v for k, v in output["data"].items() if k in KEPT_OUTPUT_TYPES}
            if output.get("output_type") == "display_data":
                output["metadata"] = {}
    return notebook


def write_references(root: Path, chapters: list[Path] | None = None) -> list[Path]:
    written = []
    for chapter in chapters or chapter_paths(root):
        notebook = strip_for_reference(execute(chapter))
        path = root / REFERENCE_DIR / (chapter.stem + ".ipynb")
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, path)
        written.append(path)
        print(f"reference: wrote {path.relative_to(root)}")
    return written


def check_references(root: Path) -> list[str]:
    """Problems: a chapter without a reference notebook, or whose cells differ from it."""
    problems = []
    for chapter in chapter_paths(root):
        path = root / REFERENCE_DIR / (chapter.stem + ".ipynb")
        if not path.exists():
            problems.append(f"{path.relative_to(root)} is missing: run `make reference`")
        elif _code_cells(nbformat.read(path, as_version=4)) != _code_cells(jupytext.read(chapter)):
            problems.append(f"{path.relative_to(root)} is older than {chapter.relative_to(root)}: run `make reference`")
    known = {chapter.stem for chapter in chapter_paths(root)}
    for path in sorted((root / REFERENCE_DIR).glob("*.ipynb")):
        if path.stem not in known:
            problems.append(f"{path.relative_to(root)} has no chapter any more: delete it")
    return problems


def export(root: Path, out: Path) -> list[Path]:
    """Write each chapter as an .ipynb without outputs, for Jupyter and Colab."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for chapter in chapter_paths(root):
        path = out / (chapter.stem + ".ipynb")
        jupytext.write(jupytext.read(chapter), path, fmt="ipynb")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The chapters as notebooks.")
    parser.add_argument("command", choices=["export", "reference", "check"])
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, help="output folder (export)")
    parser.add_argument("chapters", nargs="*", type=Path, help="reference: only these chapters")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.command == "export":
        paths = export(root, args.out or root / "notebooks")
        print(f"notebooks: wrote {len(paths)} to {paths[0].parent if paths else args.out}")
    elif args.command == "reference":
        write_references(root, [c.resolve() for c in args.chapters] or None)
    else:
        problems = check_references(root)
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"reference notebooks: {len(problems)} problem(s)" if problems else "reference notebooks: in sync")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
