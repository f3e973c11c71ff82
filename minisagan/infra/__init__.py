"""Hand-written infrastructure that no chapter teaches: profiles, configuration, the training
driver with its run folders and checkpoints, the command line, and the chapter-to-package mirror.

Everything in this subpackage is ordinary source code. The modules at the top level of
`minisagan` are generated from the book's chapters instead (see `minisagan.infra.mirror`).
"""
