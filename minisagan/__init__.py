"""minisagan: Self-Attention GANs rebuilt step by step, the companion library of the minisagan book.

The package reads in the order the data flows:

- `minisagan.errors`, `minisagan.checkpoint`: the bottom, usable from every module.
- `minisagan.data`: the built-in mirror shapes, their checker, the shapes classifier, image folders.
- generated from the book's chapters (each starts with a "Generated from book/..." header; edit the
  chapter, then run `make mirror`): the layers `spectral_norm` (Chapter 2) and `attention`
  (Chapter 3), the models `sagan` (Chapter 4) and `toygan`, `losses` (Chapter 1), the training
  steps `training` (Chapter 6) and `metrics` (Chapter 5).
- `minisagan.figures` (grids, curves, attention maps) and `minisagan.profiles` (the profile record
  and the device rule), hand-written, for chapters and runs alike.
- `minisagan.run`: the application that trains, resumes, samples and evaluates (``minisagan ...``).

Apart from the library: `minisagan.bookbuild` builds the book and `minisagan.exercises` holds the
exercises' checkers. No generated module imports from `run` or `bookbuild`.
"""

__version__ = "0.1.0"
