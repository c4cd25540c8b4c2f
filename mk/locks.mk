# Lock files: requirements.lock (CPU torch from the PyTorch CPU index, everything else from PyPI;
# `make venv` and the CPU image install it) and requirements-gpu.lock (the same versions with
# PyPI's CUDA torch; the GPU image installs it). tests/infra/test_locks.py checks both offline.

.PHONY: lock-gpu lock-gpu-check

lock-gpu: venv ## regenerate requirements-gpu.lock from requirements.lock (asks PyPI, or PIP_INDEX_URL)
	$(PYTHON) tools/lock_gpu.py

lock-gpu-check: venv ## fail if requirements-gpu.lock differs from a fresh resolution (asks PyPI)
	$(PYTHON) tools/lock_gpu.py --check
