"""A Sphinx extension that numbers each chapter's exercises by that chapter: "Exercise 3.2" is the
second exercise of ``book/03_*.md``, in the title, in every reference to it and in its solution's
title, the same number the prose, the labels (``ex-3-2``) and the checkers use.

Sphinx numbers enumerable nodes across the whole book (1 to 24) unless the table of contents is
numbered, and a numbered one would start the chapters at 1, not 0. This runs after Sphinx has
assigned its numbers (``env-get-updated``) and replaces those of the exercises of every document
whose name starts with a chapter number; sphinx-exercise and the HTML writer read them from there.
"""

import re

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

FIGTYPE = "exercise"  # sphinx-exercise's enumerable node type
CHAPTER = re.compile(r"(?:^|/)(\d\d)_[^/]*$")


def chapter_of(docname: str) -> int | None:
    """``book/03_self_attention`` -> 3; None for a page that is not a chapter (the index)."""
    match = CHAPTER.search(docname)
    return int(match[1]) if match else None


def number_by_chapter(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """(chapter, n) for the n-th exercise of each chapter, in the order Sphinx found them."""
    changed = []
    for docname, numbers in env.toc_fignumbers.items():
        chapter, exercises = chapter_of(docname), numbers.get(FIGTYPE)
        if chapter is None or not exercises:
            continue
        in_order = sorted(exercises, key=exercises.get)  # Sphinx's numbers follow the document order
        renumbered = {label: (chapter, n) for n, label in enumerate(in_order, 1)}
        if renumbered != exercises:
            numbers[FIGTYPE] = renumbered
            changed.append(docname)
    return changed


def setup(app: Sphinx):
    app.connect("env-get-updated", number_by_chapter, priority=900)  # after Sphinx's own numbering (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
