"""Grading a class: ``minisagan grade SUBMISSIONS/ -j 2 --out grades`` and what it writes.

The paths are notebooks or folders of them (searched recursively; hidden files and Jupyter's
checkpoints are skipped). Each file is one student's submission: the student is named by the
notebook's metadata (``minisagan.student``), else by the folder it lies in under the folder given
(nbgrader's ``submitted/<student>/`` layout), else by its file name without the chapter's part
(``alice_01_gans_and_hinge.ipynb``, ``alice_01.ipynb`` -> ``alice``). Notebooks are graded in parallel (``jobs``
processes, each running one kernel at a time: `grading.grade_notebook`). A file that is not a
notebook, an empty one, or another chapter's (when a folder or ``--chapter`` says which chapter the
class is on: the most common one, unless ``--chapter`` names it) gets a row that says so.

With ``out`` it writes there: ``grades.csv`` (a row per student, a column per exercise, the
flags), ``feedback/<student>.md`` (to send back: each row's sentence, the notes and the answers in
words), ``written.md`` (every student's answers in words, by exercise, for the instructor) and
``canvas.csv`` (Canvas's gradebook import: match on "SIS User ID"; Gradescope's "upload scores"
takes the same file with its "SIS User ID" column renamed "SID").
"""

import csv
import json
import multiprocessing
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .catalog import chapter_exercises
from .grading import GradingError, NotebookGrade, chapter_of, grade_notebook, read_notebook


@dataclass
class Submission:
    student: str
    file: str
    chapter: int | None = None
    grade: NotebookGrade | None = None
    problem: str = ""  # why it was not graded ("" when it was)


def files_in(paths: list[Path]) -> list[tuple[Path, Path | None]]:
    """Each file to grade, with the folder it was found in (None for a file named on its own)."""
    found = []
    for path in paths:
        if path.is_dir():
            found += [(f, path) for f in sorted(path.rglob("*")) if f.is_file() and not any(
                part.startswith(".") for part in f.relative_to(path).parts)]
        else:
            found.append((path, None))
    return found


def student_of(path: Path, root: Path | None, notebook=None) -> str:
    named = notebook.metadata.get("minisagan", {}).get("student") if notebook is not None else None
    if isinstance(named, str) and named.strip():
        return named.strip()
    if root is not None and len(path.relative_to(root).parts) > 1:
        return path.relative_to(root).parts[0]
    return re.sub(r"[_-]\d\d(_\w*)?$", "", path.stem) or path.stem


def examine(path: Path, root: Path | None) -> Submission:
    """The submission as found: its student, chapter, or the reason it cannot be graded."""
    if path.is_file() and path.stat().st_size == 0:
        return Submission(student_of(path, root), str(path), problem="an empty file, not a notebook")
    try:
        notebook = read_notebook(path)
    except GradingError as error:
        return Submission(student_of(path, root), str(path), problem=str(error).split(": ", 1)[-1])
    student = student_of(path, root, notebook)
    if not notebook.cells:
        return Submission(student, str(path), problem="an empty notebook: no cells")
    try:
        return Submission(student, str(path), chapter_of(notebook, path))
    except GradingError as error:
        return Submission(student, str(path), problem=str(error).split(": ", 1)[-1])


def grade_class(paths: list[Path], *, jobs: int = 1, chapter: int | None = None, **limits) -> list[Submission]:
    """Inspect every file, then grade the notebooks of the class's chapter, ``jobs`` at a time."""
    found = files_in(paths)
    rows = [examine(path, root) for path, root in found]
    if chapter is None and any(root is not None for _, root in found):
        chapter = next(iter(Counter(r.chapter for r in rows if r.chapter is not None).most_common(1)), (None,))[0]
    for row in rows:
        if chapter is not None and row.chapter is not None and row.chapter != chapter:
            row.problem = f"chapter {row.chapter}'s notebook, but this class is graded on chapter {chapter}"
    seen = Counter()
    for row in rows:  # two files of one student: keep both, told apart
        seen[row.student] += 1
        row.student += f"-{seen[row.student]}" if seen[row.student] > 1 else ""
    todo = [row for row in rows if not row.problem]
    if jobs > 1 and len(todo) > 1:
        # spawn: a fork of a process that has imported torch may hang; each worker runs one kernel at a time
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            grades = list(pool.map(_grade_one, [(row.file, limits) for row in todo]))
    else:
        grades = [_grade_one((row.file, limits)) for row in todo]
    for row, (grade, problem) in zip(todo, grades):
        row.grade, row.problem = grade, problem
    return rows


