# redline: `make demo` and `make test` are the two commands; everything else is a step of them.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: help install system lint generate dashboards check-generated test unit demo demo-stop bench clean

help:
	@echo "make demo       start the whole stack on 127.0.0.1 (docs/demo.md) and print the URLs"
	@echo "make demo-stop  stop what make demo started"
	@echo "make test       install everything, lint, check generated files, run every test"
	@echo "make generate   regenerate every generated file (docs/metrics.md, ...)"
	@echo "make dashboards regenerate the Grafana dashboards and provisioning (dashboards/)"
	@echo "make bench      run the benchmarks against their peers and print the table"

# The virtualenv is (re)built when pyproject.toml or constraints.txt change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

system:
	bash scripts/install-system.sh

lint: install
	$(VENV)/bin/ruff check exporter tests bench dashboards
	$(VENV)/bin/ruff format --check exporter tests bench dashboards
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

# pytest exits 5 when it collected nothing; make treats every non-zero exit as a failure.
unit: install system
	$(PY) -m pytest -q

test: lint check-generated unit

demo: install system
	$(PY) -m exporter.demo.run start

demo-stop: install
	$(PY) -m exporter.demo.run stop

# BENCH_ARGS=--quick for a smoke run; bench/README.md lists the options.
bench: install system
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
