"""`make assignments FORMAT=nbgrader|otter`: the chapters in the grading tools' own source formats.

nbgrader itself (a test dependency) releases the generated Chapter 3 and autogrades two submissions:
the source notebook (the solutions) scores 3 of 3 autograded points and the released notebook
untouched 0 of 3; the release holds no line of a solution, prose or code. otter-grader is not a
dependency (it brings pandas, pydantic and playwright), so its format is checked against the
markers its documentation defines: the question, solution, prompt and test blocks."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from minisagan.bookbuild import assignments, formats
from minisagan.bookbuild.solutions import book_exercises

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "03_self_attention.md"
NAME = CHAPTER.stem
CHECKS = ["ex3-1-check", "ex3-2-check", "ex3-3-check"]


def solution_text(chapter: Path) -> tuple[list[str], list[str]]:
    """The solutions' lines of prose and of code (not the checker's call, nor a signature or an import,
    which the student's stub and check cells show too), where longer than a name."""
    prose, code = [], []
    for exercise in book_exercises(chapter):
        for kind, source in exercise.solution:
            lines = [line.strip() for line in source.splitlines() if len(line.strip()) > 25]
            if kind == "code":
                code += [line for line in lines if not line.startswith(("def ", "from ", "import ", "check_"))]
            else:
                prose += lines
    return prose, code


def notebook_text(path: Path) -> str:
    return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """An nbgrader course folder holding the generated source of Chapter 3, released by nbgrader."""
    out = tmp_path_factory.mktemp("formats")
    assert assignments.main(["--root", str(ROOT), "--out", str(out), "--format", "nbgrader", str(CHAPTER)]) == 0
    course = out / "nbgrader"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # alembic
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run(nbgrader + ["generate_assignment", NAME, "--force"], cwd=course, env=env, check=True,
                   capture_output=True)
    return course, nbgrader, env


def test_the_source_has_nbgraders_cells_and_no_solution_prose(course):
    course_dir, _, _ = course
    source = course_dir / "source" / NAME / f"{NAME}.ipynb"
    cells = nbformat.read(source, as_version=4).cells
    graded = {c.metadata["nbgrader"]["grade_id"]: c for c in cells if "nbgrader" in c.metadata}
    assert [k for k, c in graded.items() if c.metadata["nbgrader"]["grade"] and c.cell_type == "code"] == CHECKS
    assert all(graded[k].metadata["nbgrader"]["points"] == 1 and graded[k].metadata["nbgrader"]["locked"]
               for k in CHECKS)
    answers = [c for c in graded.values() if c.metadata["nbgrader"]["solution"] and c.cell_type == "code"]
    assert len(answers) == 3 and all("### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source
                                     for c in answers)
    prose, code = solution_text(CHAPTER)
    text = notebook_text(source)
    assert len(prose) > 3 and [line for line in prose if line in text] == []
    assert [line for line in code if line not in text] == []  # the search finds what the source holds
    assert (source.parent / "minisagan-0.1.0-py3-none-any.whl").exists()


def test_the_released_notebook_holds_no_solution(course):
    course_dir, _, _ = course
    release = course_dir / "release" / NAME
    text = notebook_text(release / f"{NAME}.ipynb")
    prose, code = solution_text(CHAPTER)
    assert [line for line in prose + code if line in text] == []
    assert text.count("raise NotImplementedError()") == 3 and "YOUR ANSWER HERE" in text
    assert (release / "minisagan-0.1.0-py3-none-any.whl").exists()


@pytest.mark.slow
def test_nbgrader_autogrades_the_solutions_3_of_3_and_the_release_0_of_3(course):
    from nbgrader.api import Gradebook

    course_dir, nbgrader, env = course
    for student, notebook in (("teacher", course_dir / "source"), ("student", course_dir / "release")):
        submitted = course_dir / "submitted" / student / NAME
        submitted.mkdir(parents=True)
        shutil.copy(notebook / NAME / f"{NAME}.ipynb", submitted)
    env = {**env, "MINISAGAN_PROFILE": "smoke", "MINISAGAN_STATIC": "1"}
    subprocess.run(nbgrader + ["autograde", NAME, "--create", "--ExecutePreprocessor.timeout=600"], cwd=course_dir,
                   env=env, check=True, capture_output=True)
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        def scores(student):
            notebook = gradebook.find_submission_notebook(NAME, NAME, student)
            return {grade.name: (grade.auto_score, grade.max_score, grade.needs_manual_grade)
                    for grade in notebook.grades}
        teacher, student = scores("teacher"), scores("student")
    assert {k: teacher[k] for k in CHECKS} == {k: (1.0, 1.0, False) for k in CHECKS}
    assert {k: student[k] for k in CHECKS} == {k: (0.0, 1.0, False) for k in CHECKS}
    assert teacher["ex3-3-written"][1] == student["ex3-3-written"][1] == 1.0  # words: an instructor grades them


