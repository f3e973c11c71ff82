"""The book's package as a wheel, for notebooks that run outside the repository.

`minisagan` is not on PyPI (and a name there could be anyone's), so the assignment notebooks install
the wheel that ``make assignments`` builds (`build_wheel`: ``python -m build``, offline, with the
reference results inside) and puts beside them, or whatever a course names with ``INSTALL=`` (its
own index, a URL of the wheel, a git URL). `setup_source` is the notebooks' first cell.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SETUP = """\
# Setup, for Colab or a fresh Jupyter: install the book's package unless it is importable already.
import importlib
import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

{where}INSTALL = {install!r}

if importlib.util.find_spec("minisagan") is None:{check}
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + shlex.split(INSTALL), check=True)
    importlib.invalidate_caches()"""
BESIDE = "# The wheel beside this notebook (in Colab: upload it to the Files pane first).\n"
CHECK = """
    if not Path(INSTALL).exists():
        raise SystemExit(f"{INSTALL} is not beside this notebook (in {Path.cwd()}): copy or upload it "
                         "there from your course, then run this cell again")"""


def is_local_wheel(install: str) -> bool:
    """A bare wheel file name: the wheel sits beside the notebook."""
    return install.endswith(".whl") and "/" not in install and "\\" not in install


def setup_source(install: str) -> str:
    """The setup cell that pip-installs ``install`` (a requirement, a URL, or a wheel's file name)."""
    if not install.strip():
        raise ValueError("--install is empty: give a pip requirement, a URL, or leave it out for the wheel")
    local = is_local_wheel(install)
    return SETUP.format(install=install, where=BESIDE if local else "", check=CHECK if local else "")


def build_wheel(root: Path, out: Path) -> Path:
    """``python -m build --wheel`` of the repository at ``root`` into ``out``; the wheel's path.

    Without build isolation, so it needs no network: the environment's setuptools builds it.
    """
    out.mkdir(parents=True, exist_ok=True)
    staging = root / "build"
    staged_before = staging.exists()
    with tempfile.TemporaryDirectory(prefix="minisagan-wheel-") as scratch:
        done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", scratch,
                               str(root)], capture_output=True, text=True)
        if not staged_before:
            shutil.rmtree(staging, ignore_errors=True)  # setuptools' staging folder
        wheels = sorted(Path(scratch).glob("minisagan-*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ValueError(f"`python -m build` could not build the wheel of {root}: {last[0]}")
        target = out / wheels[0].name
        shutil.copy(wheels[0], target)
    return target
