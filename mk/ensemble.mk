# The closet ensemble: demo images and benchmarks.
#   make demo            astronaut photo -> out/astronaut_<target>.png for every domain (starts `make serve` if needed)
#   make bench-ensemble  in-process vs HTTP, ensemble vs 3-endpoint chain, batchSize 4 vs 1, cold start
#                        (temporary TorchServe; RUNTIME=kserve: the KServe runtime)
#   make bench           every benchmark: each area appends its target to BENCH_TARGETS
.PHONY: demo demo-docs bench bench-ensemble

DEMO_OUT ?= out

demo: serve ## astronaut photo through the running TorchServe -> out/astronaut_<target>.png per domain
	$(PYTHON) tools/demo.py --out $(DEMO_OUT)

demo-docs: serve ## as demo, and refresh the small copies committed under docs/demo/
	$(PYTHON) tools/demo.py --out $(DEMO_OUT) --docs docs/demo

bench-ensemble: venv weights config mars ## ensemble benchmark on RUNTIME (torchserve; kserve) (prints; JSON in out/bench/)
	mkdir -p out/bench
	$(PYTHON) tools/bench_ensemble.py --runtime $(RUNTIME) --json out/bench/ensemble-$(RUNTIME).json

# Targets from other mk/*.mk files append later in the include order, so the prerequisite list
# is expanded a second time when `bench` runs. Listing a target twice runs it once.
# The bench-* targets of other areas that existed when this was written are listed here too.
BENCH_TARGETS += bench-ensemble bench-serve bench-translation bench-parsing bench-u2net
.SECONDEXPANSION:
bench: $$(BENCH_TARGETS) ## run every benchmark target (BENCH_TARGETS)

.PHONY: bench-precision
bench-precision: venv weights mars ## bf16/fp16 against fp32 (U^2-Net-P masks, p50) on the package photos, or why the device refuses them
	$(PYTHON) tools/bench_precision.py --json out/bench/precision.json

BENCH_TARGETS += bench-precision

.PHONY: bench-gpu
bench-gpu: venv weights mars ## the GPU profile: networks at batch 1/4/8 in fp32/tf32/fp16/bf16, the ensemble on CUDA (docs/gpu.md); exits 0 without CUDA
	$(PYTHON) tools/bench_gpu.py --json out/bench/gpu.json

BENCH_TARGETS += bench-gpu
