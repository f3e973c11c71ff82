"""The book's references hold: every {ref} names a label that exists, and one that says "Chapter N"
lands in Chapter N; prose names no chapter or exercise by hand (a bare "Chapter 5" cannot fail the
build when the chapters move, a reference can); no page points readers at the project's private
notes; each chapter's exercises are ex-C-1, ex-C-2, ... in order, as the checkers number them; and the
book's Sphinx extension renders them as "Exercise C.N". Reads the markdown; builds no book."""

import ast
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
EXERCISES = ROOT / "minisagan" / "exercises"

FENCE = re.compile(r"^(`{3,}|~{3,})\s*(\{[\w-]+\})?")
ROLE = re.compile(r"\{(ref|numref|eq|doc)\}`([^`]+)`")
TARGET = re.compile(r"^\(([^()\s]+)\)=\s*$", re.M)  # (label)= above a heading or a block
OPTION = re.compile(r"^:(?:label|name):\s*(\S+)\s*$", re.M)  # a figure's, exercise's or math block's label
MATH_LABEL = re.compile(r"^\$\$\s*\(([^()\s]+)\)\s*$", re.M)  # $$ ... $$ (label)
SOLUTION = re.compile(r"^```\{solution(?:-start)?\}\s+(\S+)", re.M)
EXERCISE = re.compile(r"^```\{exercise(?:-start)?\}[ \t]*([^\n]*)\n((?::[\w-]+:[^\n]*\n)*)", re.M)
BARE = re.compile(r"\b(?:chapters? \d|exercises? \d+\.\d+)", re.I)
NUMBERED_TEXT = re.compile(r"^(?:chapters? )?(\d+)\b", re.I)  # "Chapter 6", "Chapter 2's trainer", "3", "7. The full model"
NUMBER_IN_TITLE = re.compile(r"^(?:exercise\s+)?(\d+)\.(\d+)\b", re.I)
CHECKER_NUMBER = re.compile(r"^Exercise (\d+)\.(\d+)\b")


def pages(book: Path) -> list[Path]:
    return sorted(book.glob("*.md"))


def chapter_of(page: Path) -> int | None:
    return int(page.name[:2]) if re.match(r"\d\d_", page.name) else None


def prose(text: str) -> str:
    """The text with code cells and plain code blocks blanked, line for line; directives such as
    exercises and solutions keep their content, which is prose."""
    out, stack = [], []  # stack: the open fences, (fence, is_code)
    for line in text.splitlines():
        stripped = line.strip()
        match = FENCE.match(stripped)
        if stack and stack[-1][1]:  # inside code: only its own closing fence counts
            if stripped == stack[-1][0]:
                stack.pop()
            out.append("")
        elif match and match[2] and match[2] != "{code-cell}":
            stack.append((match[1], False))
            out.append(line)
        elif match and stack and stripped == stack[-1][0]:
            stack.pop()
            out.append("")
        elif match:
            stack.append((match[1], True))
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def roles(text: str) -> list[tuple[int, str, str, str]]:
    """(line, role, link text, target) of every {ref}, {numref}, {eq} and {doc} in the prose."""
    found, text = [], prose(text)  # prose keeps the line numbers
    for match in ROLE.finditer(text):
        content = match[2].strip()
        explicit = re.match(r"^(.*?)\s*<([^<>]+)>$", content, re.S)
        link_text, target = (explicit[1], explicit[2]) if explicit else ("", content)
        found.append((text.count("\n", 0, match.start()) + 1, match[1], link_text, target.strip()))
    return found


def labels(book: Path) -> dict[str, Path]:
    """Every label a page defines, with its page."""
    defined = {}
    for page in pages(book):
        text = page.read_text()
        for pattern in (TARGET, OPTION, MATH_LABEL):
            defined.update((label, page) for label in pattern.findall(text))
    return defined


def exercises(page: Path) -> list[tuple[str, str]]:
    """(title, label) of each exercise of a page, in order ("" for a missing label)."""
    found = []
    for match in EXERCISE.finditer(page.read_text()):
        label = re.search(r"^:label:\s*(\S+)", match[2], re.M)
        found.append((match[1].strip(), label[1] if label else ""))
    return found


# --- The checks, each returning its problems (empty: all is well) ---------------------------------

def unknown_targets(book: Path) -> list[str]:
    defined, problems = labels(book), []
    for page in pages(book):
        text = page.read_text()
        for line, role, _, target in roles(text):
            if role == "doc":
                path = (page.parent / target) if not target.startswith("/") else (book.parent / target.lstrip("/"))
                missing = not any(path.with_suffix(s).exists() for s in (".md", ".ipynb"))
            else:
                missing = target not in defined
            if missing:
                problems.append(f"{page.name}:{line}: {{{role}}} to {target!r}, which no page defines")
        for target in SOLUTION.findall(text):
            if target not in {label for _, label in exercises(page)}:
                problems.append(f"{page.name}: a solution to {target!r}, which is no exercise of this page")
    return problems


