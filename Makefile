# newsflow: `make run` and `make test` each do all of their own set-up on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The machine's pip index warnings are noise; real errors still fail the step.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }
PYTEST_ARGS ?=
# CI runs everything; a developer's `make test` skips tests marked slow (`make test-all` runs them).
ifeq ($(CI),true)
MARKERS :=
else
MARKERS := -m "not slow"
endif

.PHONY: run test test-all lint fmt docs bench eval bench-extract clean install install-dev

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | $(QUIET_PIP)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e . 2>&1 | $(QUIET_PIP)
	$(PY) -c "import newsflow, duckdb, prefect, trafilatura"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]' 2>&1 | $(QUIET_PIP)
	$(PY) -c "import newsflow, duckdb, prefect, trafilatura, pytest"
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(PY) -m pip install -q -e '.[dev,bench]' 2>&1 | $(QUIET_PIP)
	$(PY) -c "import newspaper"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: set up, then ingest seeds/ into warehouse/news.duckdb and print a summary
run: install
	$(VENV)/bin/newsflow ingest-seeds seeds

## test: set up with dev extras, then lint (ruff, mypy) and pytest
test: install-dev lint
	$(PY) -m pytest $(MARKERS) $(PYTEST_ARGS)

test-all: install-dev lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## docs: regenerate the schema reference in warehouse/README.md from a fresh warehouse
docs: install
	$(PY) -m newsflow.warehouse.docs --write

## bench: every benchmark (figures and ratios, never pass/fail), saved in benchmarks/results/
## (installs the `bench` extra: newspaper4k, a baseline only)
bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks.run_all $(BENCH)

## eval: extraction quality on every page of ../shared/eval beside bare trafilatura, and the
## near-duplicate evaluations (labelled pairs from the same pages; short stories under shared
## furniture, templated briefs and syndicated copies generated from them)
eval: install-dev
	$(PY) eval/evaluate.py
	$(PY) eval/neardup.py
	$(PY) eval/neardup_hard.py

## bench-extract: dedup + enrichment throughput; the lake warehouse at 0 and 100k articles
## (loads, reader, daily counts, search, storage: benchmarks/bench_lake_scale.py --help)
bench-extract: install-dev
	$(PY) benchmarks/bench_enrich.py
	$(PY) benchmarks/bench_lake_scale.py --sizes 0,100000

clean:
	rm -rf $(VENV) warehouse/news.duckdb* warehouse/spool .pytest_cache .mypy_cache .ruff_cache
