"""The autograder: ``minisagan grade NOTEBOOK.ipynb ...`` runs students' notebooks and scores them.

Each notebook runs top to bottom in a fresh Jupyter kernel (nbclient), in the smoke profile (the
exercises need no training results), each cell under a time limit. A cell that raises is noted and
the run goes on; one that runs past its limit is interrupted, and one that will not stop, or that
kills the kernel, is left out of a second run in a fresh kernel. Then, in the same kernel, each
exercise of the chapter is checked: its checker, imported afresh from `minisagan.exercises`
(whatever the notebook bound to its name), is called on the names the catalog lists, whatever the
notebook's own check cells say; a deleted check cell is noted and changes nothing. An exercise
scores 1 when its checker passes, else 0 with the checker's sentence. Guards against mistakes, not
against a student who sets out to fool it: their code runs in the grading kernel.

The table goes to stdout, the report to a JSON file for a grade book; exit status 0 when every
exercise of every notebook passed, 1 when one did not, 2 when a notebook could not be read.
nbformat and nbclient are imported only when grading starts.
"""

import json
import logging
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import CheckResult
from .catalog import chapter_exercises, exercise

MIME = "application/vnd.minisagan.grade+json"
GRADE_CELL = "from minisagan.exercises.grading import grade_in_kernel as _minisagan_grade\n_minisagan_grade(globals(), {!r})"
RESTARTS = 3  # fresh kernels tried, each without the cells that would not stop
TIMEOUT, TIMEOUT_FATE, PROBE = "MinisaganCellTimeout", "ran past", "minisagan: the kernel responds"
LIMIT = "minisagan_timeout"  # a cell's own time limit in its metadata: the grader's warm-up and probe


_QUIET = logging.getLogger("minisagan.grading.kernel")  # nbclient's timeout messages: the notes say it once
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class GradingError(ValueError):
    """A notebook that cannot be graded at all (not a notebook, no chapter): one line, its path."""


def grade_in_kernel(namespace: dict, number: str) -> None:
    """In the student's kernel: check exercise ``number`` on the names its answer defined; show the verdict."""
    from IPython.display import display

    chosen = exercise(number)
    missing = [name for name in chosen.answers if name not in namespace]
    if missing:
        verdict = {"status": "missing", "mistake": "undefined", "message": f"{', '.join(missing)} not defined: "
                   "the answer cell was deleted, or it failed or never ran (see the notes)"}
    else:
        try:
            result = chosen.check(*(namespace[name] for name in chosen.answers))
        except Exception as error:  # checkers answer with a CheckResult; this is for a broken environment
            result = CheckResult(False, f"the checker failed: {type(error).__name__}: {error}", "checker-error")
        status = "passed" if result.passed else "unanswered" if result.mistake == "unanswered" else "failed"
        verdict = {"status": status, "mistake": result.mistake, "message": result.message}
    display({MIME: verdict}, raw=True)


@dataclass
class ExerciseGrade:
    number: str
    checker: str
    status: str  # passed, failed, unanswered, missing, timeout, error
    message: str
    mistake: str = ""
    score: int = 0
    max_score: int = 1


@dataclass
class NotebookGrade:
    notebook: str
    chapter: int
    exercises: list[ExerciseGrade]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> int:
        return sum(e.score for e in self.exercises)

    @property
    def max_score(self) -> int:
        return sum(e.max_score for e in self.exercises)

    def to_dict(self) -> dict:
        return {**asdict(self), "score": self.score, "max_score": self.max_score}


def read_notebook(path: Path):
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise GradingError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:  # not JSON, not a notebook
        raise GradingError(f"{path}: not a Jupyter notebook ({type(error).__name__})") from None


