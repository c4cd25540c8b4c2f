# Serving: generated TorchServe config, self-contained MARs, a local TorchServe.
#   make config   render config/config.properties, config/metrics.yaml, config/model-config/* from config/closet.yaml
#   make mars     build model-store/<name>.mar for every model whose handlers/<name>.py exists
#   make serve    venv + weights + config + mars, then TorchServe on 127.0.0.1 until all models are READY
#   make stop     stop that TorchServe
# MAR inputs can be overridden: U2NETP_WEIGHTS, U2NET_ARCH, PARSER_CKPT, PARSER_DATASET, STARGAN_CKPT, STARGAN_META
# (table: closet/mar.py MARS).

SERVE_LOGS ?= logs
export U2NETP_WEIGHTS U2NET_ARCH PARSER_CKPT PARSER_DATASET STARGAN_CKPT STARGAN_META

.PHONY: config config-check mars serve stop bench-serve bench-translation

CONFIG_SOURCES := config/closet.yaml closet/config.py closet/configgen.py closet/metrics.py
CONFIG_OUTPUTS := config/config.properties config/metrics.yaml \
  $(foreach m,segmentation parsing translation closet,config/model-config/$(m)-model-config.yaml)

config: $(CONFIG_OUTPUTS) ## render TorchServe config files from config/closet.yaml
$(CONFIG_OUTPUTS) &: $(CONFIG_SOURCES) | venv
	$(PYTHON) -m closet.configgen
	touch $(CONFIG_OUTPUTS)

config-check: venv ## fail if a generated config file differs from `make config` output
	$(PYTHON) -m closet.configgen --check

# Per-model MAR rules come from the one table in closet/mar.py (any python3 >= 3.11 can print them;
# -P keeps closet/ off sys.path so its modules cannot shadow the standard library).
MAR_COMMON_DEPS = $(shell find closet -name '*.py' -not -path '*/__pycache__/*') config/closet.yaml
$(CACHE)/mars.mk: closet/mar.py
	@mkdir -p $(CACHE)
	$(PY) -P closet/mar.py --makefile > $@.tmp && mv $@.tmp $@
include $(CACHE)/mars.mk

# `make mars MAR_MODELS=segmentation` builds a subset.
MAR_MODELS ?= $(MAR_NAMES)
MARS = $(foreach n,$(MAR_MODELS),$(if $(wildcard handlers/$(n).py),model-store/$(n).mar))
$(MARS): | venv

mars: config $(MARS) ## build model-store/*.mar (only those whose inputs changed)

serve: venv weights config mars ## start TorchServe on 127.0.0.1 and wait until every model is READY
	$(PYTHON) -m closet.serving.launcher start --ts-config config/config.properties \
	  --model-store model-store --logs $(SERVE_LOGS)

stop: ## stop the TorchServe `make serve` started
	@if [ -x $(PYTHON) ]; then $(PYTHON) -m closet.serving.launcher stop --ts-config config/config.properties \
	  --model-store model-store --logs $(SERVE_LOGS); fi

bench-serve: venv weights config mars ## cold start and /predictions/segmentation latency at 320x320 (free ports)
	$(PYTHON) tools/bench_serve.py --model segmentation

bench-translation: venv weights config mars ## cold start and /predictions/translation latency, latent and reference (free ports)
	$(PYTHON) tools/bench_serve.py --model translation

TEST_DEPS += mars
