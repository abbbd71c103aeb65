# painstudy: set-up and the main jobs. Needs only python3 (>= 3.11) and make.
#   make demo   set everything up, then run the main job on the bundled demo study
#               (validate it, then write the full report to reports/demo/)
#   make test   set everything up, then run the whole test suite
# Both are idempotent: the virtual environment is rebuilt only when requirements.lock or
# pyproject.toml change.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# public data files for tests: a local mirror of the registry (CI has ../shared/datasets)
MIRROR ?= $(abspath ../shared/datasets)

.PHONY: setup demo test docs lock clean

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "painstudy needs Python >= 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

# the Jupyter kernel the notebooks name (painstudy/notebooks/*.ipynb: kernelspec "painstudy")
KERNELSPEC := $(VENV)/share/jupyter/kernels/painstudy/kernel.json
$(KERNELSPEC): $(VENV)/.installed
	$(BIN)/python -m ipykernel install --sys-prefix --name painstudy --display-name "Python 3 (painstudy)" >/dev/null

setup: $(VENV)/.installed $(KERNELSPEC)

demo: setup
	$(BIN)/painstudy validate
	$(BIN)/painstudy report

test: setup
	PAINSTUDY_DATA_MIRROR=$${PAINSTUDY_DATA_MIRROR:-$(MIRROR)} MPLBACKEND=Agg $(BIN)/python -m pytest

# the documentation site (docs/_build/html), with the validation report generated from the
# reference tests; offline, Sphinx warnings are errors
docs: setup
	PAINSTUDY_DATA_MIRROR=$${PAINSTUDY_DATA_MIRROR:-$(MIRROR)} $(BIN)/python tools/build_docs.py

# rebuild the lock file from pyproject.toml in a throw-away environment
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --upgrade pip
	.lockenv/bin/python -m pip install --quiet ".[test,docs]"
	{ echo "# Exact versions for a reproducible painstudy environment (Python 3.11+)."; \
	  echo "# Regenerate with: make lock   (pip freeze of a fresh venv built from pyproject.toml)"; \
	  .lockenv/bin/python -m pip freeze --exclude-editable | grep -v -i '^painstudy'; } > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info docs/_build docs/reference/generated
