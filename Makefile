# One entry point for people and CI. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EVENT ?= events/manual.json

.PHONY: install run test lint bench memory lifecycle scale soak fuzz clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## Run the function under fdk on a sample payload against the local emulator: make run EVENT=events/alarm.json
run: install
	$(PY) -m localdev $(EVENT) $(ARGS)

## Lint, type-check and run the whole test suite (what CI runs).
test: install lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

bench: install
	$(PY) -m bench.perf $(ARGS)

memory: install
	$(PY) -m bench.memory $(ARGS)

scale: install
	$(PY) -m bench.scale $(ARGS)

lifecycle: install
	$(PY) -m bench.lifecycle $(ARGS)

soak: install
	$(PY) -m bench.soak $(ARGS)

fuzz: install
	$(PY) -m bench.fuzz $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
