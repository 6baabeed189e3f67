# taskops developer entry points. `make up` and `make test` work on a fresh machine
# with Python 3.11+ and Go; everything else is installed by these targets.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
# Linters that are not the project's dependencies, in a venv of their own (their dependencies never meet ours).
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-stamp
export PYTHONPATH := $(CURDIR):$(CURDIR)/operator

.PHONY: help venv controlplane browser shells realnode-deps up down lint unit integration test e2e chaos fuzz crds bench clean

help:
	@echo "make up      - local control plane + operator + example task (make down stops it)"
	@echo "make up NODE=real - the same with a real node (kubelet + containerd + runc; root; docs/realnode.md)"
	@echo "make test    - the whole suite: ruff, mypy, import contracts, CRD drift, chart lint (checkov), unit, integration and real-node tests (root)"
	@echo "make e2e     - the real-node tier: task containers that really run (root; docs/realnode.md)"
	@echo "make chaos   - the full chaos suite: 1,000 runs and 1,500 cron fires under operator SIGKILLs, apiserver restart, etcd pause (about 16 min on a quiet machine)"
	@echo "make fuzz    - schemathesis at its large budget: 300 examples per operation and mode, 300 linked sequences (7 to 12 minutes)"
	@echo "make crds    - regenerate crds/ from the models"
	@echo "make bench   - every benchmark, one table + bench/results/latest.{json,png} (about 20 minutes)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# NODE=real: also a real node beside the kwok nodes (docs/realnode.md).
NODE ?= kwok

controlplane: venv
	$(PY) -m devcluster build --node $(NODE)

# Headless Chromium and its driver for the web page's browser tests (tests/integration/test_ui.py).
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y chromium chromium-driver; \
	fi

# zsh, for the completion script's test (tests/integration/test_cli.py; bash is always there).
shells:
	@if [ ! -x /usr/bin/zsh ]; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y zsh; \
	fi

# The real node's runtime, from Debian (docs/realnode.md): containerd 1.6, runc, the CNI plugins (bridge,
# host-local, loopback), busybox-static for the images made here, iproute2 to remove the pods' bridge.
# buildah and mmdebstrap build the taskops image from the Dockerfile on a locally made base (make e2e).
REALNODE_PACKAGES := containerd runc containernetworking-plugins busybox-static iproute2 buildah mmdebstrap
realnode-deps:
	@if ! dpkg -s $(REALNODE_PACKAGES) >/dev/null 2>&1; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y $(REALNODE_PACKAGES); \
	fi

up: venv $(if $(filter real,$(NODE)),realnode-deps) controlplane
	$(PY) -m devcluster up --node $(NODE)

down: venv
	$(PY) -m devcluster down

crds: venv
	$(PY) -m taskops.crds

# checkov, exactly as requirements/tools.lock pins it (pip refuses a file whose hash differs; docs/operating.md).
$(TOOLS_STAMP): requirements/tools.lock
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/tools.lock
	touch $(TOOLS_STAMP)

lint: venv $(TOOLS_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(PY) -m taskops.crds --check
	$(PY) -m devcluster.chartlint --checkov $(TOOLS)/bin/checkov

unit: venv
	$(PY) -m pytest tests/unit tests/conformance -q

# The whole suite, the real-node tier included (root; docs/realnode.md): the control plane is built with the
# kubelet. pytest exits 5 when it collected nothing: that is a failure here, never a pass.
test: lint browser shells realnode-deps
	$(PY) -m devcluster build --node real
	TASKOPS_E2E=1 $(PY) -m pytest tests -q --durations=10; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The real-node tier alone (tests/realnode; make test runs it too): a real kubelet, containerd and runc. Needs root.
e2e: venv realnode-deps
	$(PY) -m devcluster build --node real
	TASKOPS_E2E=1 $(PY) -m pytest tests/realnode -q --durations=10; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The chaos suite at the issue's scale; `make test` runs it small. Counts go to bench/results/chaos.json.
chaos: venv controlplane
	TASKOPS_CHAOS=full $(PY) -m pytest tests/chaos -q -s; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# schemathesis at the large budget; `make test` runs it small (tests/integration/test_api_schema.py).
fuzz: venv controlplane
	TASKOPS_FUZZ=full $(PY) -m pytest tests/integration/test_api_schema.py -q -s; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Benchmarks are not tests: they print numbers next to a reference measured in the same run (docs/benchmarks.md).
# BENCH_ARGS=--quick for a smoke run; BENCH_ARGS=--only=writes,scale for some of them.
bench: venv controlplane $(BENCH_STAMP)
	$(PY) -m bench.report $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .devcluster test-output .pytest_cache .mypy_cache .ruff_cache
