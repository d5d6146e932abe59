# From Socket to Flask. Every target creates .venv on first use: a fresh machine needs only
# Python >= 3.11 with pip and venv (no conda, no activation).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Jupyter refuses to run as root unless told to (containers, CI machines).
ROOT   := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: help lab test lint labs grader-bundle grade course bench clean
.DEFAULT_GOAL := help

## make help: this list (every target, what it does)
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@echo "Setting up the course in $(VENV)/ (once, or after pyproject.toml changes): installing"
	@echo "JupyterLab, Flask, werkzeug, waitress, gunicorn and the course's own package; about a minute..."
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is needed, this is " + sys.version) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@echo "Installed: $$($(BIN)/python -m pip list 2>/dev/null | wc -l) packages in $(VENV)/."
	touch $@

## make lab: open JupyterLab on the course, bound to 127.0.0.1 only (LAB_ARGS: more options)
lab: $(STAMP)
	@echo "Starting JupyterLab on 127.0.0.1 (your browser opens; Ctrl+C here stops it)..."
	$(BIN)/jupyter lab --ip=127.0.0.1 $(ROOT) $(LAB_ARGS) notebooks/00_start_here.ipynb

## make test: the linter (make lint), then every unit, notebook, lab and grading test
test: lint
	$(BIN)/python -m pytest --ignore=tests/browser $(PYTEST_ARGS)

## make lint: ruff's format and lint checks on every .py file (settings in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

## make labs: regenerate labs/ from solutions/ (commit the result)
labs: $(STAMP)
	$(BIN)/python -m socket2flask.grading labs

## make grader-bundle: the teacher's bundle with hidden tests, in build/grader/
grader-bundle: $(STAMP)
	$(BIN)/python -m socket2flask.grading bundle --out build/grader

## make grade LAB=02 SUBMISSIONS="submitted/*/02_wsgi_lab.ipynb": gradebook.csv, lms.csv, summary.md,
## json/ and feedback/ (per student) in build/grades/02/
grade: $(STAMP)
	$(BIN)/python -m socket2flask.grading grade $(SUBMISSIONS) --lab $(LAB)

## make course: every lesson and solution executed and rendered to HTML in build/course/
course: $(STAMP)
	$(BIN)/python tools/course.py --out build/course

## make bench: measurements side by side, as ratios, in build/bench/
## (make bench BENCH_ARGS="--readme README.md" also writes the headline figures into the README)
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --out build/bench $(BENCH_ARGS)

## make clean: remove build/ (reports, grades, the course HTML) and pytest's cache
clean:
	rm -rf build .pytest_cache

## make test-browser: every lesson (notebooks/0*.ipynb) runs in a real JupyterLab, driven by
## headless Chromium through the UI (Run > Run All Cells: no error, every plot shown, every cell
## finished), and lab 01 is answered there (a wrong answer, then the right one, checked by check());
## screenshots in build/browser/; about 1.5 minutes. Installs Debian's chromium when missing (as
## root with apt-get; elsewhere install it yourself, or set CHROMIUM=/path).
.PHONY: test-browser
test-browser: $(VENV)/.browser
	@test -x "$${CHROMIUM:-/usr/bin/chromium}" || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "make test-browser needs Chromium: apt-get install chromium (or set CHROMIUM=/path)"; exit 1; }
	S2F_BROWSER_TEST=required $(BIN)/python -m pytest tests/browser -s --tb=short $(PYTEST_ARGS)

$(VENV)/.browser: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,browser]'
	touch $@
