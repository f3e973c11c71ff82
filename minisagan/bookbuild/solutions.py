"""Where a chapter's exercises and solutions are, in its MyST text.

The chapters write them with sphinx-exercise's directives: ```` ```{exercise} Title```` with a
``:label:``, then a solution, either one directive (```` ```{solution} ex-1-1````) or, when it holds
code cells, gated: ```` ```{solution-start} ex-1-1```` ... ```` ```{solution-end}````. `blocks`
splits a text into those directives and the text around them; `strip_solutions` removes every
solution from a chapter's text (the student edition is built from that); `chapter_layout` reads a
chapter as prose, code and exercises, each exercise with its statement and its solution's cells
(the assignment notebooks are written from that).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

DIRECTIVES = ("exercise", "solution", "solution-start", "solution-end")
OPENING = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<arg>[^\n]*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>[^\n]*)$")
CHAPTER = re.compile(r"^(\d\d)_")


@dataclass
class Block:
    kind: str  # "text" or one of DIRECTIVES
    raw: str  # the block's exact text: the blocks of a text join back into it
    arg: str = ""  # the directive's argument: an exercise's title, a solution's label
    options: dict = field(default_factory=dict)
    body: str = ""


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line that closes a fence opened at ``start`` (the last line when none does)."""
    for index in range(start + 1, len(lines)):
        stripped = lines[index].strip()
        if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
            return index
    return len(lines) - 1


def blocks(text: str) -> list[Block]:
    """The text as a list of blocks: exercise and solution directives, and the text between them."""
    lines, found, start, index = text.splitlines(keepends=True), [], 0, 0
    while index < len(lines):
        match = OPENING.match(lines[index].rstrip("\n"))
        if not match or match["name"] not in DIRECTIVES:
            index += 1
            continue
        end = _closing(lines, index, match["fence"])
        if start < index:
            found.append(Block("text", "".join(lines[start:index])))
        inner, options = lines[index + 1:end], {}
        while inner and OPTION.match(inner[0].rstrip("\n")):
            option = OPTION.match(inner.pop(0).rstrip("\n"))
            options[option["key"]] = option["value"].strip()
        found.append(Block(match["name"], "".join(lines[index:end + 1]), match["arg"].strip(), options,
                           "".join(inner).strip("\n")))
        start = index = end + 1
    if start < len(lines):
        found.append(Block("text", "".join(lines[start:])))
    return found


def strip_solutions(text: str) -> str:
    """The text without its solutions: every ``{solution}`` block and all from each
    ``{solution-start}`` to its ``{solution-end}``, code cells and prose included."""
    kept, inside = [], False
    for block in blocks(text):
        if block.kind == "solution-start":
            inside = True
        elif block.kind == "solution-end":
            inside = False
        elif block.kind != "solution" and not inside:
            kept.append(block.raw)
    return re.sub(r"\n{3,}", "\n\n", "".join(kept))


@dataclass
class BookExercise:
    chapter: int
    index: int  # 1, 2, ... within the chapter, in the book's order
    label: str
    title: str
    statement: str  # the exercise's body, MyST markdown
    solution: list = field(default_factory=list)  # ("markdown", text) and ("code", source), in order


def chapter_number(path: Path) -> int | None:
    match = CHAPTER.match(Path(path).name)
    return int(match[1]) if match else None


def chapter_layout(notebook, chapter: int) -> list[tuple]:
    """The chapter's cells in order as ("markdown", text), ("code", cell) and ("exercise", BookExercise);
    an exercise's solution lies in its ``solution`` list, not in the sequence."""
    items, by_label, inside = [], {}, None
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            if inside is not None:
                inside.solution.append(("code", cell.source))
            else:
                items.append(("code", cell))
            continue
        for block in blocks(cell.source):
            if block.kind == "exercise":
                exercise = BookExercise(chapter, len(by_label) + 1, block.options.get("label", ""), block.arg,
                                        block.body)
                by_label[exercise.label] = exercise
                items.append(("exercise", exercise))
            elif block.kind == "solution-start":
                inside = _solution_of(by_label, block.arg)
            elif block.kind == "solution-end":
                inside = None
            elif block.kind == "solution":
                _solution_of(by_label, block.arg).solution.append(("markdown", block.body))
            elif inside is not None:
                if block.raw.strip():
                    inside.solution.append(("markdown", block.raw.strip("\n")))
            elif block.raw.strip():
                items.append(("markdown", block.raw.strip("\n")))
    return items


def _solution_of(by_label: dict, label: str) -> BookExercise:
    if label not in by_label:
        raise ValueError(f"a solution to {label!r}, which is no exercise above it")
    return by_label[label]


def book_exercises(chapter_path: Path) -> list[BookExercise]:
    """A chapter's exercises with their solutions, in order."""
    import jupytext

    layout = chapter_layout(jupytext.read(chapter_path), chapter_number(chapter_path))
    return [item[1] for item in layout if item[0] == "exercise"]
