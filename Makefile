# One entry point for people and CI. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EVENT ?= events/manual.json
# Static IaC scan of deploy/terraform in a venv of its own (inside .venv, so ignored like it): checkov's
# dependency tree stays out of the function's pins.
IAC_VENV ?= $(VENV)/iac
CHECKOV_VERSION ?= 3.3.30

.PHONY: install compile run test lint iac bench memory lifecycle sweep scale soak fuzz retention-oracle clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## Compile the function's own modules to hash-checked bytecode before `fn deploy`: the image then carries it, and
## a read-only /function need not compile them at every cold start (see README, "Performance").
compile: install
	$(PY) -m compileall -q --invalidation-mode checked-hash func.py backup_handler

## Run the function under fdk on a sample payload against the local emulator: make run EVENT=events/alarm.json
run: install
	$(PY) -m localdev $(EVENT) $(ARGS)

## Lint, type-check, scan the deployment stack and run the whole test suite (what CI runs).
test: install lint iac
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

$(IAC_VENV)/.installed-$(CHECKOV_VERSION):
	rm -rf $(IAC_VENV)
	$(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

## Static scan of deploy/terraform (skips, each with its reason, in deploy/terraform/.checkov.yaml).
iac: $(IAC_VENV)/.installed-$(CHECKOV_VERSION)
	$(IAC_VENV)/bin/checkov --config-file deploy/terraform/.checkov.yaml

bench: install
	$(PY) -m bench.perf $(ARGS)

memory: install
	$(PY) -m bench.memory $(ARGS)

## The orphan sweep's peak RSS over large compartments, beside the full-list path it replaced (fresh processes).
sweep: install
	$(PY) -m bench.sweep $(ARGS)

scale: install
	$(PY) -m bench.scale $(ARGS)

lifecycle: install
	$(PY) -m bench.lifecycle $(ARGS)
	$(PY) -m bench.lifecycle restore-tests $(RESTORE_ARGS)
	$(PY) -m bench.lifecycle orphans $(ORPHANS_ARGS)
	$(PY) -m bench.lifecycle tiers $(TIERS_ARGS)

soak: install
	$(PY) -m bench.soak $(ARGS)

fuzz: install
	$(PY) -m bench.fuzz $(ARGS)

## The retention decision against restic's own `forget` alone (needs restic: apt-get install restic).
retention-oracle: install
	$(PY) -m pytest tests/runs/test_tiers_restic.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
