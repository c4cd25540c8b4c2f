# Human parsing: the `parsing` MAR (its files come from closet/stages/parse.py) and its benchmark.
#   make mars MAR_MODELS=parsing                                  default: pose-garment (BlazePose + U^2-Net-P)
#   make mars MAR_MODELS=parsing PARSER_CKPT=path/to/exp-schp-201908301523-atr.pth PARSER_DATASET=atr
#   make bench-parsing      segmentation, pose detect and pose-garment parse p50 side by side; SCHP 512x512
#   make parsing-docs       docs/parsing/pose_garment.png from the built parsing.mar

.PHONY: bench-parsing parsing-mar parsing-docs

parsing-mar: config model-store/parsing.mar ## build model-store/parsing.mar (PARSER_CKPT/PARSER_DATASET for SCHP)

bench-parsing: venv weights ## segmentation vs pose-garment parse p50, SCHP (random weights) on CPU -> out/bench-parsing.json
	$(PYTHON) tools/bench_parsing.py --runs $(or $(BENCH_RUNS),5)

parsing-docs: venv weights mars ## docs/parsing/pose_garment.png: the pose-garment masks on the package photos
	$(PYTHON) -m closet_dev.parsing_pictures
