# Setup, serving and tests. `make install` then `make demo` (or `make run`); `make test`.
# `make serve` is the production front (nginx in front of gunicorn); `run` and `demo` are gunicorn
# alone, for development.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DIR ?= models/demo
# `make demo` serves the demo models only for the settings you have not set (in the environment
# or on make's command line): `SUMMARIZE_MODEL=models/summarize make demo` serves your summariser
# with the demo translators. Not exported, so `make run` never sees these defaults.
SUMMARIZE_MODEL ?= $(DEMO_DIR)/summarize
TRANSLATE_MODELS ?= en-fr=$(DEMO_DIR)/en-fr,en-ar=$(DEMO_DIR)/en-ar
HF_HUB_OFFLINE ?= 1
DEMO_ENV := SUMMARIZE_MODEL='$(SUMMARIZE_MODEL)' TRANSLATE_MODELS='$(TRANSLATE_MODELS)' \
	HF_HUB_OFFLINE='$(HF_HUB_OFFLINE)'

.PHONY: install install-dev run serve demo test test-slow image-test mutate bench

# What serving needs (requirements.txt); install-dev adds the test and benchmark tools.
install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Serve the configured models (default: the Hub ids; see the README's configuration table).
run: install
	$(BIN)/gunicorn -c gunicorn.conf.py --bind $(HOST):$(PORT) "service:create_app()"

# The production front: nginx (Debian: apt-get install nginx) holds the clients, gunicorn runs
# behind it on a unix socket; same models and settings as `make run`.
serve: install
	$(BIN)/python -m service front --bind $(HOST):$(PORT)

# Serve random-weight demo models (meaningless output) built locally: no Hub access needed.
demo: install
	test -d $(DEMO_DIR)/summarize || $(BIN)/python -m service demo-models $(DEMO_DIR)
	$(DEMO_ENV) $(BIN)/gunicorn -c gunicorn.conf.py --bind $(HOST):$(PORT) "service:create_app()"

test: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# The opt-in slow tests: a fresh-virtualenv replay of the image's install (about a minute), and
# the long soak when SOAK_SECONDS is set.
test-slow: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m slow

# The image, built from the Dockerfile with podman and run with the demo models as a user runs
# it (root; Debian's podman, runc, debootstrap): deploy/image-test.sh. CI runs it.
image-test: install
	VENV=$(VENV) deploy/image-test.sh

# Mutation testing of the pure, central modules ([tool.mutmut] in pyproject.toml); not in CI.
mutate: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/mutmut run; $(BIN)/mutmut results

bench: install-dev
	$(BIN)/python -m bench
