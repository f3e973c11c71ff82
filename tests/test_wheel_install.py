"""The assignment notebooks run outside the repository: `make assignments` builds the package's wheel
(reference results inside) and puts it beside the notebooks, whose setup cell installs it. That the
setup cell installs it into a fresh venv and every student notebook then runs there top to bottom is
tested with the student edition (tests/test_student_edition.py), which runs the same notebooks."""

import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest

from minisagan.bookbuild import assignments
from minisagan.bookbuild.wheel import is_local_wheel, setup_source

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """``make assignments`` with its defaults, into a temporary folder."""
    out = tmp_path_factory.mktemp("assignments")
    assert assignments.main(["--root", str(ROOT), "--out", str(out)]) == 0
    return out


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
    setup = setup_source("minisagan-0.1.0-py3-none-any.whl")
    assert "INSTALL = 'minisagan-0.1.0-py3-none-any.whl'" in setup
    for notebook in sorted((released / "student").glob("*.ipynb")) + sorted((released / "teacher").glob("*.ipynb")):
        assert nbformat.read(notebook, as_version=4).cells[0].source == setup


def test_a_course_index_or_url_goes_into_the_setup_cell_as_pip_arguments():
    source = setup_source("--index-url https://course.example/simple minisagan==0.1.0")
    assert "INSTALL = '--index-url https://course.example/simple minisagan==0.1.0'" in source
    assert "shlex.split(INSTALL)" in source and "Files pane" not in source
    assert is_local_wheel("minisagan-0.1.0-py3-none-any.whl")
    assert not is_local_wheel("https://course.example/minisagan-0.1.0-py3-none-any.whl")


def test_a_missing_wheel_stops_the_setup_cell_with_one_line(tmp_path, wheel_venv):
    python = wheel_venv.fresh_venv(tmp_path / "venv")
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