def bare_mentions(book: Path) -> list[str]:
    problems = []
    for page in pages(book):
        text = ROLE.sub("{role}", prose(page.read_text()))
        text = re.sub(r"`[^`\n]*`", "`code`", text)  # inline code is code
        for number, line in enumerate(text.splitlines(), 1):
            problems += [f"{page.name}:{number}: {m[0]!r} without a reference" for m in BARE.finditer(line)]
    return problems


def wrong_chapter_numbers(book: Path) -> list[str]:
    defined, problems = labels(book), []
    for page in pages(book):
        for line, _, link_text, target in roles(page.read_text()):
            said = NUMBERED_TEXT.match(link_text)
            if said and target in defined and chapter_of(defined[target]) != int(said[1]):
                problems.append(f"{page.name}:{line}: {link_text!r} points at {target!r}, which is in "
                                f"{defined[target].name}")
    return problems


def shared_mentions(book: Path) -> list[str]:
    return [f"{page.name}:{number}: {line.strip()!r}" for page in pages(book)
            for number, line in enumerate(page.read_text().splitlines(), 1)
            if re.search(r"shared/|SAGAN_SPEC", line)]


def misnumbered_exercises(book: Path) -> list[str]:
    problems = []
    for page in pages(book):
        chapter = chapter_of(page)
        for n, (title, label) in enumerate(exercises(page), 1):
            if chapter is None:
                problems.append(f"{page.name}: an exercise outside a chapter ({title!r})")
            elif label != f"ex-{chapter}-{n}":
                problems.append(f"{page.name}: exercise {n} ({title!r}) is labelled {label!r}, not 'ex-{chapter}-{n}'")
            said = NUMBER_IN_TITLE.match(title)
            if said and (int(said[1]), int(said[2])) != (chapter, n):
                problems.append(f"{page.name}: exercise {chapter}.{n}'s title says {said[0]!r}")
    return problems


def misnumbered_checkers(book: Path, exercises_dir: Path) -> list[str]:
    """A checker whose docstring says "Exercise C.N" is called by the solution of ex-C-N."""
    problems = []
    for module in sorted(exercises_dir.glob("ch[0-9][0-9].py")):
        chapter_pages = sorted(book.glob(f"{module.stem[2:]}_*.md"))
        text = chapter_pages[0].read_text() if chapter_pages else ""
        solutions = {label: body for label, body in re.findall(
            r"```\{solution(?:-start)?\}\s+(\S+)(.*?)(?=```\{(?:exercise|solution-end)|\Z)", text, re.S)}
        for node in ast.parse(module.read_text()).body:
            said = CHECKER_NUMBER.match(ast.get_docstring(node) or "") if isinstance(node, ast.FunctionDef) else None
            if said:
                label = f"ex-{int(said[1])}-{int(said[2])}"
                if f"{node.name}(" not in solutions.get(label, ""):
                    problems.append(f"{module.name}: {node.name} says {said[0]!r}, but the solution of {label} "
                                    "does not call it")
    return problems


# --- The book passes them --------------------------------------------------------------------------

def test_every_reference_in_the_book_points_at_a_label_that_exists():
    assert unknown_targets(BOOK) == []


def test_no_chapter_or_exercise_is_named_in_prose_without_a_reference():
    assert bare_mentions(BOOK) == []


def test_a_reference_that_says_chapter_n_lands_in_chapter_n():
    assert wrong_chapter_numbers(BOOK) == []


def test_no_book_page_mentions_the_shared_folder():
    assert shared_mentions(BOOK) == []


def test_each_chapters_exercises_are_labelled_ex_c_1_to_n_in_order():
    assert misnumbered_exercises(BOOK) == []
    assert sum(len(exercises(page)) for page in pages(BOOK)) >= 3 * len(list(BOOK.glob("[0-9][0-9]_*.md")))


def test_checkers_say_the_number_of_the_exercise_whose_solution_calls_them():
    assert misnumbered_checkers(BOOK, EXERCISES) == []


def test_the_book_defines_the_chapter_labels_others_reference():
    chapters = {label: page.name[:2] for label, page in labels(BOOK).items() if label.startswith("ch-")}
    assert sorted(chapters.values()) == sorted(page.name[:2] for page in BOOK.glob("[0-9][0-9]_*.md"))


# --- Each check catches what it is for: a broken copy of the book fails it --------------------------

