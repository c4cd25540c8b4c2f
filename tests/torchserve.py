"""One real TorchServe for a whole pytest session (used through the `torchserve` fixture).

The fixture (tests/conftest.py) calls `start_session_server(tmp_dir)`, which:
  * copies every built model-store/*.mar into a private model store under tmp_dir
    (fail fast: a MAR that is missing is simply not served; tests skip via `require`),
  * renders a config.properties with closet.configgen.render_properties("local") on FREE
    loopback ports (inference, management, metrics and both gRPC ports),
  * starts `torchserve --foreground` in its own process group with logs, pid file and
    extracted models under tmp_dir, and waits until every linked model is READY.

API of the yielded `TorchServeSession` (tests take names and limits from closet.config, never literals):
    ts.inference_url / ts.management_url / ts.metrics_url   "http://127.0.0.1:<port>"
    ts.worker_metrics_url     the workers' own-bucket histograms (closet/serving/worker_metrics.py)
    ts.models                 sorted names of the models that are READY (= the MARs that exist)
    ts.failed                 {name: reason} of built MARs whose worker kept failing to load
    ts.config                 the closet.config.ClosetConfig the server was rendered from
    ts.log_dir                logs (ts_log.log, model_log.log, model_metrics.log, torchserve.out)
    ts.require(name)          URL of POST /predictions/<name>; pytest.skip (reason) when its MAR
                              is not built, pytest.fail when it is built but failed to load
    ts.predict(name, data=..., files=..., headers=..., timeout=...) -> requests.Response
    ts.describe(name) -> dict management describe (workers, batchSize, ...)
    ts.worker_pids(name) -> list[int]   PIDs of that model's workers (restart/crash checks)
    ts.metrics_text() -> str            GET /metrics on the metrics port
    ts.wait_ready(names, timeout)       wait again (e.g. after a worker was killed)
Handler unit tests (no TorchServe): `FakeContext(model_dir, headers=[...])` and
`load_handler_module(name)` import handlers/<name>.py.

The server is stopped (whole process group: frontend + workers, SIGTERM then SIGKILL) when the
session ends, also when the start failed halfway.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from closet import config as closet_config
from closet import configgen
from closet.serving.launcher import Server

REPO = closet_config.REPO_ROOT
MODEL_STORE = REPO / "model-store"
START_TIMEOUT_S = float(os.environ.get("CLOSET_TS_START_TIMEOUT", "600"))


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


def built_mars(store: Path = MODEL_STORE) -> list[str]:
    """Model names with a built .mar in `store`, among closet's models."""
    return sorted(n for n in closet_config.MODEL_NAMES if (store / f"{n}.mar").is_file())


@dataclass
class TorchServeSession:
    server: Server
    config: closet_config.ClosetConfig
    models: list[str]
    log_dir: Path
    failed: dict[str, str] = field(default_factory=dict)
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

    def require(self, name: str) -> str:
        if name in self.failed:
            pytest.fail(f"model-store/{name}.mar is built but did not load: {self.failed[name]}")
        if name not in self.models:
            pytest.skip(f"model-store/{name}.mar is not built (run `make mars`); TorchServe serves {self.models}")
        return f"{self.inference_url}/predictions/{name}"

    def predict(self, name: str, timeout: float = 120.0, **kwargs) -> requests.Response:
        """POST /predictions/<name>; kwargs go to requests (data=, files=, headers=)."""
        return self.http.post(self.require(name), timeout=timeout, **kwargs)

    def describe(self, name: str) -> dict:
        return self.server.describe(name)

    def worker_pids(self, name: str) -> list[int]:
        return self.server.worker_pids(name)

    @property
    def worker_metrics_url(self) -> str:
        return self.server.worker_metrics_url

    def metrics_text(self) -> str:
        r = self.http.get(f"{self.metrics_url}/metrics", timeout=10)
        r.raise_for_status()
        return r.text

    def wait_ready(self, names: list[str] | None = None, timeout: float = 120.0) -> list[str]:
        return self.server.wait_ready(names if names is not None else self.models, timeout=timeout)


def start_session_server(tmp_dir: Path, store: Path = MODEL_STORE) -> tuple[TorchServeSession | None, str]:
    """Start TorchServe on the built MARs; returns (session, "") or (None, skip reason).

    The caller must call `session.server.stop()` (the fixture does, in finally). On a failed start
    the server is stopped here and the error propagates.
    """
    models = built_mars(store)
    if not models:
        return None, f"no MAR in {store} (run `make mars`)"
    cfg = closet_config.load()
    own_store = tmp_dir / "model-store"
    own_store.mkdir(parents=True)
    for n in models:  # copies: a `make mars` during the session must not change what this server loads
        shutil.copy2(store / f"{n}.mar", own_store / f"{n}.mar")
    inf, mgmt, met, g1, g2, worker_met = free_ports(6)
    props = configgen.render_properties(
        cfg,
        "local",
        ports={"inference": inf, "management": mgmt, "metrics": met, "grpc_inference": g1, "grpc_management": g2},
        model_store=str(own_store),
        metrics_config=str(REPO / configgen.METRICS_CONFIG_PATH),
    )
    ts_config = tmp_dir / "config.properties"
    ts_config.write_text(props, encoding="utf-8")
    log_dir = tmp_dir / "logs"
    server = Server.from_properties(ts_config, own_store, log_dir, worker_metrics_port=worker_met)
    t0 = time.monotonic()
    server.start(ts_config)
    try:
        # One broken MAR must not take every other model's tests down: it is reported by require().
        ready = server.wait_ready(models, timeout=START_TIMEOUT_S, allow_failed=True)
    except BaseException:
        server.stop()
        raise
    failed = {n: why for n, why in server.failed_models().items() if n in models and n not in ready}
    session = TorchServeSession(server=server, config=cfg, models=ready, log_dir=log_dir, failed=failed)
    session.startup_s = time.monotonic() - t0  # type: ignore[attr-defined]
    return session, ""


# ---------------------------------------------------------------- handler unit tests (no TorchServe)
class FakeContext:
    """The parts of ts.context.Context a ClosetHandler uses, for handler unit tests.

    FakeContext(model_dir, headers=[{...}, ...]) ; after handle(): .status[idx], .content_type[idx],
    .headers_out[idx]. gpu_id None -> CPU. metrics None -> PipelineMetrics records into .recorded.
    """

    def __init__(self, model_dir: str | Path, headers: list[dict[str, str]] | None = None, gpu_id=None):
        self.system_properties = {"model_dir": str(model_dir), "gpu_id": gpu_id}
        self.manifest = {"model": {}}
        self.metrics = None
        self.request_headers = headers or []
        self.status: dict[int, tuple[int, str]] = {}
        self.content_type: dict[int, str] = {}
        self.headers_out: dict[int, dict[str, str]] = {}

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return self.request_headers[idx] if idx < len(self.request_headers) else {}

    def get_request_header(self, idx: int, key: str):
        return self.get_all_request_header(idx).get(key)

    def get_request_id(self, idx: int = 0) -> str:
        return f"req-{idx}"

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.status[idx] = (code, phrase)

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.content_type[idx] = value

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self.headers_out.setdefault(idx, {})[key] = value


def load_handler_module(name: str):
    """Import handlers/<name>.py (handlers/ is not a package) as module `closet_handler_<name>`."""
    import importlib.util

    path = REPO / "handlers" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"closet_handler_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
