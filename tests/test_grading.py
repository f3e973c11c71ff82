"""The autograder: a solved notebook scores full marks, an unsolved one zero without a crash, each
mistake a chapter warns about is named in the report, and a notebook that raises, loops forever,
kills its kernel or lost a check cell is still graded, with a note that says what happened. The
assignment notebooks: a student notebook holds no solution, and both editions open as .ipynb."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from minisagan.bookbuild.assignments import assignment, main as assignments_main
from minisagan.bookbuild.solutions import book_exercises
from minisagan.exercises.catalog import chapter_exercises
from minisagan.exercises.classroom import grade_all
from minisagan.exercises.grading import GradingError, grade_notebook
from minisagan.run.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = {n: next((ROOT / "book").glob(f"{n:02d}_*.md")) for n in (1, 3, 6)}
INSTALL = "minisagan==0.1.0"

pytestmark = pytest.mark.slow


def edition(chapter: int, student: bool):
    return assignment(CHAPTER[chapter], student=student, install=INSTALL)


def role(cell) -> tuple[str, str]:
    info = cell.metadata.get("minisagan", {})
    return info.get("exercise", ""), info.get("role", "")


def small(chapter: int, answers: dict, *, imports=None, extra=(), without_checks=()) -> nbformat.NotebookNode:
    """The chapter's student notebook cut to its setup, its imports (or ``imports``) and its exercises,
    answered with ``answers`` (number -> source); ``extra`` cells run after the imports;
    ``without_checks``: the numbers whose check cell the student deleted."""
    notebook = edition(chapter, student=True)
    first_code = next(c for c in notebook.cells[1:] if c.cell_type == "code")
    if imports is not None:
        first_code.source = imports
    cells = [notebook.cells[0], first_code] + [nbformat.v4.new_code_cell(source) for source in extra]
    for cell in notebook.cells:
        number, kind = role(cell)
        if kind == "answer" and number in answers:
            cell.source = answers[number]
        if kind and not (kind == "check" and number in without_checks):
            cells.append(cell)
    notebook.cells = cells
    return notebook


def graded(tmp_path: Path, name: str, notebook, timeout: int = 30, book_timeout: int | None = None):
    path = tmp_path / name
    nbformat.write(notebook, path)
    return grade_notebook(path, timeout=timeout, book_timeout=book_timeout or timeout)


def by_number(grade) -> dict:
    return {e.number: e for e in grade.exercises}


# --- The assignment notebooks ----------------------------------------------------------------------

def test_a_student_notebook_has_a_stub_and_a_check_per_exercise_and_no_solution():
    student, teacher = edition(1, student=True), edition(1, student=False)
    for notebook in (student, teacher):
        nbformat.validate(notebook)
        assert "find_spec(\"minisagan\") is None" in notebook.cells[0].source and INSTALL in notebook.cells[0].source
    checks = [c.source for c in student.cells if role(c)[1] == "check"]
    assert checks == [e.call for e in chapter_exercises(1)] == [c.source for c in teacher.cells if role(c)[1] == "check"]
    student_text = "\n".join(c.source for c in student.cells)
    teacher_text = "\n".join(c.source for c in teacher.cells)
    for exercise in book_exercises(CHAPTER[1]):
        secret = [(kind, line) for kind, source in exercise.solution for line in source.splitlines()
                  if len(line.strip()) > 25 and "check_" not in line
                  and not line.startswith(("def ", "from ", "import "))]  # the stub keeps signatures, imports
        assert secret and not [line for _, line in secret if line in student_text], exercise.label
        assert all(line in teacher_text for kind, line in secret if kind == "code")
    assert "raise NotImplementedError" in student_text and "my_loss_d = ..." in student_text
    assert "{ref}" not in student_text and "{solution" not in student_text


def test_make_assignments_writes_both_editions_and_names_a_bad_chapter(tmp_path, capsys):
    assert assignments_main(["--root", str(ROOT), "--out", str(tmp_path), str(CHAPTER[3])]) == 0
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.ipynb")) == [
        f"student/{CHAPTER[3].stem}.ipynb", f"teacher/{CHAPTER[3].stem}.ipynb"]
    broken = tmp_path / "03_broken.md"
    broken.write_text(CHAPTER[3].read_text().replace("check_attention_block(my_attention_block)\n```",
                                                     "print('done')\n```"))
    assert assignments_main(["--out", str(tmp_path), str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ex-3-1" in err and "must end with check_attention_block" in err


# --- Grading ---------------------------------------------------------------------------------------

def test_a_solved_notebook_scores_full_marks_and_an_unsolved_one_zero(tmp_path, capsys):
    solved, unsolved = tmp_path / "01_solved.ipynb", tmp_path / "01_unsolved.ipynb"
    nbformat.write(edition(1, student=False), solved)
    nbformat.write(edition(1, student=True), unsolved)
    report = tmp_path / "grades.json"
    assert grade_all([solved, unsolved], timeout=60, profile="smoke", report=report) == 1
    grades = json.loads(report.read_text())
    assert [(n["score"], n["max_score"]) for n in grades["notebooks"]] == [(3, 3), (0, 3)]
    assert {e["status"] for e in grades["notebooks"][1]["exercises"]} == {"unanswered"}
    assert grades["notebooks"][0]["notes"] == [] and grades["notebooks"][1]["notes"] == []
    out = capsys.readouterr().out
    assert "01_solved.ipynb: 3/3" in out and "01_unsolved.ipynb: 0/3" in out and "total 3/6" in out


MISTAKES = {  # chapter -> answers with one warned-about mistake each, and the names the report must show
    1: ({"1.1": "def my_hinge_d_loss(real_scores, fake_scores):\n"
                "    return F.relu(1 - real_scores).sum() + F.relu(1 + fake_scores).sum()",
         "1.3": "def my_ns_g_loss(fake_scores, real_scores):\n    return F.softplus(-fake_scores).mean()"},
        {"1.1": "sum-instead-of-mean", "1.3": "signature"}),
    3: ({"3.1": "def my_attention_block(x, Wf, Wg, Wh, gamma):\n    B, C, H, W = x.shape\n    X = x.flatten(2)\n"
                "    s = (Wf @ X).transpose(1, 2) @ (Wg @ X)\n    beta = s.softmax(dim=2)\n"
                "    return gamma * (Wh @ X @ beta).reshape(x.shape) + x"},
        {"3.1": "softmax-axis"}),
    6: ({"6.1": "def my_d_step(G, D, opt_D, real, y_real, z, y_fake):\n    fake = G(z, y_fake).detach()\n"
                "    loss = F.relu(1 - D(real, y_real)).mean() + F.relu(1 + D(fake, y_fake)).mean()\n"
                "    opt_D.zero_grad()\n    loss.backward()\n    opt_D.step()\n    return loss",
         "6.3": "@torch.no_grad()\ndef my_ema_update(ema_layer, layer, decay):\n"
                "    for name in ('weight', 'sn_u', 'sn_v'):\n"
                "        getattr(ema_layer, name).lerp_(getattr(layer, name), 1 - decay)"},
        {"6.1": "two-d-calls", "6.3": "averaged-sn-vectors"}),
}
MORE_MISTAKES = {  # mistakes that need an exercise another already holds
    3: ({"3.1": "def my_attention_block(x, Wf, Wg, Wh, gamma):\n    X = x.flatten(2)\n"
                "    s = (Wf @ X).transpose(1, 2) @ (Wg @ X) / Wf.shape[0] ** 0.5\n"
                "    return gamma * (Wh @ X @ s.softmax(dim=1)).reshape(x.shape) + x"},
        {"3.1": "sqrt-scaling"}),
    6: ({"6.1": "def my_d_step(G, D, opt_D, real, y_real, z, y_fake):\n    fake = G(z, y_fake)\n"
                "    scores = D(torch.cat([real, fake.detach()]), torch.cat([y_real, y_fake]))\n"
                "    loss = F.relu(1 - scores[:len(real)]).mean() + F.relu(1 + scores[len(real):]).mean()\n"
                "    opt_D.zero_grad()\n    loss.backward()\n    opt_D.step()\n    return loss"},
        {"6.1": "graph-through-g"}),
}


PARTIAL = {  # the share of a checker's cases a mistake gets right: where the wrong formula agrees
    ("1.1", "sum-instead-of-mean"): 0.25,  # scores beyond both margins: every term 0, summed or averaged
    ("3.1", "sqrt-scaling"): 0.333,  # C = 8: Wf has C/8 = 1 row, and 1/sqrt(1) scales nothing
    ("6.3", "averaged-sn-vectors"): 0.333,  # the weight (one of three parts) is averaged right
}


@pytest.mark.parametrize("chapter, answers, named", [(c, *MISTAKES[c]) for c in MISTAKES] +
                         [(c, *MORE_MISTAKES[c]) for c in MORE_MISTAKES], ids=lambda v: str(v)[:12])
def test_the_report_names_each_mistake_the_chapter_warns_about(tmp_path, chapter, answers, named):
    grade = graded(tmp_path, f"{chapter:02d}_mistakes.ipynb", small(chapter, answers))
    exercises = by_number(grade)
    for number, mistake in named.items():
        assert (exercises[number].status, exercises[number].mistake) == ("failed", mistake)
        assert exercises[number].score == PARTIAL.get((number, mistake), 0)
    assert {e.status for n, e in exercises.items() if n not in named} == {"unanswered"}


def test_a_notebook_that_raises_loops_dies_and_lost_a_check_cell_is_graded_with_notes(tmp_path):
    answers = {"1.1": "def my_hinge_d_loss(real_scores, fake_scores):\n    return real_scores.mean() / 0 + 1 // 0",
               "1.2": "my_loss_d = 5 / 3",
               "1.3": "def my_ns_g_loss(fake_scores):\n    while True:\n        pass"}
    extra = ["1 / 0",
             "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n        pass",
             "import os\nos._exit(1)"]
    imports = "from minisagan.exercises.ch01 import check_hinge_by_hand, check_hinge_d_loss, check_ns_g_loss"
    notebook = small(1, answers, imports=imports, extra=extra, without_checks={"1.2"})  # quick imports: limits of 3 s
    grade = graded(tmp_path, "01_troubles.ipynb", notebook, timeout=3)
    exercises = by_number(grade)
    assert exercises["1.1"].mistake == "exception" and "ZeroDivisionError" in exercises["1.1"].message
    assert "line 2 of my_hinge_d_loss" in exercises["1.1"].message
    assert exercises["1.2"].status == "passed"
    assert exercises["1.3"].status == "timeout" and "loop forever" in exercises["1.3"].message
    notes = "\n".join(grade.notes)
    assert "(1 / 0) raised ZeroDivisionError" in notes
    assert "(check_ns_g_loss(my_ns_g_loss)) ran past 3 s and was interrupted" in notes  # the student's own check
    assert "(import time) would not stop after 3 s, even when interrupted; the notebook was run again" in notes
    assert "(import os) stopped the kernel; the notebook was run again in a fresh kernel without it" in notes
    assert "the check cell of Exercise 1.2 (check_hinge_by_hand(my_loss_d)) was deleted" in notes
    assert (grade.score, grade.max_score) == (1, 3)


def test_a_file_that_is_no_notebook_is_one_line_and_exit_status_2(tmp_path, capsys):
    (tmp_path / "essay.ipynb").write_text("not json")
    (tmp_path / "untitled.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    with pytest.raises(GradingError, match="essay.ipynb: not a Jupyter notebook"):
        grade_notebook(tmp_path / "essay.ipynb")
    with pytest.raises(GradingError, match="cannot tell which chapter"):
        grade_notebook(tmp_path / "untitled.ipynb")
    out = subprocess.run([sys.executable, "-m", "minisagan", "grade", str(tmp_path / "missing.ipynb"),
                          "--json", str(tmp_path / "grades.json")], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout
    assert "missing.ipynb: not graded: no such file" in out.stdout
    assert cli_main(["grade", str(tmp_path / "essay.ipynb"), "--json", str(tmp_path / "no" / "grades.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minisagan: error: --json") and len(err.strip().splitlines()) == 1


# --- Answers, limits, feedback and a class ---------------------------------------------------------

def cell_of(number: str, source: str, role: str = "answer", kind: str = "code"):
    """A cell as `make assignments` marks it: the exercise it belongs to and its role."""
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    cell.metadata["minisagan"] = {"exercise": number, "role": role}
    return cell


def chapter_1(cells, **metadata):
    return nbformat.v4.new_notebook(cells=cells, metadata={"minisagan": {"chapter": 1, **metadata}})


def test_a_student_notebook_has_a_cell_for_each_written_answer():
    student, teacher = edition(1, student=True), edition(1, student=False)
    written = [c for c in student.cells if role(c)[1] == "written"]
    assert [role(c)[0] for c in written] == [e.number for e in chapter_exercises(1) if e.written] == ["1.2", "1.3"]
    assert written[0].cell_type == "markdown"
    assert written[0].source.startswith("**Your answer in words.** Which of the six samples send no gradient to D?")
    assert not [c for c in teacher.cells if role(c)[1] == "written"]


def test_an_answer_cell_that_raises_is_on_its_row_and_never_scored_on_the_chapters_value(tmp_path):
    hinge = "from minisagan.losses import hinge_d_loss\n\ndef my_hinge_d_loss(real_scores, fake_scores):\n"
    notebook = chapter_1([
        nbformat.v4.new_code_cell("import time\nmy_loss_d = 1.996  # the chapter's own value\ntime.sleep(5)"),
        # the book's own function, doubled where fewer than 5 real scores: only "large scores" (3) has a loss
        cell_of("1.1", hinge + "    return hinge_d_loss(real_scores, fake_scores) * (1 if len(real_scores) > 4 else 2)"),
        cell_of("1.2", "raise RuntimeError('not yet')"),
        cell_of("1.2", "**Your answer in words.** Which?\n\nThe real 2.0 and the fake -3.0.", "written", "markdown"),
        cell_of("1.3", "import time\ntime.sleep(60)\n\ndef my_ns_g_loss(fake_scores):\n    return fake_scores"),
    ])
    grade = graded(tmp_path, "answers.ipynb", notebook, timeout=3, book_timeout=60)
    exercises = by_number(grade)
    assert (exercises["1.2"].status, exercises["1.2"].score) == ("error", 0)
    assert exercises["1.2"].message == "your answer cell raised RuntimeError: not yet"
    assert (exercises["1.3"].status, exercises["1.3"].message) == ("error", "your answer cell ran past 3 s and was "
                                                                    "interrupted")
    # 3 of the 4 cases pass; L_D of "large scores" by hand: (61 + 0 + 0.7) / 3 + (56 + 0 + 0.8 + 2) / 4 = 35.27
    assert (exercises["1.1"].status, exercises["1.1"].score) == ("failed", 0.75)
    assert "large scores" in exercises["1.1"].message and "expected 35.27, got 70.53" in exercises["1.1"].message
    assert "real_scores=[-60, 40, 0.3]" in exercises["1.1"].message and "(3 of 4 cases passed)" in exercises["1.1"].message
    assert exercises["1.1"].flag == "the answer uses the book's own hinge_d_loss: read it before crediting it"
    assert not exercises["1.2"].flag and grade.score == 0.75
    # the chapter's slow cell ran under its own limit; the answer cells' errors are on their rows only
    assert grade.notes == [f"the check cell of Exercise {e.number} ({e.call}) was deleted; the grader checked it "
                           "all the same" for e in chapter_exercises(1)]
    assert grade.written == {"1.2": "The real 2.0 and the fake -3.0."}


def test_grading_a_folder_writes_a_csv_feedback_and_a_canvas_file_with_a_row_for_each_file(tmp_path, capsys):
    import csv

    folder, out = tmp_path / "submitted", tmp_path / "grades"
    (folder / "bob").mkdir(parents=True)
    (folder / ".ipynb_checkpoints").mkdir()
    nbformat.write(chapter_1([cell_of("1.2", "my_loss_d = 5 / 3")]), folder / "alice_01_gans_and_hinge.ipynb")
    unmarked = nbformat.v4.new_code_cell("# YOUR ANSWER HERE: Exercise 1.2 (its metadata lost)\nmy_loss_d = 2.5")
    nbformat.write(chapter_1([unmarked, cell_of("1.2", "**Your answer in words.** "
                   "Which?\n\nNone of them.", "written", "markdown")]), folder / "bob" / "01_gans_and_hinge.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")], metadata={
        "minisagan": {"chapter": 0, "student": "carol@uni.edu"}}), folder / "homework.ipynb")
    (folder / "dave_01.ipynb").write_text("")
    (folder / "erin.pdf").write_text("%PDF-1.4")
    (folder / ".ipynb_checkpoints" / "alice_01-checkpoint.ipynb").write_text("skipped")
    assert cli_main(["grade", str(folder), "-j", "0", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "minisagan: error: -j/--jobs: must be at least 1 (got 0)"
    assert cli_main(["grade", str(folder), "-j", "2", "--out", str(out)]) == 2  # 2: some files were not graded
    rows = {row["student"]: row for row in csv.DictReader(open(out / "grades.csv"))}
    assert {s: (r["1.1"], r["1.2"], r["1.3"], r["score"], r["problem"]) for s, r in rows.items()} == {
        "alice": ("0", "1", "0", "1", ""), "bob": ("0", "0", "0", "0", ""),
        "carol@uni.edu": ("", "", "", "0", "chapter 0's notebook, but this class is graded on chapter 1"),
        "dave": ("", "", "", "0", "an empty file, not a notebook"),
        "erin": ("", "", "", "0", "not a Jupyter notebook (NotJSONError)")}
    assert list(csv.reader(open(out / "canvas.csv")))[:3] == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "minisagan chapter 1"],
        ["Points Possible", "", "", "", "", "3"], ["alice", "", "alice", "", "", "1"]]
    bob = (out / "feedback" / "bob.md").read_text()
    assert "Chapter 1: **0 / 3**" in bob and "| 1.2 | 0 / 1 | L_D: 2.5 is too high, off by 0.833" in bob
    assert "### Exercise 1.2: Which of the six samples send no gradient to D?\n\n> None of them." in bob
    assert "Not graded: an empty file, not a notebook." in (out / "feedback" / "dave.md").read_text()
    assert "**bob**\n\n> None of them." in (out / "written.md").read_text()
    assert json.loads((out / "grades.json").read_text())["score"] == 1
