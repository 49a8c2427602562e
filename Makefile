# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates .venv by itself when it is missing and installs from pyproject.toml: `make demo`
# the runtime dependencies only, `make test` (and `make install`) the dev ones too.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HASH   := $(shell cksum < pyproject.toml | cut -d' ' -f1)
RUNTIME_STAMP := $(VENV)/.runtime-$(HASH)
DEV_STAMP     := $(VENV)/.dev-$(HASH)

DEMO_DIR     ?= .kanim-demo
HOST         ?= 127.0.0.1
PORT         ?= 8000
CENTRAL_PORT ?= 8001
SINK_PORT    ?= 8002

.PHONY: demo demo-reset test install docs catalogs lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# pip compiles the packages' bytecode as it installs them, which matters where
# PYTHONDONTWRITEBYTECODE is set (this machine): uv, without it, left every test's subprocess to
# compile its imports afresh and made the suite half as slow again.
$(RUNTIME_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	rm -f $(VENV)/.runtime-* && touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.dev-* && touch $@

install: $(DEV_STAMP)

# A central hub and an office as real processes, linked: seeded on the first run, kept after.
demo: $(RUNTIME_STAMP)
	$(BIN)/kanim demo --dir $(DEMO_DIR) --host $(HOST) --port $(PORT) --central-port $(CENTRAL_PORT) --sink-port $(SINK_PORT)

# Removes the demo's folder (only one `kanim demo` made); the next `make demo` seeds a fresh one.
demo-reset: $(RUNTIME_STAMP)
	$(BIN)/kanim demo --reset --dir $(DEMO_DIR)

# One worker per core (a third worker on 2 cores was slower: 10.1 min against 8.5-9.5; 10:23
# against 10:26 on 2026-12-01). kanim's own bytecode is compiled first: the editable install
# has none, and where PYTHONDONTWRITEBYTECODE is set each of the suite's hundreds of `kanim`
# processes would compile every module it imports again (0.2-0.3 s of CPU each).
test: $(DEV_STAMP)
	$(BIN)/python -m compileall -q -j 0 kanim tests bench
	$(BIN)/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile --durations=25 $(PYTEST_ARGS)

# Rewrites the README's generated sections (the desk table, the command list); `make test` checks them.
docs: $(RUNTIME_STAMP)
	$(BIN)/python -m kanim.ops.docs README.md

bench: $(RUNTIME_STAMP)
	$(BIN)/python bench/office_day.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache

# The console's gettext catalogs: add every new message of its templates and code to
# kanim/locale/*/LC_MESSAGES/kanim.po (then translate the Indonesian ones).
catalogs: $(RUNTIME_STAMP)
	$(BIN)/python -m kanim.ops.catalogs
