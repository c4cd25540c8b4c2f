"""The host's cores for the per-request steps of a batch (parse geometry, composite).

One thread pool per process, one thread per core this process may use. OpenCV, NumPy and ISA-L
release the GIL, so the requests of a batch run side by side; on CUDA these host steps are most of
a request (docs/gpu.md). Decode and encode stay serial: they share cached LittleCMS transforms,
which are not safe to use from two threads at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def threads() -> int:
    """The cores this process may use, at most OMP_NUM_THREADS when that is set (a container's CPU
    limit does not shrink the affinity mask; the chart's `env` sets OMP_NUM_THREADS for the networks)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    omp = os.environ.get("OMP_NUM_THREADS", "")
    return min(cores, int(omp)) if omp.isdigit() and int(omp) > 0 else cores


def pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=threads(), thread_name_prefix="closet-host")
        return _pool


def each(step: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """[step(x) for x in items], side by side when there are several; a step's exception is raised here."""
    if len(items) < 2:
        return [step(x) for x in items]
    return list(pool().map(step, items))
