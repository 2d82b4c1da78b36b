# Everything a newcomer needs, from a machine with only python3 and make.
# `make test` builds .venv on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint typecheck pytest scan bench bench-serve serve demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check harness tests bench
	$(BIN)/ruff format --check harness tests bench

typecheck: $(STAMP)
	$(BIN)/mypy harness

# coverage run (not pytest --cov): harness's own pytest plugin is loaded through its
# entry point before pytest-cov would start measuring, so the modules it imports
# would count as unexecuted.
pytest: $(STAMP)
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

# No API key, token or cookie may ever be committed in a cassette or scenario.
scan: $(STAMP)
	$(BIN)/harness scan cassettes scenarios

# The one command CI and developers run: lint, types, secret scan, tests with coverage.
test: lint typecheck scan pytest

bench: $(STAMP)
	$(BIN)/python bench/normalize.py

bench-serve: $(STAMP)
	$(BIN)/python bench/serve.py

# The main job: the mock provider on the built-in scenarios, http://127.0.0.1:8080.
# Override with `make serve ARGS="--port 0 --speed 0"`.
serve: $(STAMP)
	$(BIN)/harness serve $(ARGS)

demo: $(STAMP)
	$(BIN)/harness normalize --provider anthropic docs/examples/anthropic-text.sse

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
