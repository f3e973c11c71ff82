"""Equations that render offline: MathJax served from the built book itself (a Sphinx extension).

Sphinx loads MathJax from a CDN by default, so a book read without a network shows every equation
as raw TeX. This extension points Sphinx's ``mathjax_path`` at ``_static/mathjax/tex-chtml-full.js``
and, after an HTML build, copies that file and the CHTML output's fonts from MathJax 3's release
files, which the ``django-static-mathjax`` package carries on PyPI (installed by ``.[book]``). The
combined "full" component holds every TeX extension, so nothing is fetched later either.
"""

import shutil
from importlib.metadata import PackageNotFoundError, files
from pathlib import Path

DISTRIBUTION = "django-static-mathjax"
SCRIPT = "tex-chtml-full.js"
FONTS = Path("output") / "chtml" / "fonts" / "woff-v2"  # where the CHTML output looks, beside the script
TARGET = "mathjax"  # under the book's _static/


def mathjax_es5() -> Path:
    """The folder of MathJax 3's browser files (``es5/``) in the installed package."""
    try:
        found = [f for f in files(DISTRIBUTION) or [] if str(f).endswith(f"es5/{SCRIPT}")]
    except PackageNotFoundError:
        found = []
    if not found:
        raise RuntimeError(f"MathJax's files are missing: install the book's extras (pip install -e '.[book]', "
                           f"which brings {DISTRIBUTION}) to build a book whose equations render offline")
    return Path(found[0].locate()).parent


def _point_at_local_copy(app, config) -> None:
    config.mathjax_path = f"{TARGET}/{SCRIPT}"  # relative to the built book's _static/


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_es5(), Path(app.outdir) / "_static" / TARGET
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / SCRIPT, target / SCRIPT)
    shutil.copytree(source / FONTS, target / FONTS, dirs_exist_ok=True)


def setup(app):
    mathjax_es5()  # a missing package fails the build at once, not as raw TeX in the browser
    app.connect("config-inited", _point_at_local_copy)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
