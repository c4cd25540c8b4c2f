# The KServe runtime (closet/kserve): the same MARs on KServe's Python model server.
#   make serve RUNTIME=kserve   serve them on the ports of config/closet.yaml (mk/serve.mk)
#   make bench-runtimes         TorchServe and KServe side by side, measured in one run (part of `make bench`)
.PHONY: bench-runtimes

bench-runtimes: venv weights config mars ## TorchServe vs KServe runtime: HTTP p50, HTTP/in-process, batch gain c=8, cold start (JSON in out/bench/runtimes.json)
	mkdir -p out/bench
	$(PYTHON) tools/bench_ensemble.py --runtime both --json out/bench/runtimes.json

BENCH_TARGETS += bench-runtimes
