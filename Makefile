# The two commands a newcomer needs: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint typecheck unit bench screenshots emulators-start emulators-stop clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Switchboard needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --editable '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

run: $(STAMP)  ## run Switchboard on the embedded back end (no cloud, no Java)
	$(BIN)/switchboard serve

test: lint typecheck  ## lint, type-check, then every test on every back end
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# The browser tests that take the docs' screenshots, writing docs/img/*.png (any other
# run saves them in its tmp dir only, so `make test` leaves the checkout clean).
SHOTS := longest_waiting_customer or a_new_conversation_appears or dashboard_draws
screenshots: $(STAMP)  ## rewrite docs/img/console-*.png from the browser tests
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/browser -k 'embedded and ($(SHOTS))'

bench: $(STAMP)
	$(BIN)/python bench/eventstore.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
