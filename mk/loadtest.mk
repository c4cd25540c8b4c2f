# Load testing (loadtest/): Locust against a running closet, an SLO gate, reports, the autoscaling check.
#   make loadtest           headless Locust against `make serve` (127.0.0.1:8080 from config/closet.yaml),
#                           shape $(LOADTEST_SHAPE); exits 1 and names the SLO when one is missed
#   make loadtest-report    PNG over time of the last run (users, RPS, p50/p95, failures, SLO lines)
#   make loadtest-capacity  stepped users, one short run each: highest load whose p95 meets the SLO
#   make autoscale-check    step load on a real TorchServe + Prometheus, the chart's HPA on the adapter
#                           query; desired replicas must rise and return to min -> docs/autoscale.png
# Reports go to loadtest/reports/ (git-ignored). Knobs below; LOADTEST_ARGS passes extra Locust options
# (e.g. --kserve-v2, --targets 'dress=3,coat=1', --reference-ratio 0.5).

LOADTEST_HOST ?= http://127.0.0.1:$(shell sed -n 's/^ *inference_port: *//p' config/closet.yaml)
LOADTEST_MODEL ?= closet
LOADTEST_SHAPE ?= step
LOADTEST_USERS ?= 4
LOADTEST_SECONDS ?= 120
# slo.yaml is the staging (GPU) SLO; this machine (2 shared cores, CPU) is judged by slo-local.yaml.
LOADTEST_SLO ?= loadtest/slo-local.yaml
LOADTEST_ARGS ?=
LOADTEST_REPORTS := loadtest/reports
LOADTEST_NAME ?= $(LOADTEST_SHAPE)
CAPACITY_USERS ?= 1 2 4 6
CAPACITY_SECONDS ?= 60
# The local check reads helm/closet/values.yaml with the CPU profile over it (this machine is a CPU
# pod): target 2 s mean queue time per request, 1..8 replicas. AUTOSCALE_TARGET=<seconds> overrides
# the target (e.g. for a busier or quieter machine) without touching the chart.
AUTOSCALE_VALUES ?= helm/closet/values-cpu.yaml
AUTOSCALE_TARGET ?=
AUTOSCALE_ARGS ?=

.PHONY: loadtest loadtest-report loadtest-capacity autoscale-check

loadtest: venv ## Locust (headless) against `make serve`; SLO gate from $(LOADTEST_SLO)
	@curl -fsS $(LOADTEST_HOST)/ping >/dev/null || { echo "no closet at $(LOADTEST_HOST): run 'make serve' first"; exit 1; }
	mkdir -p $(LOADTEST_REPORTS)
	$(BIN)/locust -f loadtest/locustfile.py --headless -H $(LOADTEST_HOST) --model $(LOADTEST_MODEL) \
	  --shape $(LOADTEST_SHAPE) --peak-users $(LOADTEST_USERS) --shape-seconds $(LOADTEST_SECONDS) --stop-timeout 300 \
	  --slo-file $(LOADTEST_SLO) --slo-junit $(LOADTEST_REPORTS)/slo-junit.xml \
	  --csv $(LOADTEST_REPORTS)/$(LOADTEST_NAME) --csv-full-history --html $(LOADTEST_REPORTS)/$(LOADTEST_NAME).html \
	  --only-summary $(LOADTEST_ARGS); status=$$?; \
	$(PYTHON) loadtest/report.py $(LOADTEST_REPORTS)/$(LOADTEST_NAME) --slo-file $(LOADTEST_SLO); exit $$status

loadtest-report: venv ## re-plot loadtest/reports/$(LOADTEST_NAME).png from the run's CSV history
	$(PYTHON) loadtest/report.py $(LOADTEST_REPORTS)/$(LOADTEST_NAME) --slo-file $(LOADTEST_SLO)

loadtest-capacity: venv ## constant-users runs ($(CAPACITY_USERS)) against `make serve`; table of RPS and p95
	$(PYTHON) loadtest/capacity.py --host $(LOADTEST_HOST) --model $(LOADTEST_MODEL) --users $(CAPACITY_USERS) \
	  --seconds $(CAPACITY_SECONDS) --slo-file $(LOADTEST_SLO) --reports $(LOADTEST_REPORTS)/capacity $(LOADTEST_ARGS)

autoscale-check: venv prometheus mars ## step load + real Prometheus + the chart's HPA math -> docs/autoscale.png
	$(PYTHON) tools/autoscale_check.py --out docs/autoscale.png $(foreach v,$(AUTOSCALE_VALUES),--values $(v)) $(if $(AUTOSCALE_TARGET),--target $(AUTOSCALE_TARGET)) --reports $(LOADTEST_REPORTS)/autoscale $(AUTOSCALE_ARGS)
