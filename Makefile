# Two commands on a fresh machine:  make serve   /   make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: serve test venv bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,fast]'
	touch $(STAMP)

venv: $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/valkeyd serve --bind 127.0.0.1 --port 6379 --engine memory

# The suite runs twice: as is (memory engine), then every server test again on the lmdb
# engine (tests/conftest.py says which files the second pass leaves out and why).
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)
	VALKEYD_ENGINE=lmdb $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) tools/bench

clean:
	rm -rf $(VENV) build *.egg-info
