# The two commands of the README: `make demo` and `make test`. Each sets up .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench reliability wheel clean

$(BIN)/litefleet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[all,dev]'
	touch $@

setup: $(BIN)/litefleet

demo: setup
	$(BIN)/litefleet demo

# Two pytest workers per core: a quarter of the suite waits (bakes, polls, deadlines, pip),
# so at one worker per core the cores sat idle that long (measured on 2 cores).
test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/pytest -n $$(( 2 * $$(nproc) ))

# The benchmarks drive Debian's nginx, wrk, Mosquitto and chromium (installed when missing).
bench: setup
	bash .ci/apt-need nginx wrk mosquitto chromium=chromium,fonts-dejavu-core
	$(BIN)/python benchmarks/run_all.py

reliability: setup
	LITEFLEET_RELIABILITY=full $(BIN)/pytest tests/reliability

# dist/litefleet-<version>-py3-none-any.whl: install it on a device with
#   pip install 'dist/litefleet-0.1.0-py3-none-any.whl[device]'
wheel:
	$(PYTHON) -m pip wheel --no-deps --wheel-dir dist .

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache .ruff_cache
