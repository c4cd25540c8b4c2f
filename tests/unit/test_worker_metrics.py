"""The worker metrics port without TorchServe: two real processes stand in for two workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from closet.serving import worker_metrics

# One "worker": observes `n` stage timings through PipelineMetrics (as a handler does, with a
# TorchServe metric cache present), asks for the port, then stays alive until killed.
WORKER = textwrap.dedent(
    """
    import sys, time
    from closet.metrics import PipelineMetrics
    from closet.serving import worker_metrics

    class Cache:  # stands in for TorchServe's metric cache; the histogram never reaches it
        def get_metric(self, *a):
            raise AssertionError("not for the worker histogram")

    m = PipelineMetrics(Cache(), sys.argv[1])
    for _ in range(int(sys.argv[2])):
        m.stage("handler", 12.0)  # 12 s: above TorchServe's 10 s top bucket
    assert worker_metrics.serve_from_env()
    print("ready", flush=True)
    time.sleep(600)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def _count(text: str, model: str, le: str | None = None) -> float:
    if le is None:
        key = f'closet_stage_seconds_count{{model_name="{model}",stage="handler"}}'
    else:
        key = f'closet_stage_seconds_bucket{{le="{le}",model_name="{model}",stage="handler"}}'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(key))


def _wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError("condition not met")


@pytest.fixture
def workers(tmp_path):
    port = _free_port()
    env = {**os.environ, worker_metrics.DIR_ENV: str(tmp_path), worker_metrics.ADDRESS_ENV: f"127.0.0.1:{port}"}
    procs = []

    def start(model: str, n: int) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-c", WORKER, model, str(n)], env=env, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "ready"
        return p

    yield port, start
    for p in procs:  # only the processes this fixture started
        if p.poll() is None:
            p.kill()
        p.wait()


def test_one_port_serves_the_sum_over_workers_and_survives_the_server_dying(workers):
    port, start = workers
    first = start("segmentation", 3)
    text = _wait(lambda: _scrape(port), 10)
    second = start("segmentation", 2)  # cannot bind: retries in the background
    text = _wait(lambda: (t := _scrape(port)) and _count(t, "segmentation") == 5 and t, 10)
    # Every observation of 12 s lands above 10 s (where TorchServe's buckets end) and under 15 s.
    assert _count(text, "segmentation", "10.0") == 0 and _count(text, "segmentation", "15.0") == 5
    first.send_signal(signal.SIGKILL)
    first.wait()
    # The second worker takes the port over; the dead worker's 3 observations stay in the sum.
    text = _wait(lambda: _scrape(port), worker_metrics.RETRY_S + 10)
    assert _count(text, "segmentation") == 5
    assert second.poll() is None


def test_nothing_served_without_the_environment(monkeypatch):
    monkeypatch.delenv(worker_metrics.ADDRESS_ENV, raising=False)
    monkeypatch.delenv(worker_metrics.DIR_ENV, raising=False)
    assert worker_metrics.serve_from_env() is False


@pytest.mark.parametrize("bad", ["8083", ":8083", "host:", "host:http", "host:70000"])
def test_address_must_be_host_and_port(bad):
    with pytest.raises(ValueError, match=worker_metrics.ADDRESS_ENV):
        worker_metrics.parse_address(bad)
    assert worker_metrics.parse_address("0.0.0.0:8083") == ("0.0.0.0", 8083)
