# The garment swap's own evaluation (closet_dev/eval_swap.py, docs/swap.md).
#   make eval-swap                 the built closet.mar on the package photos (+ bus/zidane when fetched)
#   make eval-swap PHOTOS=dir/     every image in dir/ instead (a judge's own photos)
#   make eval-swap-docs            eval-swap, and redraw docs/swap_grid.png (package photos)
#   make eval-variants             eval-swap on the package photos shot or cut otherwise (closet_dev/photo_variants.py)
#   make eval-portraits            eval-swap on six public-domain portraits (`make photos`; not built on them)
#   make elbow-visibility          the elbows pose reads near closet.body.ELBOW_SEEN on those scenes
#   make framings                  the evaluation photos cropped, scaled and turned at random (seeded): every
#                                  answer a swap that keeps the guarantee, or a 422 (closet_dev/framings.py);
#                                  PHOTOS=dir/ frames your own photos instead
#   make framings-docs             framings, and redraw docs/swap/framings.png (package photos)

PHOTOS ?=
FRAMINGS ?= 100
FRAMINGS_SEED ?= 0

.PHONY: eval-swap eval-swap-docs eval-variants eval-portraits eval-groups elbow-visibility framings framings-docs

eval-swap: venv weights mars ## hit / colour / detail / shape spread of the swap -> out/eval-swap/ (PHOTOS=dir for your own)
	$(PYTHON) -m closet_dev.eval_swap --out out/eval-swap $(if $(PHOTOS),--photos $(PHOTOS))

eval-swap-docs: venv weights mars ## eval-swap on the built-in set, and redraw docs/swap_grid.png
	$(PYTHON) -m closet_dev.eval_swap --out out/eval-swap --docs

eval-variants: venv weights mars ## eval-swap on the package photos smaller, darker, turned, cut... -> out/eval-variants/
	$(PYTHON) -m closet_dev.photo_variants --out out/variants
	$(PYTHON) -m closet_dev.eval_swap --photos out/variants --out out/eval-variants

eval-portraits: venv weights mars photos ## eval-swap on six official portraits of Biden and Obama (public domain) -> out/eval-portraits/
	$(PYTHON) -m closet_dev.eval_swap --photos $(PORTRAITS_DIR) --out out/eval-portraits

eval-groups: venv weights mars groups ## eval-swap on six group photos at parties, bare arms and legs (face-api's npm demo samples) -> out/eval-groups/
	$(PYTHON) -m closet_dev.eval_swap --photos $(GROUPS_DIR) --out out/eval-groups

elbow-visibility: venv weights mars ## the elbows pose reads near closet.body.ELBOW_SEEN on the evaluation scenes and their variants
	$(PYTHON) -m closet_dev.photo_variants --out out/variants
	$(PYTHON) tools/elbow_visibility.py --variants out/variants

framings: venv weights mars ## FRAMINGS random crops/scales/turns of the evaluation photos, every target: no crash, the guarantee kept -> out/framings/
	$(PYTHON) -m closet_dev.framings --count $(FRAMINGS) --seed $(FRAMINGS_SEED) --out out/framings $(if $(PHOTOS),--photos $(PHOTOS))

framings-docs: venv weights mars ## framings, and redraw docs/swap/framings.png
	$(PYTHON) -m closet_dev.framings --count $(FRAMINGS) --seed $(FRAMINGS_SEED) --out out/framings --docs
