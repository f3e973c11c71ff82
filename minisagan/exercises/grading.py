"""The autograder: ``minisagan grade NOTEBOOK.ipynb ...`` runs students' notebooks and scores them.

Each notebook runs top to bottom in a fresh Jupyter kernel (nbclient), in the smoke profile (the
exercises need no training results). The chapter's own cells run under a limit of their own
(``book_timeout``, long: they train and plot on whatever machine grades); the answer and check
cells under the short ``timeout``. Before each answer cell the grader removes the names that
exercise's answer defines, so that an answer that fails is never scored on a value the chapter
or an earlier cell left behind. A cell that raises is noted and the run goes on (an answer cell's
error goes on its exercise's row); one that runs past its limit is interrupted, and one that will
not stop, or that kills the kernel, is left out of a second run in a fresh kernel. Then, in the
same kernel, each exercise of the chapter is checked: its checker, imported afresh from
`minisagan.exercises` (whatever the notebook bound to its name), is called on the names the
catalog lists, whatever the notebook's own check cells say; a deleted check cell is noted and
changes nothing. An exercise scores 1 when its checker passes, else the share of its test cases
that passed (0 for a checker of one case) with the checker's sentence. An answer cell that names
one of the book's own functions that do the exercise (`catalog.LIBRARY`) is flagged, and the
written answers (`catalog.WRITTEN`) are collected for the instructor. Guards against mistakes,
not against a student who sets out to fool it: their code runs in the grading kernel.

`classroom` grades many notebooks (a folder, in parallel) and writes the reports.
nbformat and nbclient are imported only when grading starts.
"""

import ast
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
LIMIT = "minisagan_timeout"  # a cell's own time limit in its metadata
ANSWER = re.compile(r"^# YOUR ANSWER HERE: Exercise (\d+\.\d+)")  # `assignments.MARK`, if metadata was lost
CLEAR = "for _minisagan_name in {!r}:\n    globals().pop(_minisagan_name, None)"
PROMPT, UNWRITTEN = "**Your answer in words.**", "*Write your answer here.*"  # `assignments`' written cell


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
        verdict = {"status": status, "mistake": result.mistake, "message": result.message, "score": result.score}
    display({MIME: verdict}, raw=True)


@dataclass
class ExerciseGrade:
    number: str
    checker: str
    status: str  # passed, failed, unanswered, missing, timeout, error
    message: str
    mistake: str = ""
    score: float = 0.0  # 1 when passed, else the share of the checker's cases that passed
    max_score: int = 1
    flag: str = ""  # for the instructor: the answer calls the book's own function


@dataclass
class NotebookGrade:
    notebook: str
    chapter: int
    exercises: list[ExerciseGrade]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    written: dict[str, str] = field(default_factory=dict)  # exercise -> the student's answer in words

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.exercises), 3)

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
        fates[id(cell)] = (f"ran past {limit(cell)} s and was interrupted" if content.get("ename") == TIMEOUT else
                           f"raised {content.get('ename')}: {(str(content.get('evalue', '')).splitlines() or [''])[0][:200]}")

    limit = lambda cell: cell.metadata.get(LIMIT, timeout)
    # a list of its own: nbclient puts each executed cell, the probe too, back into its notebook's list
    client = NotebookClient(
        new_notebook(cells=list(cells)), kernel_name="python3", allow_errors=True, shutdown_kernel="immediate",
        timeout=timeout, timeout_func=limit, interrupt_on_timeout=True,
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
                return seen(index), (index, f"would not stop after {limit(cell)} s, even when interrupted")
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


def _verdict(cell, fate: str | None, answer_fate: str, number: str, checker: str, timeout: int) -> ExerciseGrade:
    shown = next((o.data[MIME] for o in cell.get("outputs", []) if o.get("output_type") == "display_data"
                  and MIME in o.get("data", {})), None)
    answered = f"your answer cell {answer_fate}" if answer_fate else ""
    if shown is not None and shown["status"] == "missing" and answered:
        return ExerciseGrade(number, checker, "error", answered, "answer-cell")
    if shown is not None:
        message = shown["message"] + (f" (and {answered})" if answered else "")
        return ExerciseGrade(number, checker, shown["status"], message, shown.get("mistake", ""),
                             round(float(shown.get("score", shown["status"] == "passed")), 3))
    if fate and (fate.startswith(TIMEOUT_FATE) or "would not stop" in fate):
        return ExerciseGrade(number, checker, "timeout", f"the check ran past {timeout} s on your answer: does it "
                             "loop forever?", "timeout")
    return ExerciseGrade(number, checker, "error", f"the exercise could not be checked: {fate or 'not run'}", "error")


def answer_of(cell) -> str:
    """The exercise whose answer cell this is ("" for any other cell): its metadata, else its first line."""
    info = cell.metadata.get("minisagan", {})
    if info.get("role") == "answer" and info.get("exercise"):
        return str(info["exercise"])
    match = ANSWER.match(cell.source)
    return match[1] if match else ""


def library_calls(source: str, names: tuple[str, ...]) -> list[str]:
    """The names of ``names`` that ``source`` uses (a call, an import, an attribute)."""
    try:
        used = {n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else n.name
                for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.Name, ast.Attribute, ast.alias))}
    except SyntaxError:
        used = set(re.findall(r"\w+", source))
    return [name for name in names if name in used]


