"""The mirror: each chapter is the single source of the code it teaches for reuse.

A code cell whose first line is ``#| export: NAME`` belongs to the module ``minisagan/NAME.py``.
``python -m minisagan.bookbuild.mirror`` (``make mirror``) rewrites those modules from the chapters;
``--check`` (``make mirror-check``, run by CI) regenerates them in memory and fails on any
difference, so the book and the library cannot drift apart.

Rules the tool enforces:
- a module comes from exactly one chapter (one place to edit);
- a generated module starts with ``HEADER_PREFIX``; a hand-written file is never overwritten;
- a generated module that no chapter exports any more is reported as stale.
"""

import argparse
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import jupytext

EXPORT_LINE = re.compile(r"^#\|\s*export:\s*(?P<module>\S+)\s*$")
MODULE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
HEADER_PREFIX = "# Generated from "
RESERVED = {"__init__", "__main__", "errors", "checkpoint", "profiles", "figures", "data", "run", "bookbuild", "exercises",
            "reference", "explorer"}


class MirrorError(ValueError):
    """An export directive is malformed or two chapters claim the same module."""


@dataclass
class ExportCell:
    chapter: Path  # relative to the repository root
    section: str  # the heading the cell sits under
    module: str
    code: str


def chapter_paths(root: Path) -> list[Path]:
    """The chapters, in reading order (their file names start with the chapter number)."""
    return sorted((root / "book").glob("[0-9][0-9]_*.md"))


def export_cells(chapter: Path, root: Path) -> list[ExportCell]:
    """The cells of one chapter marked ``#| export: NAME``, in order, with their section."""
    notebook = jupytext.read(chapter)
    section = "(before the first heading)"
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            headings = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
            section = headings[-1] if headings else section
            continue
        if cell.cell_type != "code":
            continue
        first, _, body = cell.source.partition("\n")
        match = EXPORT_LINE.match(first.strip())
        if match is None:
            if "#| export" in cell.source:
                raise MirrorError(f"{chapter.relative_to(root)}: '#| export: NAME' must be the first line of its cell")
            continue
        module = match["module"]
        if not MODULE_NAME.match(module) or module in RESERVED:
            raise MirrorError(
                f"{chapter.relative_to(root)}: cannot export to {module!r}: use a lower-case module name "
                f"that is not one of {sorted(RESERVED)}"
            )
        cells.append(ExportCell(chapter.relative_to(root), section, module, body.strip("\n")))
    return cells


def render_module(cells: list[ExportCell]) -> str:
    """The text of one generated module: a header naming the chapter, then each cell under a
    comment naming the section it was written in."""
    chapter = cells[0].chapter.as_posix()
    parts = [
        f"{HEADER_PREFIX}{chapter} by minisagan.bookbuild.mirror.\n"
        "# Do not edit: change the chapter, then run `make mirror`.\n"
    ]
    for cell in cells:
        parts.append(f"# --- {chapter}, section: {cell.section}\n{cell.code}\n")
    return "\n\n".join(parts)


def expected_modules(root: Path) -> dict[Path, str]:
    """Every generated module's path (relative to root) and the text the chapters say it holds."""
    by_module: dict[str, list[ExportCell]] = {}
    for chapter in chapter_paths(root):
        for cell in export_cells(chapter, root):
            owners = {c.chapter for c in by_module.get(cell.module, [])}
            if owners and cell.chapter not in owners:
                raise MirrorError(
                    f"module {cell.module!r} is exported by both {owners.pop()} and {cell.chapter}: "
                    "a module comes from one chapter"
                )
            by_module.setdefault(cell.module, []).append(cell)
    return {Path("minisagan") / f"{name}.py": render_module(cells) for name, cells in by_module.items()}


def is_generated(path: Path) -> bool:
    return path.is_file() and path.read_text().startswith(HEADER_PREFIX)


def check(root: Path) -> list[str]:
    """The differences between the chapters and the package, as readable messages (empty: in sync)."""
    problems = []
    expected = expected_modules(root)
    for rel, text in expected.items():
        path = root / rel
        if not path.exists():
            problems.append(f"{rel} is missing: run `make mirror`")
        elif not is_generated(path):
            problems.append(f"{rel} is hand-written but a chapter exports to it: rename one of them")
        elif (actual := path.read_text()) != text:
            diff = difflib.unified_diff(
                actual.splitlines(keepends=True), text.splitlines(keepends=True),
                fromfile=f"{rel} (package)", tofile=f"{rel} (from the chapter)",
            )
            problems.append(f"{rel} differs from its chapter: run `make mirror`\n" + "".join(diff))
    for path in sorted((root / "minisagan").glob("*.py")):
        rel = path.relative_to(root)
        if is_generated(path) and rel not in expected:
            problems.append(f"{rel} is generated but no chapter exports it any more: delete it")
    return problems


def write(root: Path) -> list[Path]:
    """Regenerate every module from the chapters; returns the paths that changed."""
    changed = []
    for rel, text in expected_modules(root).items():
        path = root / rel
        if path.exists() and not is_generated(path):
            raise MirrorError(f"{rel} is hand-written; a chapter may not overwrite it")
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(rel)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the package differs from the chapters")
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.check:
            problems = check(root)
            for problem in problems:
                print(problem, file=sys.stderr)
            print(f"mirror: {len(problems)} problem(s)" if problems else "mirror: package and chapters agree")
            return 1 if problems else 0
        changed = write(root)
    except MirrorError as err:
        print(f"mirror: {err}", file=sys.stderr)
        return 2
    print("mirror: wrote " + (", ".join(map(str, changed)) if changed else "nothing (already in sync)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
