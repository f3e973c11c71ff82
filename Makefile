# minisagan: `make train` trains the default model, `make test` runs every check. Both create the
# virtual environment .venv on first use and reuse it while pyproject.toml is unchanged.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
RUN ?= runs/$(shell date +%Y%m%d-%H%M%S)
ARGS ?=
SMOKE := MINISAGAN_PROFILE=smoke
# Chapters built or checked from here draw figures where a live kernel would show widgets (Chapter 8)
export MINISAGAN_STATIC := 1

.PHONY: install train test unit mirror mirror-check reference reference-check nbval book book-check \
        book-student assignments notebooks bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); \
	    if [ "$$free" -lt 7 ] && [ ! -x $(BIN)/python ]; then \
	        echo "install: $(VENV) needs about 6.2 GB and this disk has $$free GB free (df -h .)" >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (first time: about 2.5 minutes and 6 GB)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[book,test]" 2>&1 | { grep -v "is ignored: it is neither" || true; }
	@rm -f $(VENV)/.installed-*
	@touch $@

## The two commands of the README
train: $(STAMP)
	$(BIN)/python -m minisagan train --run-dir $(RUN) $(ARGS)

test: mirror-check reference-check book-check
	$(SMOKE) $(BIN)/python -m pytest tests --nbval -p no:cacheprovider --durations=25

## Each part of `make test` on its own
unit: $(STAMP)
	$(BIN)/python -m pytest tests -p no:cacheprovider

mirror-check: $(STAMP)
	$(BIN)/python -m minisagan.bookbuild.mirror --check

reference-check: $(STAMP)
	$(BIN)/python -m minisagan.bookbuild.notebooks check

nbval: $(STAMP)
	$(SMOKE) $(BIN)/python -m pytest --nbval tests/notebooks -p no:cacheprovider

# The pages and their cross-references, with only Chapter 8 run (its explorer is checked in the built
# page): nbval runs every chapter (the reference notebooks hold each chapter's code, cell for cell,
# `reference-check`) and the student-edition test runs every student notebook; `make book` runs
# every chapter while it builds.
book-check: $(STAMP)
	@mkdir -p _build
	sed 's/^  execute_notebooks: force$$/  execute_notebooks: force\n  exclude_patterns: ["*0[0-7]_*"]/' _config.yml \
	    > _build/config-check.yml
	@grep -q 'exclude_patterns: \["\*0\[0-7\]_\*"\]' _build/config-check.yml
	$(SMOKE) $(BIN)/jupyter-book build . --config _build/config-check.yml --path-output _build/smoke -W --keep-going -q

## Writing and building
mirror: $(STAMP)
	$(BIN)/python -m minisagan.bookbuild.mirror

reference: $(STAMP)
	$(BIN)/python -m minisagan.bookbuild.notebooks reference

book: $(STAMP)
	$(BIN)/jupyter-book build . -W --keep-going
	$(BIN)/python -m minisagan.bookbuild.notebooks export --out _build/html/notebooks
	@echo "open _build/html/index.html"

## For instructors: the book without solutions (smoke profile unless MINISAGAN_PROFILE is set), and
## each chapter as a student notebook (stubs) and a teacher notebook (solutions); `minisagan grade` scores them.
## INSTALL= what their setup cell installs (default: the wheel built beside them); FORMAT=nbgrader|otter: that tool's source notebooks
book-student: $(STAMP)
	$(BIN)/python -m minisagan.bookbuild.student_edition --out _build/student $(if $(INSTALL),--install "$(INSTALL)")

assignments: $(STAMP)
	$(BIN)/python -m minisagan.bookbuild.assignments --out _build/assignments $(if $(INSTALL),--install "$(INSTALL)") \
	    $(if $(FORMAT),--format $(FORMAT))

## The chapters as notebooks for readers, solutions included
notebooks: $(STAMP)
	$(BIN)/python -m minisagan.bookbuild.notebooks export --out notebooks

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script; done

clean:
	rm -rf _build notebooks .pytest_cache
