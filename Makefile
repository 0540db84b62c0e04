# itbot: `make demo` and `make test` work on a fresh machine (they create .venv and install what is missing).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: setup system-deps demo test test-fast bench serve chat dist clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# Samba (for the Active Directory tier) from Debian's packages, when run as root on Debian/Ubuntu.
system-deps:
	@bash scripts/system-deps.sh

demo: setup
	$(VENV)/bin/itbot demo

test: setup system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# Pure and SQLite tests only: no PostgreSQL, no Samba.
test-fast: setup
	$(PY) -m pytest -m "not postgres and not samba" $(PYTEST_ARGS)

bench: setup system-deps
	$(PY) -m benchmarks

serve: setup
	$(VENV)/bin/itbot serve

chat: setup
	$(VENV)/bin/itbot chat

# The wheel (dist/itbot-VERSION-py3-none-any.whl), with the default config/ inside it.
dist: setup
	rm -rf build dist
	$(PY) -m pip wheel --quiet --no-deps -w dist .

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info bench-results.json build dist
