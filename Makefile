# The README's commands. Each creates the virtualenv it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## test: lint, then the whole offline test suite against the emulator
test: venv
	$(BIN)/ruff check broker tests
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check broker tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
