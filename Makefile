# The README's commands. Each creates the virtualenv it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov pins boto3 exactly (a different release than ours): it gets a virtualenv of its own.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: venv checkov test lint run demo browser package clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

checkov: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): tests/templates/checkov-requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r tests/templates/checkov-requirements.txt
	touch $(CHECKOV_STAMP)

## test: lint, then the whole offline test suite against the emulator (checkov included)
test: venv checkov
	$(BIN)/ruff check broker tests
	BROKER_REQUIRE_CHECKOV=1 $(BIN)/pytest

## run: the local stack (emulator, spokes, dev IdP portal, broker, Studio stand-in); prints one URL
run: venv
	$(BIN)/broker serve $(ARGS)

## demo: the seed scenario end to end over HTTP; prints a table, exits non-zero on any failed check
demo: venv
	$(BIN)/broker demo

## browser: Debian's chromium + chromedriver for the browser tests (needs root; CI runs it)
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

## package: the Lambda artifact in build/lambda (template.yaml's CodeUri), Linux wheels, no Docker
package:
	scripts/package-lambda.sh

lint: venv
	$(BIN)/ruff check broker tests

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache
