# StarGAN v2 demo model (Fashion-MNIST garments) and its judge. Not part of `make test`:
#   make train-demo        train the tiny StarGAN v2 (CPU, ~1 h on 2 shared cores) -> assets/stargan-fmnist/
#   make train-classifier  train the Fashion-MNIST CNN judge -> assets/fmnist-classifier/
#   make eval-demo         hit rates / diversity / confusion matrix, and docs/translation_grid.png
# A real checkpoint is served with `make mars STARGAN_CKPT=path/100000_nets_ema.ckpt STARGAN_META=path.json`.

FMNIST_DOMAINS := $(CACHE)/fmnist-domains
STARGAN_RUN ?= $(CACHE)/stargan-run
STARGAN_ASSETS := assets/stargan-fmnist
# Training knobs (defaults = the committed demo run).
STARGAN_STEPS ?= 3000
STARGAN_MAX_MINUTES ?= 55
# Warm start: STARGAN_INIT=assets/stargan-fmnist/nets_ema.ckpt continues the committed demo (fresh D).
STARGAN_INIT ?=
# Exact resume: STARGAN_RESUME=$(STARGAN_RUN)/train_state.pt (written at every save) continues a run
# with its discriminator, optimisers and schedules; STARGAN_STEPS then counts the extra steps, and
# hyperparameters not given in STARGAN_TRAIN_ARGS (e.g. lambda_ds, 0 since step 1,432) are the run's.
STARGAN_RESUME ?=
STARGAN_TRAIN_ARGS ?= --img-size 32 --dim-in 32 --max-conv-dim 128 --hidden-dim 128 --batch 16 \
  --lr 2e-4 --f-lr 1e-5 --alternate --threads 2 --save-every 250 --log-every 25
FMNIST_SOURCE := Debian dataset-fashion-mnist, train split, labels 0,2,3,4,6, 28->32 px bilinear

.PHONY: fmnist-data train-demo train-classifier eval-demo

fmnist-data: $(FMNIST_DOMAINS)/.complete ## Fashion-MNIST (apt dataset-fashion-mnist) as 5 garment domain folders
$(FMNIST_DOMAINS)/.complete: | venv
	test -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz || \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)
	$(PYTHON) -c "from closet_dev.train.data import export_domains; export_domains('$(FMNIST_DOMAINS)')"

train-demo: fmnist-data ## train the demo StarGAN v2 on Fashion-MNIST garments (long; writes assets/stargan-fmnist)
	$(PYTHON) -m closet_dev.train.trainer --data $(FMNIST_DOMAINS)/train --out $(STARGAN_RUN) \
	  --data-source "$(FMNIST_SOURCE)" --steps $(STARGAN_STEPS) --max-minutes $(STARGAN_MAX_MINUTES) $(STARGAN_TRAIN_ARGS) \
	  $(if $(STARGAN_INIT),--init-from $(STARGAN_INIT)) $(if $(STARGAN_RESUME),--resume $(STARGAN_RESUME))
	$(PYTHON) -m closet_dev.train.promote --run $(STARGAN_RUN) --out $(STARGAN_ASSETS) --samples $(FMNIST_DOMAINS)/test --debias-ema

train-classifier: fmnist-data ## train the Fashion-MNIST judge CNN (a few minutes) -> assets/fmnist-classifier
	$(PYTHON) -m closet_dev.train.classifier --out assets/fmnist-classifier

eval-demo: fmnist-data ## judge the demo checkpoint: hit rates, diversity, confusion matrix, docs/translation_grid.png
	$(PYTHON) -m closet_dev.train.eval --ckpt $(STARGAN_ASSETS)/nets_ema.ckpt --meta $(STARGAN_ASSETS)/meta.json \
	  --data $(FMNIST_DOMAINS)/test --out $(STARGAN_ASSETS)/eval --grid docs/translation_grid.png
