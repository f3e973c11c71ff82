"""The mirror between chapters and package: in sync now, and failing on every kind of drift."""

import shutil
from pathlib import Path

import pytest

from minisagan.bookbuild import mirror

ROOT = Path(__file__).resolve().parents[1]

CHAPTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# 9. A chapter

## First idea

```{code-cell} ipython3
#| export: demo
def double(x):
    return 2 * x
```

```{code-cell} ipython3
print(double(2))
```

## Second idea

```{code-cell} ipython3
#| export: demo
def triple(x):
    return 3 * x
```
"""


@pytest.fixture
def repo(tmp_path):
    """A minimal repository with one chapter and its generated module written."""
    (tmp_path / "book").mkdir()
    (tmp_path / "minisagan").mkdir()
    (tmp_path / "book" / "09_demo.md").write_text(CHAPTER)
    assert mirror.write(tmp_path) == [Path("minisagan/demo.py")]
    return tmp_path


def test_package_matches_the_chapters():
    assert mirror.check(ROOT) == []


def test_every_top_level_module_is_generated_or_known_hand_written():
    for path in (ROOT / "minisagan").glob("*.py"):
        assert mirror.is_generated(path) or path.stem in mirror.RESERVED, path


def test_generated_module_holds_the_cells_in_order_with_their_sections(repo):
    text = (repo / "minisagan" / "demo.py").read_text()
    assert text.startswith("# Generated from book/09_demo.md")
    assert text.index("section: First idea") < text.index("def double") < text.index("section: Second idea") < text.index("def triple")
    assert "print(double(2))" not in text and "#| export" not in text
    namespace = {}
    exec(compile(text, "demo.py", "exec"), namespace)
    assert namespace["double"](4) == 8 and namespace["triple"](2) == 6


def test_changed_chapter_code_fails_the_check(repo):
    chapter = repo / "book" / "09_demo.md"
    chapter.write_text(chapter.read_text().replace("return 2 * x", "return x + x"))
    problems = mirror.check(repo)
    assert len(problems) == 1 and "minisagan/demo.py differs from its chapter" in problems[0]
    assert "-    return 2 * x" in problems[0] and "+    return x + x" in problems[0]


def test_edited_generated_module_fails_the_check(repo):
    module = repo / "minisagan" / "demo.py"
    module.write_text(module.read_text().replace("3 * x", "4 * x"))
    assert "differs from its chapter" in mirror.check(repo)[0]


def test_prose_and_unexported_cells_do_not_matter(repo):
    chapter = repo / "book" / "09_demo.md"
    chapter.write_text(chapter.read_text().replace("print(double(2))", "print(double(3))") + "\nMore prose.\n")
    assert mirror.check(repo) == []


def test_missing_and_stale_modules_are_reported(repo):
    (repo / "minisagan" / "demo.py").rename(repo / "minisagan" / "old.py")
    problems = mirror.check(repo)
    assert any("minisagan/demo.py is missing" in p for p in problems)
    assert any("minisagan/old.py is generated but no chapter exports it" in p for p in problems)


def test_write_brings_the_package_back_in_sync(repo):
    chapter = repo / "book" / "09_demo.md"
    chapter.write_text(chapter.read_text().replace("return 2 * x", "return x + x"))
    assert mirror.write(repo) == [Path("minisagan/demo.py")]
    assert mirror.check(repo) == [] and mirror.write(repo) == []


def test_hand_written_module_is_never_overwritten(repo):
    (repo / "minisagan" / "demo.py").write_text("HAND = 'written'\n")
    with pytest.raises(mirror.MirrorError, match="hand-written"):
        mirror.write(repo)
    assert "hand-written but a chapter exports to it" in mirror.check(repo)[0]


def test_two_chapters_may_not_export_one_module(repo):
    shutil.copy(repo / "book" / "09_demo.md", repo / "book" / "10_copy.md")
    with pytest.raises(mirror.MirrorError, match="exported by both book/09_demo.md and book/10_copy.md"):
        mirror.check(repo)


@pytest.mark.parametrize("target", ["errors", "Demo", "run"])
def test_bad_export_targets_are_errors(repo, target):
    chapter = repo / "book" / "09_demo.md"
    chapter.write_text(chapter.read_text().replace("#| export: demo\ndef triple", f"#| export: {target}\ndef triple"))
    with pytest.raises(mirror.MirrorError, match=f"cannot export to '{target}'"):
        mirror.check(repo)


def test_misplaced_export_directive_is_an_error(repo):
    chapter = repo / "book" / "09_demo.md"
    chapter.write_text(chapter.read_text().replace("#| export: demo\ndef triple(x):", "def triple(x):\n    #| export: demo"))
    with pytest.raises(mirror.MirrorError, match="must be the first line of its cell"):
        mirror.check(repo)


def test_command_line_exit_codes(repo, capsys):
    assert mirror.main(["--check", "--root", str(repo)]) == 0
    (repo / "minisagan" / "demo.py").write_text(mirror.HEADER_PREFIX + "something else\n")
    assert mirror.main(["--check", "--root", str(repo)]) == 1
    assert "1 problem(s)" in capsys.readouterr().out
