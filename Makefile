# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates .venv by itself when it is missing and installs from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

DEMO_DIR ?= .kanim-demo
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test install lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# An office node with seeded data: one user per role, booklet stock, a day of appointments.
demo: $(STAMP)
	KANIM_DATA_DIR=$(DEMO_DIR) $(BIN)/kanim demo --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/office_day.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
