# Two commands matter: `make run` starts the whole stack, `make test` runs every check.
# Both create the virtual environment on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV ?= $(BIN)/uv
# The lock files: every platform, Python 3.11, hashes of every file from PyPI itself.
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes \
	--index-url https://pypi.org/simple --custom-compile-command "make lock" --quiet

.PHONY: venv test lint typecheck pytest run clean bench lock

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q --durations=25

test: lint typecheck pytest

run: $(STAMP)
	$(BIN)/python -m devstack

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

# Regenerate requirements.lock (what the image installs), requirements-dev.lock (the dev and
# local extras, at the same versions) and requirements-build.lock (what builds the project's
# wheel in the image) from pyproject.toml. Pins already in the lock are kept;
# `make lock UPGRADE=--upgrade` moves everything to the newest allowed releases.
lock: $(STAMP)
	$(UV) pip compile pyproject.toml $(LOCK_FLAGS) $(UPGRADE) -o requirements.lock
	$(UV) pip compile pyproject.toml $(LOCK_FLAGS) $(UPGRADE) --extra dev --extra local \
		--constraint requirements.lock -o requirements-dev.lock
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')" \
		| $(UV) pip compile - $(LOCK_FLAGS) $(UPGRADE) -o requirements-build.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
