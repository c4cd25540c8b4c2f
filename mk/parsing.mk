# Human parsing: the `parsing` MAR (entry in closet_dev/mar.py MARS) and its benchmark.
#   make mars MAR_MODELS=parsing                                  default: torso estimator (u2netp.pth)
#   make mars MAR_MODELS=parsing PARSER_CKPT=path/to/exp-schp-201908301523-atr.pth PARSER_DATASET=atr
#   make bench-parsing                                            SCHP 512x512 CPU latency, estimator latency, MAR size

.PHONY: bench-parsing parsing-mar

parsing-mar: config model-store/parsing.mar ## build model-store/parsing.mar (PARSER_CKPT/PARSER_DATASET for SCHP)

bench-parsing: venv weights ## SCHP (random weights) and torso-estimator latency on CPU -> out/bench-parsing.json
	$(PYTHON) tools/bench_parsing.py --runs $(or $(BENCH_RUNS),5)
