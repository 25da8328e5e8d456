PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean install

$(STAMP): pyproject.toml scripts/system_packages.sh
	bash scripts/system_packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/unionbot demo

# The suite runs twice: on SQLite, then on a throwaway PostgreSQL cluster (when its server
# is installed; otherwise it says so). Extra pytest arguments: make test ARGS="-k outbox".
# The dashboard's tests use Debian's chromium and chromium-driver (scripts/system_packages.sh).
test: $(STAMP)
	bash scripts/system_packages.sh  # the browser of the dashboard's tests, if it went missing
	$(BIN)/ruff check .
	$(BIN)/python -m tests.run_engines $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.bench_card
	$(BIN)/python -m bench.bench_reads
	$(BIN)/python -m bench.bench_glyphs
	$(BIN)/python -m bench.bench_approvals
	$(BIN)/python -m bench.bench_matching
	$(BIN)/python -m bench.bench_suggest
	$(BIN)/python -m bench.bench_updates
	$(BIN)/python -m bench.bench_limiter
	$(BIN)/python -m bench.bench_memory
	$(BIN)/python -m bench.bench_export
	$(BIN)/python -m bench.bench_stats  # the full city: about a minute to generate, then timings

clean:
	rm -rf $(VENV) demo-output .pytest_cache
