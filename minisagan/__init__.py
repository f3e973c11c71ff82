"""minisagan: Self-Attention GANs rebuilt step by step, the companion library of the minisagan book.

Two kinds of module live here:
- generated from the book's chapters (each starts with a "Generated from book/..." header): the code
  the book teaches, e.g. `minisagan.losses` (Chapter 1). Edit the chapter, then run `make mirror`.
- hand-written: `minisagan.data` (built-in data, image folders), `minisagan.infra` (profiles,
  configuration, training driver, checkpoints, command line, the mirror), `minisagan.exercises`
  (the exercises' checkers) and `minisagan.errors`.
"""

__version__ = "0.1.0"
