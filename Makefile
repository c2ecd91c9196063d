# Quick start:  make demo   (set up, run the bundled example, publish its crosswalk)
#               make test   (set up, lint, type check, run the test suite)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-slow lint typecheck fixture bench bench-febrl bench-fz clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "linker needs Python >= 3.11 (found " + sys.version.split()[0] + "); run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/linker run -p fixtures/acme --publish
	@echo
	@echo "The crosswalk is in fixtures/acme/crosswalk/ (accounts.parquet, contacts.parquet, accounts_wide.parquet, manifest.json)."
	@echo "Why a record has its account:  $(BIN)/linker explain -p fixtures/acme support 2000"
	@echo "A link Splink scored:          $(BIN)/linker explain -p fixtures/acme support 2634"
	@echo "The model, as pictures:        $(BIN)/linker train -p fixtures/acme  (writes fixtures/acme/model.html)"
	@echo "Accuracy against the truth:    $(BIN)/linker evaluate -p fixtures/acme --truth fixtures/acme/truth.csv"

# Lint, format check and type check first: CI runs `make test`.
test: setup
	$(BIN)/ruff check linker tui tests fixtures/generate.py benchmarks
	$(BIN)/ruff format --check linker tui tests fixtures/generate.py benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check linker tui tests fixtures/generate.py benchmarks
	$(BIN)/ruff format --check linker tui tests fixtures/generate.py benchmarks

# mypy on linker/ ([tool.mypy] in pyproject.toml)
typecheck: setup
	$(BIN)/mypy

fixture: setup
	$(BIN)/python fixtures/generate.py --sor-accounts 2000 --seed 7 --out fixtures/acme
	$(BIN)/linker train -p fixtures/acme

bench: setup
	$(BIN)/python benchmarks/compare.py --accounts 100000

bench-febrl: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/febrl4.py

# Fodors-Zagat (real restaurant data in ../shared/data/fodors-zagat): linker untuned vs bare
# Splink; FZ_ARGS=--diagnose lists linker's false positives and negatives by cause.
bench-fz: setup
	$(BIN)/python benchmarks/fodors_zagat.py $(FZ_ARGS)

# Back to a fresh clone: the environment, and the example's run, publication and review
# decisions (fixtures/acme/decisions.jsonl is a reviewer's, never shipped).
clean:
	rm -rf $(VENV) fixtures/acme/.linker fixtures/acme/crosswalk .pytest_cache .ruff_cache .mypy_cache
	rm -f fixtures/acme/decisions.jsonl fixtures/acme/model.html snapshot_report.html
