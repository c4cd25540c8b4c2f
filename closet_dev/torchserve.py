"""One ephemeral TorchServe: MARs and a config in, base URLs out, stopped and cleaned up on exit.

    with ephemeral(workdir, [Path("model-store/closet.mar")]) as ts:
        requests.post(f"{ts.inference_url}/predictions/closet", data=photo)

Tests (the session fixture), benchmarks, chaos, soak and the monitoring checks all start their
servers here. The MARs are copied into `workdir/model-store` (a `make mars` during the run does not
change what this server loads), config.properties is rendered on free loopback ports (the `local`
variant of config/closet.yaml, or whatever `properties(ports, store)` returns; `load_models` lists exactly
the archives given; the workers' own-bucket histograms get a free port too), TorchServe runs in its
own process group with logs under `workdir/logs`, and the group is stopped (SIGTERM, then SIGKILL)
when the block ends, also when the start failed halfway.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from closet import config as closet_config
from closet_dev import configgen
from closet_dev.launcher import Server

REPO = closet_config.REPO_ROOT
MODEL_STORE = REPO / "model-store"
START_TIMEOUT_S = float(os.environ.get("CLOSET_TS_START_TIMEOUT", "600"))
PORT_NAMES = ("inference", "management", "metrics", "grpc_inference", "grpc_management")

# (ports by PORT_NAMES, model store) -> config.properties text
Properties = Callable[[dict[str, int], Path], str]


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def built_mars(store: Path = MODEL_STORE, names: Sequence[str] = closet_config.MODEL_NAMES) -> list[Path]:
    """The built archives among `names` in `store`."""
    return [store / f"{n}.mar" for n in names if (store / f"{n}.mar").is_file()]


def local_properties(variant: str = "local") -> Properties:
    """config.properties of one configgen variant, on the given ports and store (loopback only)."""

    def render(ports: dict[str, int], store: Path) -> str:
        text = configgen.render_properties(closet_config.load(), variant, ports=ports, model_store=str(store),
                                           metrics_config=str(REPO / configgen.METRICS_CONFIG_PATH))
        return text.replace("0.0.0.0", "127.0.0.1")

    return render


@dataclass
class TorchServeSession:
    """A running ephemeral TorchServe."""

    server: Server
    models: list[str]  # names READY at start
    failed: dict[str, str]  # name -> why, for archives whose worker kept failing to load
    log_dir: Path
    startup_s: float
    http: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def inference_url(self) -> str:
        return self.server.inference_url

    @property
    def management_url(self) -> str:
        return self.server.management_url

    @property
    def metrics_url(self) -> str:
        return self.server.metrics_url

    @property
    def worker_metrics_url(self) -> str | None:
        """The workers' own-bucket histograms (closet/serving/worker_metrics.py)."""
        return self.server.worker_metrics_url

    def url(self, name: str) -> str:
        return f"{self.inference_url}/predictions/{name}"

    def predict(self, name: str, timeout: float = 120.0, **kwargs) -> requests.Response:
        """POST /predictions/<name>; kwargs go to requests (data=, files=, headers=)."""
        return self.http.post(self.url(name), timeout=timeout, **kwargs)

    def describe(self, name: str) -> dict:
        return self.server.describe(name)

    def worker_pids(self, name: str) -> list[int]:
        return self.server.worker_pids(name)

    def metrics_text(self) -> str:
        r = self.http.get(f"{self.metrics_url}/metrics", timeout=10)
        r.raise_for_status()
        return r.text

    def wait_ready(self, names: list[str] | None = None, timeout: float = 120.0) -> list[str]:
        return self.server.wait_ready(names if names is not None else self.models, timeout=timeout)


@contextmanager
def ephemeral(workdir: Path, mars: Sequence[Path], *, properties: Properties | None = None,
              timeout: float = START_TIMEOUT_S, allow_failed: bool = False, wait: bool = True,
              extra_env: dict[str, str] | None = None,
              session_class: type[TorchServeSession] = TorchServeSession) -> Iterator[TorchServeSession]:
    """Serve `mars` from a private store under `workdir` until the block ends.

    Args:
        workdir: an empty folder for the store, the config and the logs.
        mars: archives to serve (copied).
        properties: renders config.properties from (ports, store); default: the local variant.
        allow_failed: report archives that fail to load in `session.failed` instead of raising.
        wait: wait until every archive is READY (False: yield as soon as the process started).
        session_class: a TorchServeSession subclass to yield (e.g. with test helpers).
    """
    store = Path(workdir) / "model-store"
    store.mkdir(parents=True, exist_ok=True)
    for mar in mars:
        shutil.copy2(mar, store / Path(mar).name)
    *port_numbers, worker_metrics_port = free_ports(len(PORT_NAMES) + 1)
    ports = dict(zip(PORT_NAMES, port_numbers))
    ts_config = Path(workdir) / "config.properties"
    text = (properties or local_properties())(ports, store)
    # Exactly the archives given, whatever the variant lists.
    load = "load_models=" + ",".join(Path(m).name for m in mars)
    text = "\n".join(load if ln.startswith("load_models=") else ln for ln in text.splitlines()) + "\n"
    ts_config.write_text(text, encoding="utf-8")
    log_dir = Path(workdir) / "logs"
    server = Server.from_properties(ts_config, store, log_dir, worker_metrics_port=worker_metrics_port)
    with serving(server, ts_config, mars, extra_env, timeout, allow_failed, wait, session_class, log_dir) as session:
        yield session


@contextmanager
def serving(server, config: Path | None, mars: Sequence[Path], extra_env: dict[str, str] | None, timeout: float,
            allow_failed: bool, wait: bool, session_class: type[TorchServeSession], log_dir: Path
            ) -> Iterator[TorchServeSession]:
    """Start `server` (either runtime), wait for the models of `mars` unless not `wait`, yield the
    session; the server stops when the block ends, whatever happened."""
    t0 = time.monotonic()
    server.start(config, extra_env)
    try:
        names = [Path(m).stem for m in mars]
        ready = server.wait_ready(names, timeout=timeout, allow_failed=allow_failed) if wait else []
        failed = {n: why for n, why in server.failed_models().items() if n in names and n not in ready}
        yield session_class(server, ready, failed, log_dir, time.monotonic() - t0)
    finally:
        server.stop()
