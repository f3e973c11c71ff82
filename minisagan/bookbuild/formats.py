"""The assignment notebooks in a grading tool's own source format: nbgrader's or otter-grader's.

``make assignments FORMAT=nbgrader`` (``--format nbgrader``) writes one nbgrader source notebook a
chapter, ``OUT/nbgrader/source/NN_name/NN_name.ipynb`` (the wheel beside it, so that nbgrader
releases it too); ``FORMAT=otter`` writes ``OUT/otter/NN_name.ipynb`` for ``otter assign``. Both
are made from the cells' roles in the teacher and student notebooks (`assignments`), never by
editing the teacher notebook, so a solution's prose is in neither (nbgrader's
``generate_assignment`` keeps markdown that is not a solution cell: a teacher notebook given to it
releases its "Solution" paragraphs). For each exercise:

- the statement: a read-only cell (nbgrader: locked; otter: the question's prompt);
- the answer: the solution's code between the tool's solution markers, which the tool replaces
  (nbgrader: ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` in an autograded answer cell; otter:
  ``# BEGIN SOLUTION NO PROMPT`` ... ``# END SOLUTION`` and the book's stub as the prompt);
- the check: a test cell that calls the chapter's checker and fails unless it passes (nbgrader: an
  autograder test cell worth 1 point; otter: the question's test, 1 point);
- the question answered in words, where the exercise has one: a manually graded answer (1 point),
  released empty.
"""

import copy
import re
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from .assignments import WRITTEN_MARK, assignment

FORMATS = ("nbgrader", "otter")
TEST = """\
result = {call}
print(result)
assert result.passed, "Exercise {number} does not pass its check yet\""""


def _role(cell) -> tuple[str, str]:
    meta = cell.metadata.get("minisagan", {})
    return meta.get("exercise", ""), meta.get("role", "setup" if "setup" in cell.metadata.get("tags", []) else "")


def exercises(teacher, student) -> list[tuple[str, dict]]:
    """The chapter as ``("cell", cell)`` for a cell outside the exercises and ``("exercise", parts)``
    for each exercise: its statement, the solution's code (all its code cells, answer last), the
    stub, the check and the written question ("" when none), from the two editions."""
    parts: dict[str, dict] = {}
    for cell in student.cells:
        number, role = _role(cell)
        if number:
            slot = parts.setdefault(number, {"code": [], "written": ""})
            if role in ("statement", "check"):
                slot[role] = cell.source
            elif role == "answer":
                slot["stub"] = cell.source
            elif role == "written":
                slot["written"] = cell.source.split("\n\n")[0].removeprefix(WRITTEN_MARK).strip()
    layout, seen = [], set()
    for cell in teacher.cells:
        number, role = _role(cell)
        if not number:
            layout.append(("cell", cell))
            continue
        if cell.cell_type == "code" and role in ("solution", "answer"):
            parts[number]["code"].append(cell.source)
        if number not in seen:
            seen.add(number)
            layout.append(("exercise", {"number": number, **parts[number]}))
    return layout


def _grade_id(number: str, what: str) -> str:
    return f"ex{number.replace('.', '-')}-{what}"


def _nbgrader(cell, grade_id: str, *, solution=False, grade=False, locked=False, points=0):
    cell.metadata["nbgrader"] = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
                                 "solution": solution, "task": False}
    if grade:
        cell.metadata["nbgrader"]["points"] = points
    return cell


def _answers(stub: str) -> str:
    """The names the stub leaves to write, as the comment above an nbgrader answer."""
    names = re.findall(r"^(?:def (\w+)\(|(\w+) = \.\.\.)", stub, flags=re.M)
    return ", ".join(f"`{a or b}`" for a, b in names)


