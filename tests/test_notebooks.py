"""The reference notebooks CI runs under nbval stay in step with the chapters."""

import shutil
from pathlib import Path

import jupytext
import nbformat

from minisagan.bookbuild import notebooks
from minisagan.bookbuild.mirror import chapter_paths

ROOT = Path(__file__).resolve().parents[1]


def test_reference_notebooks_match_the_chapters():
    assert notebooks.check_references(ROOT) == []


def test_reference_notebooks_hold_outputs_to_compare():
    # nbval compares nothing for a cell that was never run: every reference must hold outputs.
    for chapter in chapter_paths(ROOT):
        notebook = nbformat.read(ROOT / notebooks.REFERENCE_DIR / f"{chapter.stem}.ipynb", as_version=4)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        compared = [c for c in code if c.outputs and "nbval-ignore-output" not in c.metadata.get("tags", [])]
        assert all(c.execution_count for c in code), chapter
        assert len(compared) >= 5, f"{chapter.name}: only {len(compared)} cells with outputs to compare"
        assert not any("image/png" in o.get("data", {}) for c in code for o in c.outputs)


def _copy_repo(tmp_path):
    shutil.copytree(ROOT / "book", tmp_path / "book")
    shutil.copytree(ROOT / notebooks.REFERENCE_DIR, tmp_path / notebooks.REFERENCE_DIR)
    return tmp_path


def test_an_edited_chapter_makes_its_reference_stale(tmp_path):
    root = _copy_repo(tmp_path)
    chapter = root / "book" / "01_gans_and_hinge.md"
    chapter.write_text(chapter.read_text().replace("torch.manual_seed(0)", "torch.manual_seed(1)", 1))
    assert notebooks.check_references(root) == [
        "tests/notebooks/01_gans_and_hinge.ipynb is older than book/01_gans_and_hinge.md: run `make reference`"
    ]


def test_a_retagged_cell_makes_its_reference_stale(tmp_path):
    root = _copy_repo(tmp_path)
    chapter = root / "book" / "00_how_to_read.md"
    chapter.write_text(chapter.read_text().replace(":tags: [nbval-ignore-output]\n", "", 1))
    assert len(notebooks.check_references(root)) == 1


def test_missing_and_orphan_references_are_reported(tmp_path):
    root = _copy_repo(tmp_path)
    (root / notebooks.REFERENCE_DIR / "00_how_to_read.ipynb").rename(root / notebooks.REFERENCE_DIR / "99_gone.ipynb")
    problems = notebooks.check_references(root)
    assert any("00_how_to_read.ipynb is missing" in p for p in problems)
    assert any("99_gone.ipynb has no chapter any more" in p for p in problems)


def test_exported_notebooks_have_every_cell_and_no_outputs(tmp_path):
    paths = notebooks.export(ROOT, tmp_path)
    assert [p.stem for p in paths] == [c.stem for c in chapter_paths(ROOT)]
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert notebook.cells and all(not c.get("outputs") for c in notebook.cells)


def test_prose_changes_do_not_need_new_references(tmp_path):
    root = _copy_repo(tmp_path)
    chapter = root / "book" / "01_gans_and_hinge.md"
    chapter.write_text(chapter.read_text().replace("## The intuition", "## The intuition, reworded"))
    assert notebooks.check_references(root) == []


def test_no_cell_relies_on_a_trailing_semicolon():
    # nbval runs cells without storing history, so IPython cannot see a final ';' and displays the
    # value anyway: the reference (run by nbclient) and nbval would disagree.
    for chapter in chapter_paths(ROOT):
        for cell in jupytext.read(chapter).cells:
            if cell.cell_type == "code":
                assert not cell.source.rstrip().endswith(";"), f"{chapter.name}: {cell.source[-60:]!r}"
