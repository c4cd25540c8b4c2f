# The garment swap's own evaluation (closet_dev/eval_swap.py, docs/swap.md).
#   make eval-swap                 the built closet.mar on the package photos (+ bus/zidane when fetched)
#   make eval-swap PHOTOS=dir/     every image in dir/ instead (a judge's own photos)
#   make eval-swap-docs            eval-swap, and redraw docs/swap_grid.png (package photos)

PHOTOS ?=

.PHONY: eval-swap eval-swap-docs

eval-swap: venv weights mars ## hit / colour / detail / shape spread of the swap -> out/eval-swap/ (PHOTOS=dir for your own)
	$(PYTHON) -m closet_dev.eval_swap --out out/eval-swap $(if $(PHOTOS),--photos $(PHOTOS))

eval-swap-docs: venv weights mars ## eval-swap on the built-in set, and redraw docs/swap_grid.png
	$(PYTHON) -m closet_dev.eval_swap --out out/eval-swap --docs
