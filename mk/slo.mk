# SLO burn-rate alerts, generated from the SLO file the load test gates on.
#   make slo-rules         write monitoring/rules/slo.yml (closet_dev/slo_rules.py)
#   make slo-rules-check   fail when it differs from what `make slo-rules` writes
# Unit tests of the generated rules: monitoring/tests/slo.test.yml (`make rules-check`).

SLO_FILE ?= loadtest/slo.yaml

.PHONY: slo-rules slo-rules-check

slo-rules: venv ## generate monitoring/rules/slo.yml (multi-window burn-rate alerts) from $(SLO_FILE)
	$(PYTHON) -m closet_dev.slo_rules --slo $(SLO_FILE)

slo-rules-check: venv ## fail if monitoring/rules/slo.yml is not generated from $(SLO_FILE)
	$(PYTHON) -m closet_dev.slo_rules --slo $(SLO_FILE) --check
