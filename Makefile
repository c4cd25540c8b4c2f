# closet: `make serve` builds everything and serves the ensemble; `make test` runs the test suite.
# Each area keeps its targets in mk/<area>.mk; this file holds the shared setup.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
PYTHON := $(BIN)/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)
CACHE := .cache
# pip retries per index request. The lock names the PyTorch CPU index; where that host cannot be
# reached (a mirror-only network, or this build machine, which has the wheel locally), each package
# would otherwise cost pip's default 5 retries (~9 s) before pip skips the index.
PIP_RETRIES ?= 1

# Targets `make test` needs before pytest runs; each mk/*.mk appends its own.
TEST_DEPS := venv
# pytest marker expression of the fast suite (`slow`, `soak` and `gpu` run in their own targets).
TEST_MARKERS ?= not slow and not soak and not gpu

.PHONY: help venv test test-gpu unit clean
help: ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv with the pinned dependencies
$(STAMP): requirements.lock pyproject.toml
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --retries $(PIP_RETRIES) -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

include $(sort $(wildcard mk/*.mk))

test: $(TEST_DEPS) ## run the fast test suite: tests/unit, tests/serve (real TorchServe), tests/infra (helm, CI, Prometheus, Locust)
	$(BIN)/pytest -m "$(TEST_MARKERS)" $(PYTEST_ARGS)

unit: venv weights ## only the pure tests (tests/unit): no server, no network; about 2 minutes
	$(BIN)/pytest -m "$(TEST_MARKERS)" tests/unit $(PYTEST_ARGS)

test-gpu: venv weights ## the gpu-marked tests: each CUDA path against the CPU's answer (docs/gpu.md); each skips without CUDA
	$(BIN)/pytest -m gpu tests/unit $(PYTEST_ARGS)

clean: ## remove build outputs (keeps .venv)
	rm -rf model-store/*.mar out/ $(CACHE)/build
