"""The wheel carries the book's reference results (``data/reference/``, about 11 MB) as
``minisagan/reference_data/``, so that the chapters and the assignment notebooks find them in an
installed package (`minisagan.reference` looks there first). Everything else is in pyproject.toml.
An editable install reads ``data/reference/`` from the checkout and copies nothing."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

REFERENCE = Path(__file__).resolve().parent / "data" / "reference"


class BuildWithReferenceResults(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        if not REFERENCE.is_dir():
            raise SystemExit(f"setup.py: {REFERENCE} is missing: build the wheel from a checkout of the book")
        shutil.copytree(REFERENCE, Path(self.build_lib) / "minisagan" / "reference_data", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".collect.lock", "__pycache__"))


setup(cmdclass={"build_py": BuildWithReferenceResults})
