# qbank: `make exam` builds the default midterm; `make test` runs the whole test suite.
# Both set up first: a virtual environment with qbank installed, and TeX Live when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
QBANK   = $(BIN)/qbank

.PHONY: setup tex exam test check bench golden clean

setup: $(VENV)/.installed tex

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The editable install maps templates/ and bank/ to packages of other names; setuptools' notice
	@# that such an install can be shadowed by same-named folders does not apply (none exist).
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

tex:
	@scripts/install-tex.sh

exam: setup
	$(QBANK) build --force

check: setup
	$(QBANK) check

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup
	$(QBANK) check

golden: setup
	scripts/update-golden.sh

bench: setup
	$(BIN)/python bench/bench_build.py

clean:
	rm -rf output/*/ output/.*.lock $(VENV) *.egg-info .pytest_cache
