"""The student edition leaves out every solution, gated ones included, and keeps the exercises."""

from pathlib import Path

import pytest
from sphinx.cmd.build import build_main

PAGE = """\
# Exercises

```{exercise} Plain
:label: ex-plain
Write the plain answer.
```

```{solution} ex-plain
:class: dropdown
PLAIN-SOLUTION-TEXT
```

```{exercise} Gated
:label: ex-gated
Write the gated answer.
```

```{solution-start} ex-gated
:class: dropdown
```

GATED-SOLUTION-TEXT

```{solution-end}
```
"""


def build(tmp_path: Path, student: bool) -> str:
    source = tmp_path / ("student" if student else "reader")
    source.mkdir()
    (source / "conf.py").write_text(
        "extensions = ['myst_parser', 'sphinx_exercise', 'minisagan.bookbuild.student_edition']\n"
        f"minisagan_student = {student}\n"
    )
    (source / "index.md").write_text(PAGE)
    assert build_main(["-q", "-W", "-b", "html", str(source), str(source / "_out")]) == 0
    return (source / "_out" / "index.html").read_text()


@pytest.mark.parametrize("student", [False, True])
def test_solutions_are_in_the_reader_edition_only(tmp_path, student):
    html = build(tmp_path, student)
    assert "Write the plain answer." in html and "Write the gated answer." in html
    for marker in ("PLAIN-SOLUTION-TEXT", "GATED-SOLUTION-TEXT"):
        assert (marker in html) is not student
