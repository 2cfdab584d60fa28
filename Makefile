# minidiff: the course's commands (README.md). Set-up is part of each command: it builds .venv once and
# again only when pyproject.toml changes. Variables: `make lab TORCH=` keeps your own PyTorch,
# `make notebooks BUDGET=gpu NB=chapters/01_flow.ipynb`, `make test TESTS=tests/test_flow.py JOBS=1`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.14.1 torchvision==0.29.1
BUDGET ?= cpu
NB ?=
TESTS ?= tests
JOBS ?= 2
CELL_TIMEOUT ?= 300
NB_TIMEOUT ?= 3600
LAB_ARGS ?=
BENCH_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.minidiff-setup
FONT_PACKAGE := fonts-noto-color-emoji
FONT_FILE := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
# Globbed by the shell when the recipe runs, so notebooks written by an earlier step are seen.
NOTEBOOKS := chapters/*.ipynb solutions/*.ipynb
MATHJAX := book/_static/mathjax
LINT_PATHS := $(wildcard minidiff tests chapters solutions tools benchmarks)

# Tools, notebook kernels and subprocesses all come from the venv.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help setup font lab test unit unit-oldest nbval smoke book sync notebooks lint format bench clean distclean

help:
	@echo "make lab                   set up .venv, then JupyterLab on chapters/"
	@echo "make test                  set up, unit tests, then pytest --nbval over every notebook (budget quick)"
	@echo "make smoke                 run every notebook's gpu code on the CPU in smoke mode (a few steps each)"
	@echo "make book                  build the course website into book/_build/html, check it offline"
	@echo "make sync                  regenerate badges, set-up cells, .ipynb pairs, workbooks, book, tables"
	@echo "make notebooks BUDGET=cpu  sync, then re-execute and stamp every notebook in place (NB=path for one)"
	@echo "make lint | format         ruff check + format --check | fix what ruff can"
	@echo "make bench                 python benchmarks/run.py"
	@echo "make clean | distclean     remove builds and caches | also .venv"

# ---------------------------------------------------------------- set-up

setup: $(STAMP) font

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
	  { echo "minidiff needs Python >= 3.10: run make with PYTHON=python3.11 (or newer)"; exit 1; }
	@test -x $(BIN)/python || { echo "creating $(VENV) ($(PYTHON) -m venv)"; $(PYTHON) -m venv $(VENV); }
ifneq ($(strip $(TORCH)),)
	$(BIN)/python -m pip install $(TORCH)
endif
	$(BIN)/python -m pip install -e '.[dev,bench]'
	@touch $@

# The emoji data set renders Noto Color Emoji (macOS has Apple Color Emoji instead). Checked every time: cheap.
font:
	@if [ -f $(FONT_FILE) ] || fc-list 2>/dev/null | grep -qi "Noto Color Emoji" || [ "$$(uname)" = Darwin ]; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing the emoji font: apt-get install -y $(FONT_PACKAGE)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq $(FONT_PACKAGE) >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y -qq $(FONT_PACKAGE); } || \
	    echo "WARNING: could not install $(FONT_PACKAGE); the emoji data set will not work until it is installed"; \
	else \
	  echo "WARNING: the emoji font is missing (the emoji data set needs it). Install it with"; \
	  echo "  sudo apt-get install -y $(FONT_PACKAGE)      # Debian, Ubuntu"; \
	  echo "  sudo dnf install -y google-noto-emoji-color-fonts   # Fedora"; \
	fi

# ---------------------------------------------------------------- the two commands

# The whole repository is served (solutions/ too); the browser opens on chapters/. Root (containers) needs --allow-root.
lab: setup
	$(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/chapters \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

test: unit nbval

# pytest exits 5 when it collects nothing (e.g. TESTS points at an empty folder): not a failure.
unit: setup
	$(BIN)/python -m pytest $(TESTS) -n $(JOBS) --durations=5 || [ $$? = 5 ]

# Strict output comparison under the quick budget; one kernel per notebook per xdist worker (--dist loadfile),
# each with 1 torch thread (minidiff.threads() sees PYTEST_XDIST_WORKER).
nbval: setup
	@shopt -s nullglob; notebooks=($(NOTEBOOKS)); \
	if [ $${#notebooks[@]} = 0 ]; then echo "nbval: no notebooks yet in chapters/ or solutions/"; exit 0; fi; \
	echo "nbval: training (once) and caching the judges the notebooks use, so each notebook's time is its own"; \
	MINIDIFF_BUDGET=quick $(BIN)/python -m minidiff.judges || exit 1; \
	set -x; env -u MPLBACKEND MINIDIFF_BUDGET=quick MINIDIFF_LIVE=0 $(BIN)/python -m pytest --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=$(CELL_TIMEOUT) \
	  -n $(JOBS) --dist loadfile -p tools.nbtimes --durations=10 "$${notebooks[@]}"

# The unit tests on the oldest torch pyproject.toml admits (a CPU wheel, in its own venv). Its torchvision
# does not install beside it here, so this venv has no torchvision and no lpips: their tests skip (they run
# in .venv, on torch 2.14.1). The other dependencies come from pyproject.toml, so they are listed once.
OLDEST_TORCH ?= torch==2.13.0
OLDEST_VENV ?= .venv-oldest
unit-oldest:
	@test -x $(OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install -q $(OLDEST_TORCH) $$($(PYTHON) -c 'import re, tomllib; \
	  p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	  deps = p["dependencies"] + p["optional-dependencies"]["dev"]; \
	  print(" ".join(d for d in deps if re.split("[<>=! ]", d)[0] not in ("torch", "torchvision", "lpips", "jupyter-book", "jupyterlab")))')
	$(OLDEST_VENV)/bin/python -m pip install -q --no-deps -e .
	$(OLDEST_VENV)/bin/python -c 'import torch; print("unit tests on torch", torch.__version__)'
	$(OLDEST_VENV)/bin/python -m pytest $(TESTS) -n $(JOBS) -q -p no:cacheprovider --ignore=tests/test_check_book.py --ignore=tests/test_notebooks.py

# The gpu path most learners meet first (Colab), on a CPU: pick() gives gpu values, loops are capped to a
# couple of iterations (minidiff.settings, smoke mode). Outputs are not compared or written back.
smoke: setup
	@shopt -s nullglob; notebooks=($(or $(NB),$(NOTEBOOKS))); \
	if [ $${#notebooks[@]} = 0 ]; then echo "smoke: no notebooks yet"; exit 0; fi; \
	$(BIN)/python tools/smoke.py --timeout=$(CELL_TIMEOUT) "$${notebooks[@]}"

# ---------------------------------------------------------------- the book and the notebooks

# MathJax 3 is bundled (book/package.json, installed with npm when missing) so the maths renders offline;
# tools/check_book.py then opens a built page in headless Chromium with the network off.
book: setup $(MATHJAX)/tex-chtml.js
	$(BIN)/python tools/sync.py --book
	$(BIN)/jupyter-book build . --config book/_config.yml --toc book/_toc.yml --path-output book -W --keep-going
	$(BIN)/python tools/check_book.py book/_build/html
	@echo "the book is in book/_build/html/index.html"

# What MathJax's tex-chtml needs (no speech engine: 3 of its 24 MB). npm's files are dated 1985: touch.
$(MATHJAX)/tex-chtml.js: book/package.json book/package-lock.json
	@command -v npm >/dev/null || { echo "make book needs npm to bundle MathJax: apt-get install -y npm"; exit 1; }
	npm ci --prefix book --no-audit --no-fund
	rm -rf $(MATHJAX) && mkdir -p $(MATHJAX)
	(cd book/node_modules/mathjax/es5 && tar cf - tex-chtml.js input/tex/extensions output/chtml/fonts ui a11y) \
	  | (cd $(MATHJAX) && tar xf -)
	touch $@

sync: setup
	$(BIN)/python tools/sync.py

# tools/stamp.py checks every notebook first (stamp line, final run_summary cell), then executes each in place
# with nbclient (cell times kept in the metadata; CELL timeout NB_TIMEOUT s) and stamps the whole run's time.
notebooks: sync
	@shopt -s nullglob; notebooks=($(or $(NB),$(NOTEBOOKS))); \
	if [ $${#notebooks[@]} = 0 ]; then echo "no notebooks to execute"; exit 0; fi; \
	env -u MPLBACKEND MINIDIFF_BUDGET=$(BUDGET) MINIDIFF_LIVE=0 \
	  $(BIN)/python tools/stamp.py --timeout=$(NB_TIMEOUT) "$${notebooks[@]}"

# ---------------------------------------------------------------- code quality and measurements

lint: setup
	@status=0; \
	$(BIN)/ruff check $(LINT_PATHS) || status=1; \
	$(BIN)/ruff format --check $(LINT_PATHS) || status=1; \
	exit $$status

format: setup
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

bench: setup
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf book/_build book/_static/mathjax .ruff_cache .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) book/node_modules