def nbgrader_notebook(teacher, student) -> nbformat.NotebookNode:
    """The chapter as an nbgrader source notebook (see the module's docstring)."""
    notebook = new_notebook(metadata=teacher.metadata)
    for kind, item in exercises(teacher, student):
        if kind == "cell":
            notebook.cells.append(copy.deepcopy(item))
            continue
        number = item["number"]
        solution = "\n\n".join(item["code"])
        answer = (f"# Exercise {number}: define {_answers(item['stub'])}\n"
                  f"### BEGIN SOLUTION\n{solution}\n### END SOLUTION")
        notebook.cells += [
            _nbgrader(new_markdown_cell(item["statement"]), _grade_id(number, "statement"), locked=True),
            _nbgrader(new_code_cell(answer), _grade_id(number, "answer"), solution=True),
            _nbgrader(new_code_cell(TEST.format(call=item["check"], number=number)), _grade_id(number, "check"),
                      grade=True, locked=True, points=1)]
        if item["written"]:
            notebook.cells += [
                _nbgrader(new_markdown_cell(f"{WRITTEN_MARK} {item['written']}"), _grade_id(number, "question"),
                          locked=True),
                _nbgrader(new_markdown_cell("YOUR ANSWER HERE"), _grade_id(number, "written"), solution=True,
                          grade=True, points=1)]
    return notebook


def _otter_answer(solution: str, stub: str) -> str:
    """The solution, removed on release, and the book's stub as what the student sees instead."""
    prompt = stub.replace('"""', "'''")
    return f'# BEGIN SOLUTION NO PROMPT\n{solution}\n# END SOLUTION\n""" # BEGIN PROMPT\n{prompt}\n"""; # END PROMPT'


def otter_notebook(teacher, student, name: str, files: list[str] = ()) -> nbformat.NotebookNode:
    """The chapter in otter-grader's assign format (see the module's docstring)."""
    config = f"# ASSIGNMENT CONFIG\nname: {name}\nexport_cell: false"
    if files:
        config += "\nfiles:\n" + "".join(f"    - {file}\n" for file in files).rstrip()
    notebook = new_notebook(metadata=teacher.metadata, cells=[new_raw_cell(config)])
    for kind, item in exercises(teacher, student):
        if kind == "cell":
            notebook.cells.append(copy.deepcopy(item))
            continue
        number = item["number"]
        question = f"q{number.replace('.', '_')}"
        notebook.cells += [
            new_raw_cell(f"# BEGIN QUESTION\nname: {question}\npoints: 1"),
            new_markdown_cell(item["statement"]),
            new_raw_cell("# BEGIN SOLUTION"),
            new_code_cell(_otter_answer("\n\n".join(item["code"]), item["stub"])),
            new_raw_cell("# END SOLUTION"),
            new_raw_cell("# BEGIN TESTS"),
            new_code_cell(f"result = {item['check']}\nassert result.passed, result"),
            new_raw_cell("# END TESTS"),
            new_raw_cell("# END QUESTION")]
        if item["written"]:
            notebook.cells += [
                new_raw_cell(f"# BEGIN QUESTION\nname: {question}_words\nmanual: true\npoints: 1"),
                new_markdown_cell(f"{WRITTEN_MARK} {item['written']}"),
                new_raw_cell("# BEGIN SOLUTION"),
                new_markdown_cell("_Type your answer here, replacing this text._"),
                new_raw_cell("# END SOLUTION"),
                new_raw_cell("# END QUESTION")]
    return notebook


def write_format(fmt: str, chapters: list[Path], out: Path, *, install: str, wheel: Path | None) -> list[Path]:
    """Each chapter in ``fmt``'s source format under ``out/fmt``, the wheel beside each notebook."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    written = []
    for chapter_path in chapters:
        teacher, student = (assignment(chapter_path, student=s, install=install) for s in (False, True))
        folder = out / fmt / "source" / chapter_path.stem if fmt == "nbgrader" else out / fmt
        folder.mkdir(parents=True, exist_ok=True)
        if fmt == "nbgrader":
            notebook = nbgrader_notebook(teacher, student)
        else:
            notebook = otter_notebook(teacher, student, chapter_path.stem, [wheel.name] if wheel else [])
        path = folder / f"{chapter_path.stem}.ipynb"
        nbformat.validate(notebook)
        nbformat.write(notebook, path)
        if wheel is not None and not (folder / wheel.name).exists():
            shutil.copy(wheel, folder / wheel.name)
        written.append(path)
    return written
