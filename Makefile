# redline: `make demo` and `make test` are the two commands; everything else is a step of them.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

# Compiled bytecode is kept, outside the tree (in the virtualenv): a machine that sets
# PYTHONDONTWRITEBYTECODE (this one does) otherwise compiles every module, and pytest rewrites
# every test module's asserts, again in each pytest worker and each `redline` a test starts
# (collecting the suite: 9 s -> 4 s a worker).
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache

.PHONY: help install system lint generate dashboards check-generated check test unit unit-fast demo demo-stop bench clean

help:
	@echo "make demo       start the whole stack on 127.0.0.1 (docs/demo.md) and print the URLs"
	@echo "make demo-stop  stop what make demo started"
	@echo "make test       install everything, lint, check generated files, run every test"
	@echo "make check      the fast loop: lint, generated files, every test but the demo's and slow ones"
	@echo "make generate   regenerate every generated file (docs/metrics.md, ...)"
	@echo "make dashboards regenerate the Grafana dashboards and provisioning (dashboards/)"
	@echo "make bench      run the benchmarks against their peers and print the table"

# The virtualenv is (re)built when pyproject.toml or constraints.txt change. uv (PyPI's `uv`,
# pinned in constraints.txt) installs the same pinned packages as pip in about 4 s where pip took
# 45 s of a fresh clone's make test, 25 of them choosing among every file of every release on
# the index pages; pip does it when uv cannot be had or fails. Bytecode is written as modules are
# first imported (see $(TEST_BYTECODE)), not for all 4,000 files of the venv.
PIP := $(PY) -m pip install -q --disable-pip-version-check -c constraints.txt
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PIP) uv && $(VENV)/bin/uv pip install -q --python $(PY) -c constraints.txt -e '.[dev]'; \
	then echo "installed with uv: $(VENV)"; \
	else echo "uv failed: installing with pip" >&2; $(PIP) -e '.[dev]'; fi
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

system:
	bash scripts/install-system.sh

lint: install
	$(VENV)/bin/ruff check exporter tests bench dashboards deploy
	$(VENV)/bin/ruff format --check exporter tests bench dashboards deploy
	$(VENV)/bin/mypy

generate: install
	$(PY) -m exporter.generate

# Grafana dashboards from dashboards/*.dashboard.py (make generate writes them too).
dashboards: install
	$(PY) -m dashboards.build

# Generated files must match their sources: regenerate, then fail on any difference.
# git status, not git diff: a generated file that is new and not committed must fail too.
GENERATED := docs/ README.md prometheus/ alertmanager/ alert_rules/ dashboards/ exporter/default.yml
check-generated: generate
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
	  git status --short -- $(GENERATED) >&2; git diff --stat -- $(GENERATED) >&2; \
	  echo "generated files are out of date: run 'make generate' and commit" >&2; exit 1; fi

# The tests run in parallel (pytest-xdist), a module per worker, the demo's first; the 15 slowest
# are listed at the end. pytest exits 5 when it collected nothing; make fails on any non-zero exit.
PYTEST_WORKERS ?= 3
PYTEST := $(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	--durations=15

# make test's workers: one per drill module (tests/test_drills*.py), each of which runs a demo
# stack of its own at its own port offset and mostly waits on it (tests/conftest.py), and four
# for every other module meanwhile. Four, not two: the other modules' time alone is about 18
# minutes of which 9 are CPU, the rest waiting on real servers (the HA pair's expiries, the
# shards', remote write's warm-up), and two workers left the cores half idle while both waited
# (docs/performance.md, "The test suite").
DRILL_MODULES := $(words $(wildcard tests/test_drills*.py))
UNIT_WORKERS ?= $(shell echo $$(( $(DRILL_MODULES) + 4 )))

# Bytecode of the project, its packages and the test modules (pytest rewrites their asserts),
# written once by one process collecting the suite, when the test modules have none yet (a fresh
# checkout): otherwise every pytest worker compiles the same files at the same moment (in a fresh
# clone each worker's collection took 11-15 s of CPU instead of 4). If it fails, the run itself
# says why.
TEST_BYTECODE := $(PYTHONPYCACHEPREFIX)$(abspath tests)
$(TEST_BYTECODE): | install
	-@$(PY) -m pytest -qq --collect-only -p no:cacheprovider >/dev/null 2>&1

unit: install system | $(TEST_BYTECODE)
	$(PYTEST) -n $(UNIT_WORKERS) $(PYTEST_ARGS)

# lint and the generated files' check run next to the tests (they finish long before the demo's
# tests do); --output-sync keeps each one's lines whole. Any one failing fails make test.
test: install system
	@$(MAKE) --no-print-directory -j3 --output-sync=line lint check-generated unit

# The fast loop: lint, generated files and every test that needs no demo stack and is not marked
# slow (pyproject.toml's markers); it lists what it left out. make test runs everything.
check: install system
	@$(MAKE) --no-print-directory -j3 --output-sync=line lint check-generated unit-fast

unit-fast: install system | $(TEST_BYTECODE)
	$(PYTEST) -m "not demo and not slow" $(PYTEST_ARGS)

demo: install system
	$(PY) -m exporter.demo.run start

demo-stop: install
	$(PY) -m exporter.demo.run stop

# BENCH_ARGS=--quick for a smoke run; bench/README.md lists the options.
bench: install system
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .demo .demo-* .pytest_cache .mypy_cache .ruff_cache
