# Two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
DATA   ?= .switchboard

.PHONY: run test venv lint bench clean cluster

# Quietly: the build backend's notices about editable installs are not news.
$(BIN)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e '.[test]' -e clients/python
	touch $@

venv: $(BIN)/.installed

run: venv
	$(BIN)/switchboard serve --demo --host $(HOST) --port $(PORT) --data-dir $(DATA)

# A NATS server, an embedded PostgreSQL and three nodes sharing them.
cluster: venv
	$(BIN)/python -m server.cluster.local

# Chromium, its emoji font and the browser tests' npm packages, when missing.
test: venv
	tests/setup-system
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/ruff check server tests bench clients
	$(BIN)/mypy

bench: venv
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/monitors.py
	$(BIN)/python bench/cluster.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .switchboard-cluster
