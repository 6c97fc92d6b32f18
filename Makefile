# Setup, serving and tests. `make install` then `make demo` (or `make run`); `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DIR ?= models/demo
DEMO_ENV := SUMMARIZE_MODEL=$(DEMO_DIR)/summarize \
	TRANSLATE_MODELS=en-fr=$(DEMO_DIR)/en-fr,en-ar=$(DEMO_DIR)/en-ar HF_HUB_OFFLINE=1

.PHONY: install run demo test bench

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Serve the configured models (default: the Hub ids; see the README's configuration table).
run: install
	$(BIN)/gunicorn -c gunicorn.conf.py --bind $(HOST):$(PORT) "service:create_app()"

# Serve random-weight demo models (meaningless output) built locally: no Hub access needed.
demo: install
	test -d $(DEMO_DIR)/summarize || $(BIN)/python -m service demo-models $(DEMO_DIR)
	$(DEMO_ENV) $(BIN)/gunicorn -c gunicorn.conf.py --bind $(HOST):$(PORT) "service:create_app()"

test: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bench
