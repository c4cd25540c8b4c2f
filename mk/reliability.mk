# Reliability and security (issue 10): hostile input, properties, worker faults, soak.
#   make chaos   SIGKILL a worker under Locust load, then stop TorchServe under load (tools/chaos.py)
#   make soak    10-minute Locust soak at 70% of the measured max throughput: zero errors,
#                worker RSS growth <= 5% from minute 2 to the end (tools/soak.py)
#   make test-hostile   the hostile-input, security and property tests only
#   make bench-memory   peak RSS of each model's real TorchServe worker for batches up to
#                batch_size photos at limits.max_pixels, fitted to closet_dev/memory.py's formula
#                (tools/memory_peak.py; about 40 min on 2 cores, most of it the ensemble)
#   make bench-limits   the ensemble in-process on batch_size photos at limits.max_pixels: seconds per
#                stage and peak RSS against response_timeout_s (tools/bench_limits.py; minutes)
#   make metadata-pictures   docs/reliability/{icc,alpha}.png: what the answer keeps (tools/metadata_pictures.py)
# Both runs start their own TorchServe on free loopback ports from the built MARs.
# The hostile/property/security tests are part of `make test` (tests/serve/test_hostile*.py
# and tests/unit/test_properties.py).

CHAOS_MODEL ?= segmentation
CHAOS_USERS ?= 4
CHAOS_ARGS ?= --warmup 30 --after 60 --drain 0 10
SOAK_MODEL ?= closet
SOAK_MINUTES ?= 10
# Max throughput in req/s (e.g. from `make loadtest-capacity`); 0 = measure it first with a short probe.
SOAK_MAX_RPS ?= 0
SOAK_ARGS ?=
RELIABILITY_REPORTS := loadtest/reports

.PHONY: chaos soak test-hostile bench-memory bench-limits metadata-pictures

chaos: venv weights config mars ## kill a worker under Locust load, stop under load: failed/dropped requests, recovery s
	mkdir -p $(RELIABILITY_REPORTS)
	$(PYTHON) tools/chaos.py --model $(CHAOS_MODEL) --users $(CHAOS_USERS) $(CHAOS_ARGS) \
	  --json $(RELIABILITY_REPORTS)/chaos-$(CHAOS_MODEL).json

soak: venv weights config mars ## 10-min Locust soak at 70% of max throughput; zero errors, worker RSS growth <= 5%
	mkdir -p $(RELIABILITY_REPORTS)
	$(PYTHON) tools/soak.py --model $(SOAK_MODEL) --minutes $(SOAK_MINUTES) --max-rps $(SOAK_MAX_RPS) \
	  --json $(RELIABILITY_REPORTS)/soak-$(SOAK_MODEL).json $(SOAK_ARGS)

test-hostile: venv weights config mars ## hostile-input, security and property tests (real TorchServe)
	$(BIN)/pytest tests/serve/test_hostile.py tests/serve/test_hostile_security.py tests/unit/test_properties.py \
	  tests/unit/test_response_limit.py tests/serve/test_response_limit_serve.py $(PYTEST_ARGS)

MEMORY_ARGS ?=
bench-memory: venv weights config mars ## peak worker RSS at limits.max_pixels per model, fitted (closet_dev/memory.py)
	$(PYTHON) tools/memory_peak.py --json docs/reliability/memory-peak.json $(MEMORY_ARGS)

BENCH_TARGETS += bench-limits
bench-limits: venv weights config mars ## the ensemble on batch_size photos at max_pixels: seconds vs response_timeout_s, peak RSS
	$(PYTHON) tools/bench_limits.py

metadata-pictures: venv weights config mars ## docs/reliability/{icc,alpha}.png: the ICC profile and alpha kept
	$(PYTHON) tools/metadata_pictures.py
