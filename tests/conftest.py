import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models train faster on one thread than on two competing with other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium for the checks a reader's browser makes: skipped where there is none, a failure
    where $MINISAGAN_REQUIRE_BROWSER says there must be one (CI installs it)."""
    import os

    from minisagan.bookbuild.browser import REQUIRE_ENV, find_browser

    if find_browser() is None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set but no Chromium is installed (apt-get install chromium)")
        pytest.skip("no Chromium here: the browser checks need one (CI installs it)")


WHEEL_RUNNER = """\
import sys
from pathlib import Path

import minisagan
import minisagan.reference
import nbformat
from nbclient import NotebookClient

path = Path(sys.argv[1])
notebook = nbformat.read(path, as_version=4)
try:
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
finally:
    nbformat.write(notebook, path)
print("package", Path(minisagan.__file__).parent)
print("reference", minisagan.reference.ROOT)
"""


def _fresh_venv(where):
    """A virtual environment without minisagan that borrows this one's packages (torch and the rest,
    6 GB) through a .pth file, but not the checkout; its python."""
    import subprocess
    import sys
    import sysconfig
    from pathlib import Path

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = Path(where) / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory):
    """The package's wheel (`make assignments` builds the same) installed by the assignment notebooks'
    setup cell into a fresh venv; ``run(notebook)`` executes a notebook there in the smoke profile,
    writes it back with its outputs and returns the finished process."""
    import os
    import subprocess
    from pathlib import Path
    from types import SimpleNamespace

    from minisagan.bookbuild.wheel import build_wheel, setup_source

    where = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(Path(__file__).resolve().parents[1], where / "dist")
    python = _fresh_venv(where / "venv")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "MINISAGAN_PROFILE": "smoke", "MINISAGAN_STATIC": "1", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    importable = [str(python), "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('minisagan') is None)"]
    assert subprocess.run(importable, cwd=where).returncode == 1
    subprocess.run([str(python), "-c", setup_source(wheel.name)], cwd=wheel.parent, env=env, check=True)
    assert subprocess.run(importable, cwd=where).returncode == 0

    def run(notebook: Path, threads: int | None = None) -> subprocess.CompletedProcess:
        """Run ``notebook`` top to bottom; ``threads``: torch's thread count (two notebooks side by side
        on two cores take one each, or their threads fight over the cores)."""
        here = env if threads is None else {**env, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        return subprocess.run([str(python), "-c", WHEEL_RUNNER, str(notebook)], cwd=notebook.parent, env=here,
                              capture_output=True, text=True)

    return SimpleNamespace(python=python, wheel=wheel, env=env, run=run, fresh_venv=_fresh_venv)
