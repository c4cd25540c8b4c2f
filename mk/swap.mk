# The garment swap's own evaluation on package photos (closet_dev/eval_swap.py, docs/swap.md).

.PHONY: eval-swap eval-swap-docs

eval-swap: venv weights ## hit / colour / detail / shape spread of the shape render on package photos -> out/eval-swap/
	$(PYTHON) -m closet_dev.eval_swap --out out/eval-swap

eval-swap-docs: venv weights ## eval-swap, and redraw docs/swap_grid.png and docs/swap_demo/<photo>_<target>.png
	$(PYTHON) -m closet_dev.eval_swap --out out/eval-swap --grid docs/swap_grid.png --demo-dir docs/swap_demo
