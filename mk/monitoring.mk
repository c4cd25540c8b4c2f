# Observability: a local Prometheus with closet's rules, promtool checks, the dashboard snapshot.
#   make prometheus          install Debian's prometheus + promtool (idempotent, stamped)
#   make monitor             Prometheus on 127.0.0.1:$(MONITOR_PORT) scraping both metrics ports of `make serve`
#   make rules-check         promtool check + unit tests of monitoring/rules (also run by `make test`)
#   make dashboard-snapshot  load run -> docs/dashboard.png (real TorchServe + Prometheus data)
# Sources: monitoring/ (prometheus.yml template, rules/, tests/, grafana/closet.json); names: closet/metrics.py.

MONITOR_PORT ?= 9090
MONITOR_SCRAPE ?= 5s
MONITOR_DIR := $(CACHE)/prometheus
PROMETHEUS_STAMP := $(MONITOR_DIR)/.installed
SNAPSHOT_SECONDS ?= 90
# Built MARs the snapshot loads ("all", or a comma list); segmentation alone keeps a 2-core run readable.
SNAPSHOT_MODELS ?= segmentation

TEST_DEPS += prometheus

.PHONY: prometheus monitor rules-check dashboard-snapshot

prometheus: $(PROMETHEUS_STAMP) ## install prometheus + promtool (apt, once)
$(PROMETHEUS_STAMP):
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; fi
	prometheus --version 2>&1 | head -1
	mkdir -p $(@D) && touch $@

monitor: prometheus venv ## run Prometheus (foreground) on 127.0.0.1:$(MONITOR_PORT) scraping the local TorchServe
	$(PYTHON) -m closet_dev.monitoring config --scrape-interval $(MONITOR_SCRAPE) --out $(MONITOR_DIR)/prometheus.yml
	promtool check config $(MONITOR_DIR)/prometheus.yml
	@echo "Prometheus: http://127.0.0.1:$(MONITOR_PORT)  (rules: monitoring/rules; data: $(MONITOR_DIR)/data; Ctrl-C stops it)"
	exec prometheus --config.file=$(MONITOR_DIR)/prometheus.yml --storage.tsdb.path=$(MONITOR_DIR)/data \
	  --web.listen-address=127.0.0.1:$(MONITOR_PORT) --log.level=warn

rules-check: prometheus ## promtool check + unit tests of the recording/alert rules
	promtool check rules monitoring/rules/*.yml
	promtool test rules monitoring/tests/*.test.yml

dashboard-snapshot: prometheus venv config ## load run against real TorchServe+Prometheus, render docs/dashboard.png
	$(PYTHON) tools/dashboard_snapshot.py --seconds $(SNAPSHOT_SECONDS) --models $(SNAPSHOT_MODELS) --out docs/dashboard.png