BREAKAGES = {
    "a reference to a label nobody defines": (
        "03_self_attention.md", "{ref}`ex-0-3`", "{ref}`ex-0-9`", unknown_targets),
    "a solution to an exercise that is not there": (
        "02_spectral_norm.md", "```{solution-start} ex-2-1", "```{solution-start} ex-2-7", unknown_targets),
    "a {doc} to a missing page": (
        "03_self_attention.md", "{ref}`ex-0-3`", "{doc}`00_how_to_reed`", unknown_targets),
    "a bare chapter number": (
        "01_gans_and_hinge.md", "{ref}`Chapter 6 <ch-training>` splits them", "Chapter 6 splits them", bare_mentions),
    "a bare exercise number": ("03_self_attention.md", "{ref}`ex-3-2`", "exercise 3.2", bare_mentions),
    "a reference whose text names another chapter": (
        "01_gans_and_hinge.md", "{ref}`Chapter 6 <ch-training>` splits them",
        "{ref}`Chapter 5 <ch-training>` splits them", wrong_chapter_numbers),
    "a mention of the shared notes": (
        "06_training.md", "## The paper's claim\n", "## The paper's claim\n\n(see shared/SAGAN_SPEC.md)\n",
        shared_mentions),
    "two exercises out of order": ("00_how_to_read.md", ":label: ex-0-2", ":label: ex-0-5", misnumbered_exercises),
    "a title with the wrong number": (
        "03_self_attention.md", "```{exercise} The wrong axis", "```{exercise} 3.3 The wrong axis",
        misnumbered_exercises),
    "a solution calling another exercise's checker": (
        "03_self_attention.md", "\ncheck_wrong_axis(wrong_axis_attention)\n", "\ncheck_attention_block(wrong_axis_attention)\n",
        lambda book: misnumbered_checkers(book, EXERCISES)),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_the_checks_catch_a_broken_copy_of_the_book(breakage, tmp_path):
    name, old, new, check = BREAKAGES[breakage]
    book = tmp_path / "book"
    shutil.copytree(BOOK, book)
    assert check(book) == [], "the copy starts clean"
    page = book / name
    assert page.read_text().count(old) >= 1, f"{name} no longer holds {old!r}: update this breakage"
    page.write_text(page.read_text().replace(old, new, 1))
    assert check(book) != []


def test_code_cells_and_link_texts_may_name_chapters(tmp_path):
    (tmp_path / "00_a.md").write_text(
        "(ch-a)=\n# 0. A\n\n```{code-cell} ipython3\nprint(\"Chapter 1's GAN\")  # Chapter 2\n```\n\n"
        "See {ref}`Chapter 0's start <ch-a>`, Chapters {ref}`0 <ch-a>` and `Chapter 9` in code.\n"
        "```bash\necho Chapter 4\n```\n")
    assert bare_mentions(tmp_path) == [] and wrong_chapter_numbers(tmp_path) == []
    assert unknown_targets(tmp_path) == []


# --- The rendered numbers: a three-page Sphinx project, not the book --------------------------------

@pytest.mark.parametrize("student", [False, True])
def test_exercises_render_with_their_chapter_number(tmp_path, student):
    from sphinx.cmd.build import build_main

    (tmp_path / "conf.py").write_text(
        "extensions = ['myst_parser', 'sphinx_exercise', 'minisagan.bookbuild.exercise_numbers', "
        f"'minisagan.bookbuild.student_edition']\nminisagan_student = {student}\n")
    (tmp_path / "index.md").write_text("# Book\n\n```{toctree}\nbook/00_first\nbook/03_third\n```\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "00_first.md").write_text(
        "# 0. First\n\nSee {ref}`ex-3-2`.\n\n```{exercise} Zero\n:label: ex-0-1\nBody.\n```\n")
    (tmp_path / "book" / "03_third.md").write_text(
        "# 3. Third\n\n```{exercise} One\n:label: ex-3-1\nBody.\n```\n\n```{exercise} Two\n:label: ex-3-2\nBody.\n```\n\n"
        "```{solution} ex-3-2\nAnswer.\n```\n")
    assert build_main(["-q", "-W", "-b", "html", str(tmp_path), str(tmp_path / "_out")]) == 0
    first, third = ((tmp_path / "_out" / "book" / f"{page}.html").read_text() for page in ("00_first", "03_third"))
    assert re.search(r"Exercise 0\.1\s*</span>\s*\(Zero\)", first)
    assert re.search(r'href="03_third.html#ex-3-2"><span class="std std-numref">Exercise 3\.2<', first)
    assert re.search(r"Exercise 3\.1\s*</span>\s*\(One\)", third) and re.search(r"Exercise 3\.2\s*</span>\s*\(Two\)", third)
    if student:  # the student edition leaves the solution out and keeps the numbers
        assert "Solution to" not in third and "Answer." not in third
    else:
        assert "Solution to" in third and re.search(r"Exercise 3\.2 \(Two\)", third)
