"""closet.host: the per-request host steps of a batch, side by side on the process's cores."""

from __future__ import annotations

import os
import threading
import time

import pytest

from closet import host


def test_threads_follow_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert host.threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "100000")
    assert host.threads() == len(os.sched_getaffinity(0))  # never more than the cores
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    assert host.threads() >= 1


def test_each_keeps_the_order_and_runs_side_by_side(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(host, "_pool", ThreadPoolExecutor(2))  # two threads, even on one core
    names = set()

    def step(x):
        names.add(threading.current_thread().name)
        time.sleep(0.05)  # releases the GIL, as OpenCV does
        return x * x

    assert host.each(step, list(range(6))) == [0, 1, 4, 9, 16, 25]
    assert len(names) == 2
    assert host.each(step, [3]) == [9] and threading.current_thread().name in names  # one item: no hop


def test_a_step_error_reaches_the_caller():
    def step(x):
        if x == 2:
            raise ValueError("bad request 2")
        return x

    with pytest.raises(ValueError, match="bad request 2"):
        host.each(step, [1, 2, 3])