def chapter_of(notebook, path: Path) -> int:
    """From the assignment's metadata, else the file name (``01_...``), else the checkers it imports."""
    chapter = notebook.metadata.get("minisagan", {}).get("chapter")
    if isinstance(chapter, int) and chapter_exercises(chapter):
        return chapter
    match = re.match(r"(\d\d)_", path.name) or re.search(
        r"minisagan\.exercises\.ch(\d\d)", "\n".join(c.source for c in notebook.cells if c.cell_type == "code"))
    if match and chapter_exercises(int(match[1])):
        return int(match[1])
    raise GradingError(f"{path}: cannot tell which chapter it is (no minisagan metadata, no NN_ file name, no "
                       "checker import): grade a notebook written by `make assignments`")


def _responds(client, index: int) -> bool:
    """After an interrupted cell: does the kernel run a trivial cell again, within a few seconds?"""
    from nbformat.v4 import new_code_cell

    probe = new_code_cell(f"print({PROBE!r})", metadata={LIMIT: min(10, client.timeout + 2)})
    client.execute_cell(probe, index)
    return any(PROBE in o.get("text", "") for o in probe.outputs)


def _attempt(cells: list, left_out: set, timeout: int, env: dict, folder: str) -> tuple[dict, tuple | None]:
    """Run the cells not ``left_out`` in one kernel: each cell's fate ("" when it ran cleanly), and
    (index, what happened) for a cell that would not stop or stopped the kernel (None when all ran).

    On a timeout nbclient interrupts the kernel and answers for it at once (``error_on_timeout``):
    waiting for the interrupted cell's own reply instead leaves a reader of its output behind, which
    swallows the next cells' outputs."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError
    from nbformat.v4 import new_notebook

    def on_error(cell, cell_index, execute_reply):
        content = execute_reply["content"]
        fates[id(cell)] = (f"ran past {timeout} s and was interrupted" if content.get("ename") == TIMEOUT else
                           f"raised {content.get('ename')}: {(str(content.get('evalue', '')).splitlines() or [''])[0][:200]}")

    # a list of its own: nbclient puts each executed cell, the probe too, back into its notebook's list
    client = NotebookClient(
        new_notebook(cells=list(cells)), kernel_name="python3", allow_errors=True, shutdown_kernel="immediate",
        timeout=timeout, timeout_func=lambda cell: cell.metadata.get(LIMIT, timeout), interrupt_on_timeout=True,
        error_on_timeout={"ename": TIMEOUT, "evalue": "", "traceback": []}, on_cell_error=on_error,
        resources={"metadata": {"path": folder}}, extra_arguments=["--IPKernelApp.log_level=ERROR"], log=_QUIET)
    fates = {}
    seen = lambda end: {i: fates.get(id(c), "") for i, c in enumerate(cells[:end]) if i not in left_out}
    with client.setup_kernel(env=env):
        for index, cell in enumerate(cells):
            if index in left_out:
                continue
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                return seen(index), (index, "stopped the kernel")
            if fates.get(id(cell), "").startswith(TIMEOUT_FATE) and not _responds(client, index):
                return seen(index), (index, f"would not stop after {timeout} s, even when interrupted")
    return seen(len(cells)), None


def _run(cells: list, timeout: int, profile: str) -> dict:
    """Every cell's fate; cells that would not stop are left out of a rerun in a fresh kernel."""
    env = {**os.environ, "MINISAGAN_PROFILE": profile}
    left_out = {}
    with tempfile.TemporaryDirectory(prefix="minisagan-grade-") as folder:
        while True:
            fates, stuck = _attempt(cells, set(left_out), timeout, env, folder)
            if stuck is None:
                return {**fates, **left_out}
            left_out[stuck[0]] = f"{stuck[1]}; the notebook was run again in a fresh kernel without it"
            if len(left_out) > RESTARTS:
                return {**fates, **left_out, **{i: "not run: too many cells would not stop" for i in
                                                range(len(cells)) if i not in fates and i not in left_out}}


def _verdict(cell, fate: str | None, number: str, checker: str, timeout: int) -> ExerciseGrade:
    shown = next((o.data[MIME] for o in cell.get("outputs", []) if o.get("output_type") == "display_data"
                  and MIME in o.get("data", {})), None)
    if shown is not None:
        return ExerciseGrade(number, checker, shown["status"], shown["message"], shown.get("mistake", ""),
                             int(shown["status"] == "passed"))
    if fate and (fate.startswith(TIMEOUT_FATE) or "would not stop" in fate):
        return ExerciseGrade(number, checker, "timeout", f"the check ran past {timeout} s on your answer: does it "
                             "loop forever?", "timeout")
    return ExerciseGrade(number, checker, "error", f"the exercise could not be checked: {fate or 'not run'}", "error")


