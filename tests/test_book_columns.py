"""The book reads without scrolling sideways: every line of a chapter's code and of the text it
prints (in the smoke reference notebooks, which hold what the chapters print) is at most 88
columns, the width of the page's code blocks. The one exception is a printed line that is a single
word, such as a download URL, which no wrapping can shorten. And every {term} in the book names a
term that the glossary defines (a wrong one is otherwise caught only by a book build). Builds no
book."""

import re
from pathlib import Path

import jupytext
import nbformat

from minisagan.bookbuild.mirror import chapter_paths
from minisagan.bookbuild.notebooks import REFERENCE_DIR

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
WIDTH = 88

TERM = re.compile(r"\{term\}`([^`]+)`")
GLOSSARY = re.compile(r"^```\{glossary\}[^\n]*\n(.*?)^```\s*$", re.M | re.S)


def long_lines(text: str, where: str, unbreakable_words: bool = False) -> list[str]:
    """Lines wider than the page; with ``unbreakable_words``, except a line of one word."""
    return [f"{where}, line {number}: {len(line)} columns: {line.strip()[:60]!r}..."
            for number, line in enumerate(text.splitlines(), 1)
            if len(line) > WIDTH and not (unbreakable_words and len(line.split()) == 1)]


def wide_code(chapter: Path) -> list[str]:
    """Code lines wider than the page, by cell (counting code cells from 1) and line in the cell."""
    cells = [c for c in jupytext.read(chapter).cells if c.cell_type == "code"]
    return [problem for n, cell in enumerate(cells, 1)
            for problem in long_lines(cell.source, f"{chapter.name}, code cell {n}")]


def printed_text(output) -> str:
    """What a reader sees of one output as text: a stream, or a result's text/plain; images, HTML
    and tracebacks are not lines of text on the page."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    else:
        text = output.get("data", {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else text


def wide_output(notebook_path: Path) -> list[str]:
    """Printed lines wider than the page, by code cell (counting from 1) and line of the output."""
    notebook = nbformat.read(notebook_path, as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    return [problem for n, cell in enumerate(cells, 1) for output in cell.get("outputs", [])
            for problem in long_lines(printed_text(output), f"{notebook_path.name}, output of cell {n}",
                                      unbreakable_words=True)]


def glossary_terms(page: Path) -> set[str]:
    """The terms a glossary block defines: its unindented, non-blank lines."""
    block = GLOSSARY.search(page.read_text())
    return {line.strip() for line in block[1].splitlines() if line.strip() and not line[0].isspace()}


def term_target(content: str) -> str:
    """``FID`` -> ``FID``; ``the average <average of G>`` -> ``average of G``."""
    explicit = re.match(r"^.*?<([^<>]+)>\s*$", content, re.S)
    return (explicit[1] if explicit else content).strip()


def unknown_terms(book: Path) -> list[str]:
    defined, problems = glossary_terms(book / "glossary.md"), []
    for page in sorted(book.glob("*.md")):
        text = page.read_text()
        for match in TERM.finditer(text):
            target = term_target(match[1])
            if target not in defined:
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{page.name}:{line}: {{term}} to {target!r}, which the glossary does not define")
    return problems


def misplaced_terms(chapter: Path) -> list[str]:
    """{term} roles in a code cell or a heading of a chapter: links belong in its prose."""
    return [f"{chapter.name}, cell {n}: {line.strip()[:60]!r}"
            for n, cell in enumerate(jupytext.read(chapter).cells, 1) for line in cell.source.splitlines()
            if "{term}" in line and (cell.cell_type == "code" or line.startswith("#"))]


# --- The book passes them ----------------------------------------------------------------------

def test_every_code_line_of_every_chapter_fits_88_columns():
    problems = [problem for chapter in chapter_paths(ROOT) for problem in wide_code(chapter)]
    assert problems == [], "\n".join(problems)


def test_every_printed_line_of_the_reference_notebooks_fits_88_columns():
    notebooks = sorted((ROOT / REFERENCE_DIR).glob("*.ipynb"))
    assert len(notebooks) == len(chapter_paths(ROOT))
    problems = [problem for path in notebooks for problem in wide_output(path)]
    assert problems == [], "\n".join(problems)


def test_every_term_link_names_a_term_of_the_glossary():
    assert {"FID", "TTUR", "feat N", "average of G"} <= glossary_terms(BOOK / "glossary.md")
    assert unknown_terms(BOOK) == []


def test_term_links_sit_in_prose_not_in_code_or_headings():
    assert [problem for chapter in chapter_paths(ROOT) for problem in misplaced_terms(chapter)] == []


# --- The checks can fail -----------------------------------------------------------------------

def test_a_long_code_line_is_reported_with_its_cell_and_line(tmp_path):
    chapter = tmp_path / "09_demo.md"
    chapter.write_text("# Demo\n\n```{code-cell} ipython3\nx = 1\ny = " + "1 + " * 30 + "1\n```\n")
    problems = wide_code(chapter)
    assert len(problems) == 1 and problems[0].startswith("09_demo.md, code cell 1, line 2: 125 columns")


def test_a_long_printed_line_is_reported_but_not_an_image_or_a_long_url(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print()", outputs=[
            nbformat.v4.new_output("stream", name="stdout",
                                   text="short\n" + "x " * 45 + "\n" + "https://a.b/" + "c" * 90 + "\n"),
            nbformat.v4.new_output("display_data", data={"text/plain": "<Figure>",
                                                          "text/html": "<p>" + "y" * 200 + "</p>"}),
        ]),
        nbformat.v4.new_code_cell("1", outputs=[
            nbformat.v4.new_output("execute_result", data={"text/plain": "z " * 50}, execution_count=1),
        ]),
    ])
    path = tmp_path / "09_demo.ipynb"
    nbformat.write(notebook, path)
    assert [p.split(":")[0] for p in wide_output(path)] == [
        "09_demo.ipynb, output of cell 1, line 2", "09_demo.ipynb, output of cell 2, line 1"]


def test_a_term_the_glossary_does_not_define_is_reported(tmp_path):
    (tmp_path / "glossary.md").write_text("# Glossary\n\n```{glossary}\nFID\n  A distance.\n\nfeat N\n"
                                          "  Where attention sits.\n```\n")
    (tmp_path / "01_demo.md").write_text("Lower {term}`FID`, {term}`feat32 <feat N>`,\n"
                                         "{term}`IS` and {term}`the FID <fid>`.\n")
    assert unknown_terms(tmp_path) == [
        "01_demo.md:2: {term} to 'IS', which the glossary does not define",
        "01_demo.md:2: {term} to 'fid', which the glossary does not define",
    ]
    (tmp_path / "02_demo.md").write_text("## About {term}`FID`\n\nProse on {term}`FID`.\n\n"
                                         "```{code-cell} ipython3\nx = '{term}`FID`'\n```\n")
    assert [p.split(":")[0] for p in misplaced_terms(tmp_path / "02_demo.md")] == [
        "02_demo.md, cell 1", "02_demo.md, cell 2"]