def otter_cells(tmp_path) -> list:
    assert assignments.main(["--root", str(ROOT), "--out", str(tmp_path), "--format", "otter",
                             "--install", "minisagan==0.1.0", str(CHAPTER)]) == 0
    return nbformat.read(tmp_path / "otter" / f"{NAME}.ipynb", as_version=4).cells


def otter_release(source: str) -> str:
    """What otter assign leaves of a solution cell, by its documented rules: a ``# BEGIN SOLUTION
    NO PROMPT`` ... ``# END SOLUTION`` block is removed, a ``# BEGIN PROMPT`` string's body stays."""
    source = re.sub(r"^[ \t]*# BEGIN SOLUTION NO PROMPT\n.*?^[ \t]*# END SOLUTION\n", "", source, flags=re.S | re.M)
    return re.sub(r'^[ \t]*""" # BEGIN PROMPT\n(.*?)^[ \t]*"""; # END PROMPT$', r"\1", source, flags=re.S | re.M)


def test_the_otter_source_follows_otters_markers(tmp_path):
    cells = otter_cells(tmp_path)
    assert cells[0].cell_type == "raw" and cells[0].source.startswith("# ASSIGNMENT CONFIG\n")
    assert yaml.safe_load(cells[0].source) == {"name": NAME, "export_cell": False}
    raws = [c.source.splitlines()[0] for c in cells[1:] if c.cell_type == "raw"]
    question = ["# BEGIN QUESTION", "# BEGIN SOLUTION", "# END SOLUTION", "# BEGIN TESTS", "# END TESTS",
                "# END QUESTION"]
    written = ["# BEGIN QUESTION", "# BEGIN SOLUTION", "# END SOLUTION", "# END QUESTION"]
    assert raws == question * 3 + written
    headers = [yaml.safe_load(c.source.removeprefix("# BEGIN QUESTION\n")) for c in cells
               if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")]
    assert headers == [{"name": "q3_1", "points": 1}, {"name": "q3_2", "points": 1}, {"name": "q3_3", "points": 1},
                       {"name": "q3_3_words", "manual": True, "points": 1}]
    prose, code = solution_text(CHAPTER)
    text = "\n".join(c.source for c in cells)
    assert [line for line in prose if line in text] == [] and [line for line in code if line not in text] == []


def test_otters_release_of_an_answer_is_the_books_stub(tmp_path):
    cells = otter_cells(tmp_path)
    answers = [c.source for c in cells if c.cell_type == "code" and "# BEGIN SOLUTION NO PROMPT" in c.source]
    student = assignments.assignment(CHAPTER, student=True, install="x")
    stubs = [c.source for c in student.cells if c.metadata.get("minisagan", {}).get("role") == "answer"]
    assert len(answers) == 3 and [otter_release(a).strip() for a in answers] == [s.strip() for s in stubs]
    _, code = solution_text(CHAPTER)
    assert [line for a in answers for line in code if line in otter_release(a)] == []
    tests = [c.source for c in cells if c.cell_type == "code" and c.source.startswith("result = check_")]
    assert [t.splitlines()[-1] for t in tests] == ["assert result.passed, result"] * 3


def test_an_unknown_format_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'gradescope': choose one of nbgrader, otter"):
        formats.write_format("gradescope", [CHAPTER], tmp_path, install="x", wheel=None)


@pytest.mark.slow
def test_otter_assigns_and_grades_the_solutions_3_of_3_and_the_release_0_of_3(tmp_path):
    """Where otter-grader is installed (not a dependency; ``pip install otter-grader==7.0.0``)."""
    otter = shutil.which("otter", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if otter is None:
        pytest.skip("otter-grader is not installed: its format is checked against its markers above")
    otter_cells(tmp_path)
    source, env = tmp_path / "otter", {**os.environ, "MINISAGAN_PROFILE": "smoke", "MINISAGAN_STATIC": "1"}
    subprocess.run([otter, "assign", f"{NAME}.ipynb", "dist", "--no-run-tests"], cwd=source, env=env, check=True,
                   capture_output=True)
    released = notebook_text(source / "dist" / "student" / f"{NAME}.ipynb")
    prose, code = solution_text(CHAPTER)
    assert [line for line in prose + code if line in released] == [] and 'grader.check("q3_1")' in released
    scores = {}
    for who, notebook in (("teacher", "autograder"), ("student", "student")):
        (source / who).mkdir()
        subprocess.run([otter, "run", "-a", str(next((source / "dist" / "autograder").glob("*.zip"))), "-o", who,
                        str(source / "dist" / notebook / f"{NAME}.ipynb")], cwd=source, env=env, check=True,
                       capture_output=True)
        results = json.loads((source / who / "results.json").read_text())["tests"]
        scores[who] = {t["name"]: t["score"] for t in results if "score" in t}
    assert scores == {"teacher": {"q3_1": 1.0, "q3_2": 1.0, "q3_3": 1.0}, "student": {"q3_1": 0, "q3_2": 0, "q3_3": 0}}