def grade_notebook(path: Path, *, timeout: int = 60, profile: str = "smoke") -> NotebookGrade:
    """Run a student's notebook and check each exercise of its chapter (see the module's docstring)."""
    from nbformat.v4 import new_code_cell

    start = time.perf_counter()
    path = Path(path)
    notebook = read_notebook(path)
    chapter = chapter_of(notebook, path)
    code = [(i, cell) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and cell.source.strip()]
    exercises = chapter_exercises(chapter)
    # the grader's own imports (torch, the checkers) first, under a limit of their own, not the students'
    warm_up = new_code_cell(f"__import__({exercises[0].module!r}), __import__({__name__!r})",
                            metadata={LIMIT: max(timeout, 120)})
    cells = [warm_up] + [cell for _, cell in code] + [new_code_cell(GRADE_CELL.format(e.number)) for e in exercises]
    fates = _run(cells, timeout, profile)
    notes = [f"the grader could not import its checkers in the kernel: {fates[0]}"] if fates.get(0) else []
    notes += [f"cell {i + 1} ({_first_line(cell.source)}) {fates[k]}" for k, (i, cell) in enumerate(code, 1)
              if fates.get(k)]
    notes += [f"the check cell of Exercise {e.number} ({e.call}) was deleted; the grader checked it all the same"
              for e in exercises if not any(f"{e.checker}(" in cell.source for _, cell in code)]
    first = 1 + len(code)
    grades = [_verdict(cells[first + k], fates.get(first + k), e.number, e.checker, timeout)
              for k, e in enumerate(exercises)]
    return NotebookGrade(str(path), chapter, grades, notes, round(time.perf_counter() - start, 1))


def _first_line(source: str) -> str:
    line = source.strip().splitlines()[0]
    return line if len(line) <= 50 else line[:47] + "..."


def table(grades: list[NotebookGrade]) -> str:
    """The grades as text: one block per notebook, one row per exercise, then the notes."""
    lines = []
    for grade in grades:
        lines.append(f"{grade.notebook}: {grade.score}/{grade.max_score} (chapter {grade.chapter}, {grade.seconds:.0f} s)")
        lines.append(f"  {'exercise':<9}{'score':<7}{'status':<12}result")
        for e in grade.exercises:
            mistake = f" [{e.mistake}]" if e.mistake and e.status == "failed" else ""
            lines.append(f"  {e.number:<9}{f'{e.score}/{e.max_score}':<7}{e.status:<12}{e.message}{mistake}")
        lines += [f"  note: {note}" for note in grade.notes]
    return "\n".join(lines)


def grade_all(paths: list[Path], *, timeout: int, profile: str, report: Path) -> int:
    """Grade each notebook, print the table, write the JSON report; the exit status (see the module)."""
    grades, unreadable = [], []
    if timeout < 1:
        raise GradingError(f"--timeout: must be at least 1 second (got {timeout})")
    if not report.parent.is_dir():
        raise GradingError(f"--json {str(report)!r}: the folder {str(report.parent)!r} does not exist")
    for path in paths:
        try:
            grades.append(grade_notebook(path, timeout=timeout, profile=profile))
        except GradingError as error:
            unreadable.append(str(error))
    print(table(grades) + "".join(f"\ncould not grade {problem}" for problem in unreadable))
    total, best = sum(g.score for g in grades), sum(g.max_score for g in grades)
    report.write_text(json.dumps({"score": total, "max_score": best, "notebooks": [g.to_dict() for g in grades],
                                  "errors": unreadable}, indent=2) + "\n")
    print(f"total {total}/{best}; report: {report}")
    return 2 if unreadable else 0 if total == best else 1
