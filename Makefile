# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-full lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/modebound validate --suite quick --out out/demo

test: $(STAMP)
	$(PY) -m pytest -n 2 -q --durations=25

test-full: $(STAMP)
	MODEBOUND_TEST_SIZE=full $(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/theory_speed.py
	$(PY) benchmarks/lipschitz.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
