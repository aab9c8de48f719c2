# blankett — the two commands of the README, and their parts.
#   make demo   set everything up, then run the main job on the bundled samples
#   make test   set everything up, then run the tests
#   make bench  the benchmark (not part of make test)
# Re-running is fast: each step leaves a stamp and reruns only when its inputs change.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
DATA    ?= ./data
STAMPS  := $(VENV)/.stamps

.PHONY: demo test bench setup samples clean

# System packages are checked on every run (a second or less when all are there), so a
# machine that lost one gets it back even when the virtual environment is still there.
setup: system $(STAMPS)/python

.PHONY: system
system:
	@bash scripts/setup-system.sh

$(STAMPS)/python: requirements.lock pyproject.toml | system
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	@mkdir -p $(STAMPS) && touch $@

demo: setup
	$(VENV)/bin/blankett --data $(DATA) demo samples

# The store tests run on SQLite and on a throwaway PostgreSQL server (scripts/test-postgres.sh,
# about a second to start). The target's exit code is pytest's; the server is stopped either way.
test: setup
	@url=$$(bash scripts/test-postgres.sh start) || { echo "make test: the test PostgreSQL server did not start" >&2; exit 1; }; \
	echo "make test: PostgreSQL for the tests at $$url"; \
	status=0; BLANKETT_TEST_DATABASE_URL="$$url" OMP_THREAD_LIMIT= $(PY) -m pytest -q || status=$$?; \
	bash scripts/test-postgres.sh stop || echo "make test: could not stop the test PostgreSQL server" >&2; \
	exit $$status

# The benchmark (issue 8): a seeded set of about 300 pages through the pipeline, against the
# truth and beside OCRmyPDF; rewrites the generated part of docs/benchmarks.md and
# docs/benchmarks.json. About 10 minutes; run it on a machine doing nothing else.
bench: setup $(STAMPS)/bench
	$(VENV)/bin/blankett bench --work $(BENCH_WORK)

BENCH_WORK ?= /tmp/blankett-bench

$(STAMPS)/bench: requirements-bench.lock | $(STAMPS)/python
	$(PY) -m pip install -q -r requirements-bench.lock
	@touch $@

# The committed sample set: a few small batches with ground truth (see samples/README.md).
samples: setup
	$(VENV)/bin/blankett samples --out samples --count 12 --seed 2026 --small

clean:
	rm -rf $(VENV) build *.egg-info
