# convolab: `make help` lists the targets. Everything runs inside .venv, made by `make setup`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3 || command -v python)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.convolab-installed
EXTRAS := lab,postgres,dev,bench

.DEFAULT_GOAL := help
.PHONY: help setup system-deps lab test report lint format bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install convolab (editable) with all extras; fast when done
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "convolab needs Python 3.11 or newer; found " + sys.version.split()[0] + " at " + sys.executable + ". Install python3.11 and run: make setup PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	@touch $(STAMP)
	@echo "convolab is installed in $(VENV) (activate with: source $(BIN)/activate)"

system-deps: ## install the system packages the tests need (PostgreSQL server) when missing
	@bash scripts/system-deps.sh

lab: setup ## open JupyterLab on the quickstart notebook (CI=true or no display: check it starts, print the URL, exit)
	@$(BIN)/python scripts/lab.py notebooks/00_quickstart.ipynb

test: setup system-deps ## lint, then run the whole test suite
	$(BIN)/ruff check .
	@bash scripts/run-tests.sh

report: setup ## run every notebook offline on a fresh kernel; write build/report/<notebook>.html (opens with no network)
	$(BIN)/convolab report --out build/report notebooks/*.ipynb

bench: setup ## run the benchmarks (each prints its figures beside a baseline measured in the same run)
	@$(BIN)/python benchmarks/run_all.py

lint: setup ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove build outputs and caches (keeps .venv)
	rm -rf build .pytest_cache .ruff_cache .hypothesis
