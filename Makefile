# fraudspark: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install when the package definition or the lock file changes.
STAMP := $(VENV)/.installed-$(shell cat setup.py requirements.lock | sha1sum | cut -c1-12)

.DEFAULT_GOAL := help
.PHONY: help setup test test-all test-fast demo lint format typecheck bench clean dist lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): setup.py requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# Exact versions from the lock file: a fresh machine gets the tested set.
	$(BIN)/pip install --quiet -c requirements.lock -e '.[ml,dev]'
	# One Spark start with conf/local.yaml (the demo's): Ivy fetches the Delta jars into
	# ~/.cache/fraudspark once, and the driver JVM writes its class-data sharing archive as it
	# exits (fraudspark/class_sharing.py), so the first command (often the demo) starts as
	# fast as later ones.
	lakehouse=$$(mktemp -d) && $(BIN)/fraudspark sql "SELECT 1" --conf conf/local.yaml \
		--lakehouse "$$lakehouse" \
		> $(VENV)/first-start.log 2>&1; status=$$?; rm -rf "$$lakehouse"; \
		if [ $$status -ne 0 ]; then cat $(VENV)/first-start.log; exit $$status; fi
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP) ## create .venv with every package, fetch the Delta jars, start Spark once

# After changing a range in setup.py: `make lock` (LOCK_FLAGS=--upgrade moves every pin to the
# newest allowed), then `make setup` and the tests.
lock: ## pin setup.py's ranges to exact versions in requirements.lock (uv pip compile)
	$(BIN)/uv pip compile setup.py --extra ml --extra dev --python-version 3.11 \
		--annotation-style line -o requirements.lock $(LOCK_FLAGS)

# Two test processes (pytest-xdist), each module in one of them; then, one at a time, the tests
# marked `solo` that start Spark processes of their own. TEST_WORKERS=0 runs all in one process.
TEST_WORKERS ?= 2
XDIST = -n $(TEST_WORKERS) --dist loadfile

test: setup ## the test suite (slow end-to-end tests included; tests/not_yet_verified.txt left out)
	$(BIN)/pytest -q $(XDIST) -m "not solo and not unverified"
	$(BIN)/pytest -q -m "solo and not unverified"

test-fast: setup ## the suite without the tests marked slow (and the not yet verified ones)
	$(BIN)/pytest -q $(XDIST) -m "not slow and not unverified"

test-all: setup ## every test, those listed in tests/not_yet_verified.txt too
	$(BIN)/pytest -q $(XDIST) -m "not solo"
	$(BIN)/pytest -q -m solo

demo: setup ## the short end-to-end demo (a few minutes; `fraudspark demo --full` is the long one)
	$(BIN)/fraudspark demo

lint: setup ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: setup ## strict mypy on the library
	$(BIN)/mypy

# The package for executors that do not have it installed: a wheel (pip install it into their
# Python) and the same file as a .zip for `spark-submit --py-files` (Spark puts only .zip, .egg
# and .jar py-files on the executors' Python path). Dependencies are not bundled.
DIST ?= dist
DIST_PYTHON ?= $(BIN)/python
VERSION = $(shell grep -oP 'version="\K[^"]+' setup.py)
dist: ## build dist/fraudspark-<version>-py3-none-any.whl and dist/fraudspark-<version>.zip
	rm -f $(DIST)/fraudspark-*
	$(DIST_PYTHON) -m pip wheel --quiet --no-deps --wheel-dir $(DIST) .
	cp $(DIST)/fraudspark-$(VERSION)-py3-none-any.whl $(DIST)/fraudspark-$(VERSION).zip

clean: ## remove the lakehouse, generated data and reports (keeps .venv)
	rm -rf lakehouse data reports spark-warehouse .pytest_cache build dist