def grade_notebook(path: Path, *, timeout: int = 60, book_timeout: int = 600, profile: str = "smoke") -> NotebookGrade:
    """Run a student's notebook and check each exercise of its chapter (see the module's docstring)."""
    from nbformat.v4 import new_code_cell

    start = time.perf_counter()
    path = Path(path)
    notebook = read_notebook(path)
    chapter = chapter_of(notebook, path)
    exercises = {e.number: e for e in chapter_exercises(chapter)}
    # the grader's own imports (torch, the checkers) first, under a limit of their own, not the students'
    cells = [new_code_cell(f"__import__({next(iter(exercises.values())).module!r}), __import__({__name__!r})",
                           metadata={LIMIT: max(timeout, book_timeout, 120)})]
    rows, answer_cells, flags = {}, {}, {}  # index in cells -> (cell number in the notebook, its first line)
    for number_in_notebook, cell in enumerate(notebook.cells, 1):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        number = answer_of(cell)
        if number in exercises:
            cells.append(new_code_cell(CLEAR.format(exercises[number].answers), metadata={LIMIT: max(timeout, 10)}))
            answer_cells[len(cells)] = number
            used = library_calls(cell.source, exercises[number].library)
            if used:
                flags[number] = f"the answer uses the book's own {', '.join(used)}: read it before crediting it"
        own = number or cell.metadata.get("minisagan", {}).get("role") == "check"
        cell.metadata[LIMIT] = timeout if own else book_timeout
        rows[len(cells)] = (number_in_notebook, _first_line(cell.source))
        cells.append(cell)
    first = len(cells)
    cells += [new_code_cell(GRADE_CELL.format(number), metadata={LIMIT: timeout}) for number in exercises]
    fates = _run(cells, timeout, profile)
    notes = [f"the grader could not import its checkers in the kernel: {fates[0]}"] if fates.get(0) else []
    notes += [f"cell {n} ({line}) {fates[k]}" for k, (n, line) in rows.items() if fates.get(k) and k not in answer_cells]
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    notes += [f"the check cell of Exercise {e.number} ({e.call}) was deleted; the grader checked it all the same"
              for e in exercises.values() if not any(f"{e.checker}(" in source for source in sources)]
    answer_fates = {number: fates.get(k) or "" for k, number in answer_cells.items()}
    grades = [_verdict(cells[first + k], fates.get(first + k), answer_fates.get(number, ""), number, e.checker, timeout)
              for k, (number, e) in enumerate(exercises.items())]
    for grade in grades:
        grade.flag = flags.get(grade.number, "")
    return NotebookGrade(str(path), chapter, grades, notes, round(time.perf_counter() - start, 1), written(notebook))


def written(notebook) -> dict[str, str]:
    """Each exercise's answer in words, from the cells `make assignments` made for them."""
    found = {}
    for cell in notebook.cells:
        info = cell.metadata.get("minisagan", {})
        if cell.cell_type == "markdown" and info.get("role") == "written":
            lines = cell.source.strip().splitlines()
            text = "\n".join(lines[1:] if lines and lines[0].startswith(PROMPT) else lines).strip()
            found[str(info.get("exercise"))] = "" if text in ("", UNWRITTEN) else text
    return found


def _first_line(source: str) -> str:
    line = source.strip().splitlines()[0]
    return line if len(line) <= 50 else line[:47] + "..."
