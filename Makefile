# The README's commands. Each creates the virtualenv it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov pins boto3 exactly (a different release than ours): it gets a virtualenv of its own.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# axe-core (npm) for the browser tests' accessibility checks; tests/e2e/pagecheck.py finds it here.
AXE_VERSION := 4.14.1
AXE_DIR     := build/axe
AXE_STAMP   := $(AXE_DIR)/.axe-core-$(AXE_VERSION)

.PHONY: venv checkov axe test lint run demo browser package clean

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

## axe: axe-core from npm into build/axe (installs Debian's npm first if missing: needs root then)
axe: $(AXE_STAMP)

$(AXE_STAMP):
	command -v npm >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm)
	npm install --prefix $(AXE_DIR) --no-audit --no-fund axe-core@$(AXE_VERSION)
	touch $(AXE_STAMP)

## test: lint, then the whole offline test suite against the emulator (checkov and axe-core included)
test: venv checkov axe
	$(BIN)/ruff check broker tests
	BROKER_REQUIRE_CHECKOV=1 BROKER_REQUIRE_AXE=1 $(BIN)/pytest

## run: the local stack (emulator, spokes, dev IdP portal, broker, Studio stand-in); prints one URL.
## Options of `broker serve` go in ARGS, e.g. make run ARGS="--profile-delay 20"
run: venv
	$(BIN)/broker serve $(ARGS)

## demo: the seed scenario end to end over HTTP; prints a table, exits non-zero on any failed check
demo: venv
	$(BIN)/broker demo

## browser: Debian's chromium + chromedriver for the browser tests (needs root; CI runs it)
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

## screenshots: refresh docs/screenshots/ from the browser tests of every page state (axe-core included)
screenshots: venv axe
	BROKER_REQUIRE_AXE=1 BROKER_SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest tests/e2e/test_pages_browser.py

## package: the Lambda artifact in build/lambda (template.yaml's CodeUri), Linux wheels, no Docker
package: venv
	scripts/package-lambda.sh

lint: venv
	$(BIN)/ruff check broker tests

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache
