# The two commands a newcomer needs: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
# uv as a module of the machine's python3, so it is found wherever pip put it.
UV := python3 -m uv
RUN := $(UV) run --frozen

.PHONY: install tools promtool run test test-unit test-integration test-e2e lint format schemas bench drills report clean

install:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --quiet --compile-bytecode

# kcat (Debian's Kafka client in C): the contract test reads a review task with a non-Python client.
tools:
	@command -v kcat >/dev/null 2>&1 || { \
	  export DEBIAN_FRONTEND=noninteractive; SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y -qq kcat >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq kcat >/dev/null; }; }

# promtool, for the alert-rule tests of deploy/k8s (tests/unit/deploy): Debian's prometheus
# package, downloaded and unpacked under .devstack/tools (nothing installed, no server started).
PROMTOOL := .devstack/tools/prometheus/usr/bin/promtool
promtool: $(PROMTOOL)
$(PROMTOOL):
	@mkdir -p .devstack/tools && cd .devstack/tools && rm -f prometheus_*.deb && \
	  { apt-get download -qq prometheus >/dev/null 2>&1 || \
	    { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -qq && \
	      apt-get download -qq prometheus >/dev/null; }; } && \
	  dpkg-deb -x prometheus_*.deb prometheus && rm -f prometheus_*.deb

run: install ## start the whole pipeline on the embedded broker and PostgreSQL
	$(RUN) python -m devstack

test: install tools promtool ## unit, integration and e2e tests against a real broker and PostgreSQL
	$(RUN) pytest

test-unit: install promtool
	$(RUN) pytest tests/unit

test-integration: install tools
	$(RUN) pytest tests/integration

test-e2e: install
	$(RUN) pytest tests/e2e

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy shared services devstack

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

bench: install ## each service against its target, then the whole pipeline end to end (bench e2e)
	$(RUN) python -m bench

report: install ## operations report as HTML (REPORT_ARGS="--since 2026-01-01 --until 2026-01-08 [--incident] [--out f.html]")
	$(RUN) python -m opsreport $(REPORT_ARGS)

drills: install ## failures under load: kills, PostgreSQL outage, rebalance, scaling, poison
	$(RUN) python -m bench.drills

schemas: install ## re-export the committed JSON Schemas of the events
	$(RUN) python -m shared.events.export

clean:
	rm -rf .devstack .bench
