"""Assignment notebooks: for each chapter a student notebook and a teacher notebook, as .ipynb.

``make assignments`` (``python -m minisagan.bookbuild.assignments``) writes
``_build/assignments/student/NN_name.ipynb`` and ``.../teacher/NN_name.ipynb``. Both are the whole
chapter, opened by a setup cell that installs the book's package unless it is importable already, so
that they run in Jupyter and in Colab: by default the wheel that ``make assignments`` builds and puts
beside the notebooks (`wheel`), or what ``INSTALL=`` names. Each exercise becomes a heading
"Exercise n.k: title" with its statement, an answer cell and a check cell that calls the checker
on the names the catalog (`minisagan.exercises.catalog`) lists. In the student notebook the
answer cell is a marked stub (``def my_twin(x, y, resolution): raise NotImplementedError``,
``layers = ...``) and the solution's prose is gone; the teacher notebook keeps the solution.
``minisagan grade`` scores a student's copy. MyST's cross-references become plain text.
"""

import argparse
import ast
import re
import shutil
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .. import __version__
from ..exercises.catalog import Exercise, chapter_exercises
from .mirror import chapter_paths
from .solutions import chapter_layout, chapter_number
from .wheel import build_wheel, setup_source

ROLE = re.compile(r"\{(ref|numref|doc|eq)\}`([^`]*)`")
MARK = "# YOUR ANSWER HERE"
WRITTEN_MARK = "**Your answer in words.**"


def plain_markdown(text: str) -> str:
    """MyST's references and targets as text Jupyter and Colab render."""
    def role(match):
        explicit = re.match(r"^(.*?)\s*<([^<>]+)>$", match[2], re.S)
        if explicit:
            return explicit[1]
        exercise = re.fullmatch(r"ex-(\d+)-(\d+)", match[2].strip())
        return f"Exercise {exercise[1]}.{exercise[2]}" if exercise else match[2]
    text = re.sub(r"^\([^()\s]+\)=[ \t]*\n", "", text, flags=re.M)  # (label)= above a heading
    text = re.sub(r"^(\$\$)[ \t]*\([^()\s]+\)[ \t]*$", r"\1", text, flags=re.M)  # $$ (label) after an equation
    return ROLE.sub(role, text)


def _cell(kind: str, source: str, exercise: Exercise | None = None, role: str = ""):
    cell = new_code_cell(source) if kind == "code" else new_markdown_cell(source)
    if exercise is not None:
        cell.metadata["minisagan"] = {"exercise": exercise.number, "role": role}
    if role:
        cell.metadata["tags"] = [role]
    return cell


def split_solution(exercise: Exercise, source: str, where: str) -> tuple[str, str]:
    """The last code cell of a solution as (the answer, the check): the answer binds every name the
    checker takes (``check_hinge_by_hand(5 / 3)`` -> ``loss_d = 5 / 3``), the check is `Exercise.call`."""
    tree = ast.parse(source)
    last = tree.body[-1] if tree.body else None
    call = last.value if isinstance(last, ast.Expr) else None
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print" and call.args:
        call = call.args[0]  # print(check_x(...)) shows the same line
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == exercise.checker
            and len(call.args) == len(exercise.answers) and not call.keywords):
        raise ValueError(f"{where}: the solution must end with {exercise.checker}(...) taking "
                         f"{len(exercise.answers)} argument(s), as minisagan/exercises/catalog.py says")
    bindings = [f"{name} = {ast.get_source_segment(source, arg)}" for name, arg in zip(exercise.answers, call.args)
                if not (isinstance(arg, ast.Name) and arg.id == name)]
    answer = "\n".join(source.splitlines()[:last.lineno - 1]).rstrip()
    return "\n".join(part for part in (answer, "\n".join(bindings)) if part), exercise.call


def stub(exercise: Exercise, sources: list[str]) -> str:
    """The student's answer cell: the solution's imports, then each answer name left to write."""
    imports, functions = [], {}
    for source in sources:
        for node in ast.parse(source).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(ast.get_source_segment(source, node))
            elif isinstance(node, ast.FunctionDef):
                functions[node.name] = ast.unparse(node.args)
    lines = [f"{MARK}: Exercise {exercise.number}. Replace each `...` and `raise NotImplementedError`."]
    lines += imports + ([""] if imports else [])
    for name in exercise.answers:
        if name in functions:
            lines += ["", f"def {name}({functions[name]}):",
                      f'    raise NotImplementedError("Exercise {exercise.number}: write {name}")', ""]
        else:
            lines.append(f"{name} = ...")
    return "\n".join(lines).strip() + "\n"


