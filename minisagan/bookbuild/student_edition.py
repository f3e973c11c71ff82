"""The student edition of the book: the same pages with no solution anywhere in what is built.

``make book-student`` (``python -m minisagan.bookbuild.student_edition``) writes a copy of the
book's sources with every solution cut out (`solutions.strip_solutions`: prose and code cells), and
without the instructors' page, into ``OUT/source``, then builds that copy with Jupyter Book into
``OUT/_build/html``, in the smoke profile unless MINISAGAN_PROFILE says otherwise (the exercises
need no training results). Since the solutions are not in the sources, they are in none of the
outputs: not in the pages, the search index, the downloadable sources (``_sources/``), the executed
notebooks (``jupyter_execute/``) or Sphinx's pickled doctrees. The student notebooks of `assignments`
(stubs instead of solutions) are copied to ``OUT/_build/html/notebooks/`` for download, beside the
package's wheel that their setup cell installs (unless ``--install`` names another source).

It is also a Sphinx extension, a second guard: with ``minisagan_student = True`` it removes every
solution node from the pages. (sphinx-exercise's own switch, ``hide_solutions``, crashes on gated
solutions: executablebooks/sphinx-exercise issue 89. The transform runs after sphinx-exercise has
merged each gated solution into one node.)
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from sphinx.transforms import SphinxTransform
from sphinx_exercise.nodes import solution_node

from .solutions import strip_solutions

INSTRUCTORS = "book/instructors"  # the instructors' page: not in the student edition


class RemoveSolutions(SphinxTransform):
    default_priority = 20  # after sphinx-exercise's MergeGatedSolutions (priority 10)

    def apply(self):
        if not self.config.minisagan_student:
            return
        for node in list(self.document.findall(solution_node)):
            node.parent.remove(node)


def setup(app):
    app.add_config_value("minisagan_student", False, "env")
    app.add_transform(RemoveSolutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _without_instructors(entries: list) -> list:
    kept = []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("file") == INSTRUCTORS:
            continue
        if isinstance(entry, dict):
            entry = {key: _without_instructors(value) if key in ("chapters", "parts", "sections") else value
                     for key, value in entry.items()}
        kept.append(entry)
    return kept


def write_source(root: Path, out: Path, execute: bool = True) -> Path:
    """The book's sources without solutions and without the instructors' page, in ``out`` (with
    ``execute=False``, a book whose pages are built without running their cells)."""
    if out.exists():
        shutil.rmtree(out)
    (out / "book").mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("sphinx", {}).setdefault("config", {})["minisagan_student"] = True
    config["title"] = config.get("title", "") + " (student edition)"
    if not execute:
        config["execute"] = {**config.get("execute", {}), "execute_notebooks": "off"}
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    toc = {key: _without_instructors(value) if key in ("chapters", "parts") else value for key, value in toc.items()}
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    if (root / "jupytext.toml").exists():
        shutil.copy(root / "jupytext.toml", out / "jupytext.toml")
    for path in sorted((root / "book").iterdir()):
        if path.name == Path(INSTRUCTORS).name + ".md" or not path.is_file():
            continue
        if path.suffix == ".md":
            (out / "book" / path.name).write_text(strip_solutions(path.read_text()))
        else:
            shutil.copy(path, out / "book" / path.name)
    return out


def build(root: Path, out: Path, profile: str, install: str | None = None, execute: bool = True) -> Path:
    """Write the student sources into ``out/source`` and build them; the HTML folder. ``execute=False``
    builds the pages without running them (a test runs the student notebooks instead)."""
    from ..profiles import ENV_VAR  # imports torch: not at the top, where Sphinx loads this extension
    from .assignments import write_assignments
    from .mirror import chapter_paths
    from .wheel import build_wheel

    source = write_source(root, out / "source", execute)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book if jupyter_book.exists() else "jupyter-book"), "build", str(source),
               "--path-output", str(out), "-W", "--keep-going"]
    subprocess.run(command, check=True, env={**os.environ, ENV_VAR: profile})
    html = out / "_build" / "html"
    notebooks = html / "notebooks"
    if install is None:
        install = build_wheel(root, notebooks).name
    for path in write_assignments(root, out / "assignments", install=install, chapters=chapter_paths(root)):
        if path.parent.name == "student":
            notebooks.mkdir(exist_ok=True)
            shutil.copy(path, notebooks / path.name)
    shutil.rmtree(out / "assignments")
    return html


def main(argv: list[str] | None = None) -> int:
    from ..profiles import ENV_VAR

    parser = argparse.ArgumentParser(description="Build the student edition: the book without its solutions.")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository (default: here)")
    parser.add_argument("--out", type=Path, default=Path("_build/student"))
    parser.add_argument("--profile", default=os.environ.get(ENV_VAR) or "smoke", choices=("smoke", "cpu", "gpu"),
                        help="the profile the chapters run in (default: MINISAGAN_PROFILE, else smoke)")
    parser.add_argument("--install", default=None,
                        help="what the student notebooks' setup cell installs (default: the package's wheel, "
                             "put beside them; see `assignments`)")
    args = parser.parse_args(argv)
    try:
        html = build(args.root.resolve(), args.out.resolve(), args.profile, args.install)
    except subprocess.CalledProcessError as error:
        print(f"student edition: the book did not build (jupyter-book exit status {error.returncode})", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"student edition: error: {error}", file=sys.stderr)
        return 2
    print(f"student edition: open {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
