# Townhall: `make demo` and `make test` do all setup themselves (see scripts/setup.sh).
#
#   make demo [HOST=0.0.0.0] [PORT=9000]   set up, then run a demo Space
#   make serve [HOST=...] [PORT=...]       set up, then run the server
#   make test [PYTEST_ARGS='-k hls -x']    set up, then run the full test suite
#   make setup                             only set up (.venv, node_modules, apt packages)
#   make lint                              ruff, if installed in .venv
#
# HOST/PORT are taken from the make command line; otherwise the server reads
# TOWNHALL_HOST / TOWNHALL_PORT from the environment.

SHELL := /bin/bash
VENV  := .venv

SERVER_ARGS :=
ifeq ($(origin HOST),command line)
SERVER_ARGS += --host $(HOST)
endif
ifeq ($(origin PORT),command line)
SERVER_ARGS += --port $(PORT)
endif
PYTEST_ARGS ?=

.PHONY: setup demo serve test lint

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/townhall demo $(SERVER_ARGS)

serve: setup
	$(VENV)/bin/townhall serve $(SERVER_ARGS)

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint:
	@if [ -x $(VENV)/bin/ruff ]; then \
		$(VENV)/bin/ruff check townhall tests && $(VENV)/bin/ruff format --check townhall tests; \
	else \
		echo "ruff is not installed in $(VENV) (optional): $(VENV)/bin/pip install ruff"; \
	fi
