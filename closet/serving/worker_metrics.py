"""The worker metrics port: closet's own-bucket histograms (closet.metrics, `buckets` set) over HTTP.

TorchServe 0.12 cannot export a histogram with chosen buckets, so closet's workers write those
histograms with prometheus_client in multiprocess mode: every worker process of the server
appends to files in $PROMETHEUS_MULTIPROC_DIR, and one of them serves the sum over all of them
at $CLOSET_WORKER_METRICS_ADDRESS (`host:port`). Which worker serves does not matter: each one
tries to bind the port, the first wins, the others retry every RETRY_S seconds, so when the
serving worker dies (TorchServe restarts it) another one, or its restart, takes the port over.

Both variables are set by whoever starts TorchServe (closet_dev.launcher locally, the Helm
chart in Kubernetes); TorchServe passes its environment on to the workers. With either unset
nothing is served: unit tests and other deployments run the handlers unchanged.
"""

from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger(__name__)

ADDRESS_ENV = "CLOSET_WORKER_METRICS_ADDRESS"
DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable
# Seconds between a non-serving worker's attempts to take the port over.
RETRY_S = 5.0

_started = threading.Event()  # one server thread per process, however many handlers initialise


def parse_address(address: str) -> tuple[str, int]:
    """`host:port` -> (host, port); raises ValueError on anything else."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{ADDRESS_ENV} must be host:port, got {address!r}")
    return host, int(port)


def serve_from_env() -> bool:
    """Start (once per process) the background thread that serves the multiprocess histograms.

    Returns True when the environment asks for the port (the thread runs), False otherwise.
    """
    address, directory = os.environ.get(ADDRESS_ENV), os.environ.get(DIR_ENV)
    if not address or not directory:
        return False
    host, port = parse_address(address)
    if not _started.is_set():
        _started.set()
        threading.Thread(target=_serve_forever, args=(host, port), name="closet-worker-metrics", daemon=True).start()
    return True


def _serve_forever(host: str, port: int) -> None:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # sums every worker's files, dead workers' included
    while True:
        try:
            start_http_server(port, addr=host, registry=registry)  # its own daemon thread
        except OSError:  # another worker of this server holds the port
            time.sleep(RETRY_S)
            continue
        log.info("worker metrics: serving %s:%d (pid %d)", host, port, os.getpid())
        return
