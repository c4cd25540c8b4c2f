# Serving: generated TorchServe config, self-contained MARs, a local TorchServe.
#   make config   render config/config.properties, config/metrics.yaml, config/model-config/* and mk/mars.mk
#                 from config/closet.yaml and closet/stages (closet_dev/configgen.py)
#   make mars     build model-store/<name>.mar for every model
#   make serve    venv + weights + config + mars, then TorchServe on 127.0.0.1 until all models are READY
#   make stop     stop that TorchServe
# Archive inputs can be overridden (make mars STARGAN_CKPT=...): the variables are listed in mk/mars.mk,
# generated from the files each stage declares (closet/stages/*.py).

SERVE_LOGS ?= logs

.PHONY: config config-check mars serve stop bench-serve bench-translation

CONFIG_SOURCES := config/closet.yaml closet/config.py closet/metrics.py closet/archive.py closet_dev/configgen.py closet_dev/memory.py \
  closet_dev/mar.py $(wildcard closet/stages/*.py)

# configgen rewrites only the files whose text changed, so archives rebuild only on real changes.
config: $(CACHE)/config.stamp ## render TorchServe config files (and mk/mars.mk) from config/closet.yaml
$(CACHE)/config.stamp: $(CONFIG_SOURCES) | venv
	$(PYTHON) -m closet_dev.configgen
	@mkdir -p $(@D) && touch $@

config-check: venv ## fail if a generated config file differs from `make config` output
	$(PYTHON) -m closet_dev.configgen --check

# `make mars MAR_MODELS=segmentation` builds a subset.
MAR_MODELS ?= $(MAR_NAMES)
MARS = $(foreach n,$(MAR_MODELS),model-store/$(n).mar)
$(MARS): | venv config

mars: config $(MARS) ## build model-store/*.mar (only those whose inputs changed)

serve: venv weights config mars ## start TorchServe on 127.0.0.1 and wait until every model is READY
	$(PYTHON) -m closet_dev.launcher start --ts-config config/config.properties \
	  --model-store model-store --logs $(SERVE_LOGS)

stop: ## stop the TorchServe `make serve` started
	@if [ -x $(PYTHON) ]; then $(PYTHON) -m closet_dev.launcher stop --ts-config config/config.properties \
	  --model-store model-store --logs $(SERVE_LOGS); fi

bench-serve: venv weights config mars ## cold start and /predictions/segmentation latency at 320x320 (free ports)
	$(PYTHON) tools/bench_serve.py --model segmentation

bench-translation: venv weights config mars ## cold start and /predictions/translation latency, latent and reference (free ports)
	$(PYTHON) tools/bench_serve.py --model translation

TEST_DEPS += mars
