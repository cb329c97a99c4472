# omnigw: `make run` and `make test` are all a newcomer needs (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config/omnigw.yaml

.PHONY: run test lint typecheck unit peers bench clean

$(BIN)/python:
	scripts/bootstrap-python.sh $(PYTHON) $(VENV)

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,ansible]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/omnigw db upgrade --config $(CONFIG)
	$(BIN)/omnigw run --config $(CONFIG)

peers:
	scripts/install-test-peers.sh

lint: $(VENV)/.test-installed
	$(BIN)/ruff check omnigw tests bench
	$(BIN)/ruff format --check omnigw tests bench

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy --strict omnigw

unit: $(VENV)/.test-installed
	OMNIGW_REQUIRE_PEERS=1 $(BIN)/pytest -q

test: $(VENV)/.test-installed peers lint typecheck unit

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
