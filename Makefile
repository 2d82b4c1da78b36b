# Everything a newcomer needs, from a machine with only python3 and make.
# `make test` builds .venv on first use, exactly as uv.lock says (and again when
# pyproject.toml or uv.lock changes); `make lock` refreshes uv.lock.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The locker, bootstrapped into .venv with the machine's pip: nothing else is needed.
UV_VERSION := 0.13.9
UV     := $(BIN)/uv
# uv uses the venv's Python and never downloads one; .venv is the project environment.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (some CI and
# sandboxes), Python would otherwise compile every module of the web stack again at
# every start (harness serve: ~450 ms of imports instead of ~145 ms). harness's own
# modules (the editable install reads them from harness/) are compiled by BYTECODE
# before the commands that start it; compileall only redoes files that changed.
export UV_COMPILE_BYTECODE := 1
BYTECODE = $(BIN)/python -m compileall -q -j 0 harness >/dev/null

.PHONY: install lock test test-latest lint typecheck pytest scan bench bench-serve soak fuzz \
	serve demo clean clients-doc screenshots bench-long

install: $(STAMP)

# A .venv without uv predates the lock: it is built again from nothing.
$(UV):
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --locked: fail, instead of resolving anew, when uv.lock does not match pyproject.toml.
# The sync is exact: a package the lock does not list is removed (uv keeps pip and itself).
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra test
	touch $(STAMP)

# Resolve the newest releases that pyproject.toml allows and write uv.lock. Then run
# `make test`, and commit uv.lock with what the new versions changed.
lock: | $(UV)
	$(UV) lock --upgrade
	$(MAKE) install
	$(BIN)/python -m tests.sdk_behaviour --write

# lint-imports: the layers and the pure core ([tool.importlinter] in pyproject.toml).
# --no-cache: the graph takes milliseconds, and no cache directory lands in the tree.
lint: $(STAMP)
	$(BIN)/ruff check harness tests bench
	$(BIN)/ruff format --check harness tests bench
	$(BIN)/lint-imports --no-cache --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy harness

# coverage run (not pytest --cov): harness's own pytest plugin is loaded through its
# entry point before pytest-cov would start measuring, so the modules it imports
# would count as unexecuted. Two xdist workers halve the wall time on two cores;
# coverage follows them and the harness processes tests start (pyproject: patch).
pytest: $(STAMP)
	@$(BYTECODE)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || echo \
	  "note: Chromium not found: the console's browser tests (tests/test_console_browser.py) \
	will be skipped; install them with: sudo apt-get install chromium chromium-driver"
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest -n 2
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

# No API key, token or cookie may ever be committed in a cassette or scenario.
scan: $(STAMP)
	$(BIN)/harness scan cassettes scenarios

# The one command CI and developers run: lint, types, secret scan, tests with coverage.
test: lint typecheck scan pytest

# SDK drift, as a report: the locked environment in .venv-latest with the newest releases
# of the official SDKs (and their HTTP stack), the SDK suites run there, and each checked
# behaviour that differs from tests/sdk_behaviour.py's row for the locked version printed
# (CHANGED sdk locked -> newest key: before -> after). Test failures here are the news,
# not an error: the target fails only when it cannot run. `make test` never depends on it.
LATEST      := .venv-latest
LATEST_SDKS := openai anthropic google-genai httpx2 openai-agents boto3 botocore
SDK_SUITES  := tests/test_sdk_conformance.py tests/test_sdk_timeouts.py tests/test_conformance_kit.py \
	tests/test_sdk_responses.py tests/test_agents.py tests/test_bedrock_converse.py

test-latest: | $(UV)
	rm -rf $(LATEST)
	UV_PROJECT_ENVIRONMENT=$(LATEST) $(UV) sync --locked --extra test --quiet
	$(UV) pip install --quiet --python $(LATEST)/bin/python --upgrade $(LATEST_SDKS)
	-HARNESS_SDK_OBSERVATIONS=$(LATEST)/observations.jsonl $(LATEST)/bin/python -m pytest \
	  -p no:cacheprovider -n 2 -q --no-header -rN $(SDK_SUITES)
	$(LATEST)/bin/python -m tests.sdk_behaviour --drift $(LATEST)/observations.jsonl

# docs/clients.md: the conformance kit on every shipped client adapter, at the locked
# versions, the third-party ones included (the `clients` extra, in .venv-clients so
# that .venv stays what `make test` needs). A few minutes.
CLIENTS_VENV := .venv-clients
clients-doc: | $(UV)
	UV_PROJECT_ENVIRONMENT=$(CLIENTS_VENV) $(UV) sync --locked --extra test --extra clients --quiet
	$(CLIENTS_VENV)/bin/python -m harness.conformance.published --write

bench: $(STAMP)
	@$(BYTECODE)
	$(BIN)/python bench/normalize.py
	$(BIN)/python bench/eventstream.py
	$(BIN)/python bench/converse.py

# The console's views as PNGs in docs/screenshots/ (README, docs/console.md), taken in
# Debian's headless Chromium from real data: the built-ins, SDK requests, a conformance run.
screenshots: $(STAMP)
	$(BIN)/python -m tests.screenshots

bench-serve: $(STAMP)
	@$(BYTECODE)
	$(BIN)/python bench/serve.py

# Long streams: a capture of 10k, 100k and 1M events replayed by a fresh harness serve
# each: peak memory over idle and time to first byte (about two minutes).
bench-long: $(STAMP)
	@$(BYTECODE)
	$(BIN)/python bench/longstream.py $(ARGS)

# Load and soak: one `harness serve`, 1,000 streaming clients for 60 s, then again with
# fault overlays (a few minutes; loopback only). Smaller: make soak ARGS="--clients 200
# --duration 10".
soak: $(STAMP)
	$(BIN)/python bench/soak.py $(ARGS)

# Coverage-guided fuzzing (atheris/libFuzzer) of the SSE decoder and of the pipeline per
# provider, FUZZ_SECONDS each, in a venv of its own (bench/fuzz/.venv) so that neither CI
# nor `make test` needs atheris. Crashes go to bench/fuzz/crashes/; see bench/fuzz/README.md.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= sse openai anthropic gemini
FUZZ_BIN     := bench/fuzz/.venv/bin

$(FUZZ_BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv bench/fuzz/.venv
	$(FUZZ_BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[fuzz]'
	touch $@

fuzz: $(FUZZ_BIN)/.installed
	@mkdir -p bench/fuzz/crashes; status=0; for t in $(FUZZ_TARGETS); do \
	  mkdir -p bench/fuzz/work/$$t; echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  $(FUZZ_BIN)/python bench/fuzz/run.py $$t bench/fuzz/work/$$t bench/fuzz/corpus/$$t \
	    -dict=bench/fuzz/sse.dict -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=bench/fuzz/crashes/$$t- || status=1; \
	done; exit $$status

# The main job: the mock provider on the built-in scenarios, http://127.0.0.1:8080.
# Override with `make serve ARGS="--port 0 --speed 0"`.
serve: $(STAMP)
	@$(BYTECODE)
	$(BIN)/harness serve $(ARGS)

demo: $(STAMP)
	$(BIN)/harness normalize --provider anthropic docs/examples/anthropic-text.sse

clean:
	rm -rf $(VENV) .venv-latest .venv-clients .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov
