# `make run` and `make test` create .venv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# pytest workers (pytest-xdist); TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 4

.PHONY: run test bench migrate prune chat clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,otel,mcp,postgres]'
	touch $@

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,otel,postgres,bench]'
	touch $@

run: $(VENV)/.installed
	$(PY) -m bot

migrate: $(VENV)/.installed
	$(PY) -m bot migrate

# Delete runs and conversations older than AUDIT_RETENTION_DAYS (the bot also does it hourly).
prune: $(VENV)/.installed
	$(PY) -m bot prune

# Talk to the default agent in the terminal (`python -m bot chat --help` for more).
chat: $(VENV)/.installed
	$(PY) -m bot chat

# mypy first, then the suite with executor/ coverage (fails under 90 %).
# pytest exits 5 when it collects nothing, which fails this target too.
test: $(VENV)/.installed
	$(PY) -m mypy
	$(PY) -m pytest -n $(TEST_WORKERS) --cov=executor --cov-report=term --cov-fail-under=90

bench: $(VENV)/.bench-installed
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .coverage