def _exercise_cells(book_exercise, exercise: Exercise, student: bool, where: str) -> list:
    title = re.sub(r"^Exercise [0-9.]+:?\s*", "", book_exercise.title)  # a title that carries the number
    heading = f"### Exercise {exercise.number}: {title}"
    cells = [_cell("markdown", f"{heading}\n\n{plain_markdown(book_exercise.statement)}", exercise, "statement")]
    codes = [source for kind, source in book_exercise.solution if kind == "code"]
    if not codes:
        raise ValueError(f"{where}: the solution has no code cell to call {exercise.checker}")
    answer, check = split_solution(exercise, codes[-1], where)
    if student:
        cells += [_cell("code", stub(exercise, codes), exercise, "answer"), _cell("code", check, exercise, "check")]
        if exercise.written:  # collected by `minisagan grade` into the feedback an instructor reads
            cells.append(_cell("markdown", f"{WRITTEN_MARK} {exercise.written}\n\n*Write your answer here.*",
                               exercise, "written"))
        return cells
    cells.append(_cell("markdown", "#### Solution", exercise, "solution"))
    last_code = max(i for i, (kind, _) in enumerate(book_exercise.solution) if kind == "code")
    for index, (kind, source) in enumerate(book_exercise.solution):
        if index == last_code:
            cells += [_cell("code", answer, exercise, "answer"), _cell("code", check, exercise, "check")]
        else:
            cells.append(_cell(kind, plain_markdown(source) if kind == "markdown" else source, exercise, "solution"))
    return cells


def assignment(chapter_path: Path, *, student: bool, install: str) -> nbformat.NotebookNode:
    """One chapter as an assignment notebook (student: stubs; teacher: solutions)."""
    chapter = chapter_number(chapter_path)
    exercises = chapter_exercises(chapter)
    notebook = new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "minisagan": {"chapter": chapter, "edition": "student" if student else "teacher", "version": __version__}})
    notebook.cells.append(_cell("code", setup_source(install), role="setup"))
    for item in chapter_layout(jupytext.read(chapter_path), chapter):
        if item[0] == "markdown":
            notebook.cells.append(_cell("markdown", plain_markdown(item[1])))
        elif item[0] == "code":
            cell = _cell("code", item[1].source)
            cell.metadata.update({k: v for k, v in item[1].metadata.items() if k == "tags"})
            notebook.cells.append(cell)
        else:
            book_exercise = item[1]
            where = f"{chapter_path.name}, exercise {book_exercise.label}"
            if book_exercise.index > len(exercises):
                raise ValueError(f"{where}: minisagan/exercises/catalog.py lists {len(exercises)} exercise(s) for "
                                 f"chapter {chapter}: add each exercise's checker and the names its answer defines")
            notebook.cells += _exercise_cells(book_exercise, exercises[book_exercise.index - 1], student, where)
    return notebook


def write_assignments(root: Path, out: Path, *, install: str, chapters: list[Path] | None = None) -> list[Path]:
    written = []
    for chapter_path in chapters or chapter_paths(root):
        for edition in ("student", "teacher"):
            path = out / edition / (chapter_path.stem + ".ipynb")
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(assignment(chapter_path, student=edition == "student", install=install), path)
            written.append(path)
    return written


def wheel_beside(root: Path, out: Path) -> str:
    """Build the package's wheel and put a copy in ``out/student`` and ``out/teacher``; its file name."""
    wheel = build_wheel(root, out / "student")
    (out / "teacher").mkdir(parents=True, exist_ok=True)
    shutil.copy(wheel, out / "teacher" / wheel.name)
    return wheel.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write each chapter as a student and a teacher notebook.")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository (default: here)")
    parser.add_argument("--out", type=Path, default=Path("_build/assignments"))
    parser.add_argument("--install", default=None,
                        help="what the setup cell pip-installs when minisagan is not importable (default: the "
                             "wheel of --root, built with `python -m build` and put beside the notebooks): a URL "
                             "of the wheel, a requirement, or pip options, e.g. '--index-url URL minisagan==0.1.0'")
    parser.add_argument("--format", default="notebooks", choices=("notebooks", "nbgrader", "otter"),
                        help="notebooks: a student and a teacher notebook a chapter (default); nbgrader, otter: "
                             "one source notebook a chapter for that grading tool (`formats`)")
    parser.add_argument("chapters", nargs="*", type=Path, help="only these chapters (book/NN_*.md)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.format != "notebooks":
            from .formats import write_format  # it imports this module

            with tempfile.TemporaryDirectory() as scratch:  # a copy of the wheel goes beside each notebook
                wheel = build_wheel(root, Path(scratch)) if args.install is None else None
                paths = write_format(args.format, args.chapters or chapter_paths(root), args.out,
                                     install=args.install or wheel.name, wheel=wheel)
            print(f"assignments: wrote {len(paths)} {args.format} source notebooks to {args.out / args.format}")
            return 0
        install = args.install if args.install is not None else wheel_beside(root, args.out)
        paths = write_assignments(root, args.out, install=install, chapters=args.chapters)
    except (ValueError, OSError) as error:
        print(f"assignments: error: {error}", file=sys.stderr)
        return 2
    print(f"assignments: wrote {len(paths) // 2} student and {len(paths) // 2} teacher notebooks to {args.out}"
          + ("" if args.install is not None else f", each folder with {install} beside them"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
