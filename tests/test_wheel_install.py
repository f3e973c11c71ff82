"""The assignment notebooks run outside the repository: `make assignments` builds the package's wheel
(reference results inside) and puts it beside the notebooks, and in a fresh virtual environment where
`minisagan` is not importable, each student notebook's setup cell installs that wheel and every cell
runs top to bottom (exercises unanswered, so the checks report stubs) in the smoke profile.

The fresh environment sees the test environment's packages (torch and the rest, 6 GB) through a
``.pth`` file but not the checkout: neither its `minisagan` nor its ``data/reference/``."""

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

from minisagan.bookbuild import assignments
from minisagan.bookbuild.mirror import chapter_paths
from minisagan.bookbuild.wheel import is_local_wheel, setup_source

ROOT = Path(__file__).resolve().parents[1]
# The smoke profile, no widgets, no package index: the wheel's dependencies are the borrowed ones.
ENV = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
    "MINISAGAN_PROFILE": "smoke", "MINISAGAN_STATIC": "1", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
RUNNER = """\
import sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient

path = Path(sys.argv[1])
notebook = nbformat.read(path, as_version=4)
NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
print("ran", path.name, flush=True)
import minisagan, minisagan.reference
print("package", Path(minisagan.__file__).parent)
print("reference", minisagan.reference.ROOT)
"""


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """``make assignments`` with its defaults, into a temporary folder."""
    out = tmp_path_factory.mktemp("assignments")
    assert assignments.main(["--root", str(ROOT), "--out", str(out)]) == 0
    return out


def fresh_venv(where: Path) -> Path:
    """A virtual environment without minisagan that borrows this one's packages; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_wheel_ships_the_reference_results_and_sits_beside_the_notebooks(released):
    wheels = {edition: sorted((released / edition).glob("*.whl")) for edition in ("student", "teacher")}
    assert [w.name for w in wheels["student"]] == [w.name for w in wheels["teacher"]] == [
        "minisagan-0.1.0-py3-none-any.whl"]
    names = zipfile.ZipFile(wheels["student"][0]).namelist()
    shipped = {n.removeprefix("minisagan/reference_data/") for n in names if n.startswith("minisagan/reference_data/")}
    in_checkout = {str(p.relative_to(ROOT / "data" / "reference")) for p in (ROOT / "data" / "reference").rglob("*")
                   if p.is_file() and p.name != ".collect.lock"}
    assert shipped == in_checkout and "model/checkpoint.pt" in shipped
    assert "minisagan/data/shapes_classifier.pt" in names and not any(n.startswith("tests/") for n in names)
    for notebook in (released / "student").glob("*.ipynb"):
        assert "INSTALL = 'minisagan-0.1.0-py3-none-any.whl'" in notebook.read_text()


def test_a_course_index_or_url_goes_into_the_setup_cell_as_pip_arguments():
    source = setup_source("--index-url https://course.example/simple minisagan==0.1.0")
    assert "INSTALL = '--index-url https://course.example/simple minisagan==0.1.0'" in source
    assert "shlex.split(INSTALL)" in source and "Files pane" not in source
    assert is_local_wheel("minisagan-0.1.0-py3-none-any.whl")
    assert not is_local_wheel("https://course.example/minisagan-0.1.0-py3-none-any.whl")


def test_a_missing_wheel_stops_the_setup_cell_with_one_line(tmp_path):
    python = fresh_venv(tmp_path / "venv")
    done = subprocess.run([str(python), "-c", setup_source("minisagan-0.1.0-py3-none-any.whl")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (f"minisagan-0.1.0-py3-none-any.whl is not beside this notebook (in {tmp_path}): "
                                   "copy or upload it there from your course, then run this cell again")


def test_a_bad_install_option_is_one_line(capsys, tmp_path):
    assert assignments.main(["--root", str(ROOT), "--out", str(tmp_path), "--install", " "]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert assignments.main(["--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "could not build the wheel" in capsys.readouterr().err


@pytest.fixture(scope="module")
def classroom(released, tmp_path_factory):
    """A student's download (the notebooks and the wheel) and a fresh venv to run them in."""
    where = tmp_path_factory.mktemp("class")
    python = fresh_venv(where / "venv")
    work = where / "notebooks"
    work.mkdir()
    for path in (released / "student").iterdir():
        (work / path.name).write_bytes(path.read_bytes())
    importable = [str(python), "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('minisagan') is None)"]
    assert subprocess.run(importable, cwd=work).returncode == 1
    setup = nbformat.read(work / "00_how_to_read.ipynb", as_version=4).cells[0]
    assert setup.metadata["tags"] == ["setup"]
    subprocess.run([str(python), "-c", setup.source], cwd=work, env=ENV, check=True)  # pip installs the wheel
    assert subprocess.run(importable, cwd=work).returncode == 0
    return python, work


# Chapter 7 finds its reference results from the checkout (`Path(minisagan.__file__).parents[1] /
# "data" / "reference"`) instead of `minisagan.reference.ROOT`: an installed package has no such folder.
CHECKOUT_ONLY = {p.stem for p in chapter_paths(ROOT) if 'parents[1] / "data" / "reference"' in p.read_text()}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", [
    pytest.param(p.stem, marks=pytest.mark.xfail(p.stem in CHECKOUT_ONLY, strict=True,
                                                 reason="the chapter reads data/reference/ of a checkout"))
    for p in chapter_paths(ROOT)])
def test_every_student_notebook_runs_in_a_fresh_venv_with_only_the_wheel(classroom, chapter):
    python, work = classroom
    done = subprocess.run([str(python), "-c", RUNNER, str(work / f"{chapter}.ipynb")], cwd=work, env=ENV,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == f"ran {chapter}.ipynb"
    package = Path(lines[1].removeprefix("package "))
    assert package.is_relative_to(python.parents[1]) and not package.is_relative_to(ROOT)
    assert lines[2] == f"reference {package / 'reference_data'}"