def _grade_one(job) -> tuple[NotebookGrade | None, str]:
    path, limits = job
    try:
        return grade_notebook(Path(path), **limits), ""
    except GradingError as error:
        return None, str(error).split(": ", 1)[-1]


def table(rows: list[Submission]) -> str:
    """The grades as text: one block per notebook, one row per exercise, then the notes."""
    lines = []
    for row in rows:
        grade = row.grade
        if grade is None:
            lines.append(f"{row.file}: not graded: {row.problem}")
            continue
        lines.append(f"{grade.notebook}: {grade.score:g}/{grade.max_score} ({row.student}, chapter {grade.chapter}, "
                     f"{grade.seconds:.0f} s)")
        lines.append(f"  {'exercise':<9}{'score':<7}{'status':<12}result")
        for e in grade.exercises:
            mistake = f" [{e.mistake}]" if e.mistake and e.status == "failed" else ""
            lines.append(f"  {e.number:<9}{f'{e.score:g}/{e.max_score}':<7}{e.status:<12}{e.message}{mistake}")
            lines += [f"  flag {e.number}: {e.flag}"] if e.flag else []
        lines += [f"  note: {note}" for note in grade.notes]
    return "\n".join(lines)


def write_reports(rows: list[Submission], out: Path) -> None:
    """grades.csv, canvas.csv, written.md and feedback/<student>.md in ``out`` (see the module)."""
    from .feedback import feedback_markdown, written_markdown

    chapters = sorted({r.grade.chapter for r in rows if r.grade})
    numbers = [e.number for c in chapters for e in chapter_exercises(c)]
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "file", "chapter", *numbers, "score", "max_score", "problem", "flags"])
        for row in rows:
            scores = {e.number: f"{e.score:g}" for e in row.grade.exercises} if row.grade else {}
            writer.writerow([row.student, row.file, row.chapter if row.chapter is not None else "",
                             *(scores.get(n, "") for n in numbers), f"{row.grade.score:g}" if row.grade else 0,
                             row.grade.max_score if row.grade else "", row.problem,
                             "; ".join(f"{e.number}: {e.flag}" for e in row.grade.exercises if e.flag)
                             if row.grade else ""])
    title = f"minisagan chapter {', '.join(map(str, chapters))}" if chapters else "minisagan"
    with open(out / "canvas.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title])
        writer.writerow(["Points Possible", "", "", "", "", max((r.grade.max_score for r in rows if r.grade),
                                                                  default=0)])
        for row in rows:
            writer.writerow([row.student, "", row.student, "", "", f"{row.grade.score:g}" if row.grade else 0])
    for row in rows:
        (out / "feedback" / f"{_safe(row.student)}.md").write_text(feedback_markdown(row))
    (out / "written.md").write_text(written_markdown(rows))


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)


def grade_all(paths: list[Path], *, timeout: int, profile: str, report: Path, book_timeout: int = 600,
              jobs: int = 1, chapter: int | None = None, out: Path | None = None) -> int:
    """Grade, print the table, write the JSON report (and with ``out`` the class's files). Exit
    status: 0 when every exercise of every notebook passed, 1 when one did not, 2 when a file could
    not be graded (it has a row all the same)."""
    if timeout < 1 or book_timeout < 1:
        raise GradingError(f"--timeout and --book-timeout: must be at least 1 second (got {timeout}, {book_timeout})")
    if jobs < 1:
        raise GradingError(f"-j/--jobs: must be at least 1 (got {jobs})")
    if not report.parent.is_dir():
        raise GradingError(f"--json {str(report)!r}: the folder {str(report.parent)!r} does not exist")
    if chapter is not None and not chapter_exercises(chapter):
        raise GradingError(f"--chapter {chapter}: the book has no such chapter with exercises")
    missing = [str(p) for p in paths if not p.exists()]
    rows = grade_class([p for p in paths if p.exists()], jobs=jobs, chapter=chapter, timeout=timeout,
                       book_timeout=book_timeout, profile=profile)
    rows += [Submission(student_of(Path(p), None), p, problem="no such file") for p in missing]
    print(table(rows))
    graded = [r.grade for r in rows if r.grade]
    total, best = round(sum(g.score for g in graded), 3), sum(g.max_score for g in graded)
    report.write_text(json.dumps({
        "score": total, "max_score": best,
        "notebooks": [{"student": r.student, **r.grade.to_dict()} for r in rows if r.grade],
        "errors": [f"{r.file}: {r.problem}" for r in rows if not r.grade]}, indent=2) + "\n")
    if out is not None:
        write_reports(rows, out)
    print(f"total {total:g}/{best}; report: {report}" + (f"; class files: {out}" if out is not None else ""))
    return 2 if any(not r.grade for r in rows) else 0 if total == best else 1
