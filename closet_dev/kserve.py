"""Start, wait for and stop the KServe runtime (closet/kserve) like a TorchServe: `make serve RUNTIME=kserve`,
the tests' `server` fixture and the benchmarks.

    with ephemeral(workdir, [Path("model-store/closet.mar")]) as ks:
        requests.post(f"{ks.inference_url}/predictions/closet", data=photo)

KServeProcess is a closet_dev.launcher.Server: the KServe runtime answers the same /ping and the
same read-only management describe calls, so readiness, worker pids and `stop` (the process
group) work unchanged; only the command line and where the load failures are logged differ.
`ephemeral` yields the same session object as closet_dev.torchserve.ephemeral.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from closet import config as closet_config
from closet_dev.launcher import _LOAD_FAILED, SERVING_ENV, Server
from closet_dev.torchserve import START_TIMEOUT_S, TorchServeSession, free_ports, serving

LOG_FILE = "kserve.log"  # the server's stdout and stderr
PORTS = ("inference", "grpc", "management", "metrics", "worker_metrics")
# How TorchServe's workers are told to write and serve their own-bucket histograms (closet_dev.launcher).
WORKER_METRICS_ENV = ("PROMETHEUS_MULTIPROC_DIR", "CLOSET_WORKER_METRICS_ADDRESS")


@dataclass
class KServeProcess(Server):
    """`python -m closet.kserve` in its own process group, on the given ports."""

    grpc_port: int = 0
    bind: str = "127.0.0.1"
    extra_args: tuple[str, ...] = field(default=())
    pid_file: ClassVar[str] = "kserve.pid"
    label: ClassVar[str] = "the KServe runtime"
    out_name: ClassVar[str] = LOG_FILE

    @classmethod
    def on_ports(cls, ports: dict[str, int], model_store: str | Path, log_dir: str | Path,
                 bind: str = "127.0.0.1") -> KServeProcess:
        return cls(inference_url=f"http://{bind}:{ports['inference']}",
                   management_url=f"http://127.0.0.1:{ports['management']}",
                   metrics_url=f"http://{bind}:{ports['metrics']}", model_store=Path(model_store),
                   log_dir=Path(log_dir), worker_metrics_url=f"http://{bind}:{ports['worker_metrics']}",
                   grpc_port=ports["grpc"], bind=bind)

    @classmethod
    def from_config(cls, cfg: closet_config.ClosetConfig, model_store: str | Path, log_dir: str | Path) -> KServeProcess:
        s = cfg.server
        ports = {"inference": s.inference_port, "grpc": s.grpc_port, "management": s.management_port,
                 "metrics": s.metrics_port, "worker_metrics": s.worker_metrics_port}
        return cls.on_ports(ports, model_store, log_dir, s.bind)

    @property
    def grpc_target(self) -> str:
        return f"{self.bind}:{self.grpc_port}"

    def _port(self, url: str) -> str:
        return url.rsplit(":", 1)[1]

    def command(self) -> list[str]:
        """`python -m closet.kserve` with this object's store, ports and models."""
        cmd = [sys.executable, "-m", "closet.kserve", "--model-store", str(self.model_store),
               "--workdir", str((self.log_dir / "models").resolve()), "--bind", self.bind,
               "--inference-port", self._port(self.inference_url), "--grpc-port", str(self.grpc_port),
               "--management-port", self._port(self.management_url), "--metrics-port", self._port(self.metrics_url),
               "--worker-metrics-port", self._port(self.worker_metrics_url)]
        if self.load_models and "all" not in self.load_models:
            cmd += ["--models", *(Path(m).stem for m in self.load_models)]
        return cmd + list(self.extra_args)

    def start(self, ts_config: str | Path | None = None, extra_env: dict[str, str] | None = None) -> None:
        """Launch the server in a new session; `ts_config` is ignored (the ports are this object's)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in {**SERVING_ENV, **os.environ}.items() if k not in WORKER_METRICS_ENV}  # TorchServe's only
        env.update(extra_env or {})
        out_file = self.log_dir / LOG_FILE
        self._log_offset = out_file.stat().st_size if out_file.is_file() else 0
        with open(out_file, "ab") as out:
            self.proc = subprocess.Popen(self.command(), env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.pgid = self.proc.pid
        (self.log_dir / self.pid_file).write_text(str(self.pgid))

    def failed_models(self, attempts: int = 1) -> dict[str, str]:
        """Archives the server could not load (it logs TorchServe's "Load model failed" line, once)."""
        try:
            with open(self.log_dir / LOG_FILE, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return {}
        names = {m.group(1) for m in map(_LOAD_FAILED.search, text.splitlines()) if m}
        return {n: f"failed to load; see {self.log_dir}/{LOG_FILE}" for n in sorted(names)}


@contextmanager
def ephemeral(workdir: Path, mars: Sequence[Path], *, timeout: float = START_TIMEOUT_S, allow_failed: bool = False,
              wait: bool = True, extra_env: dict[str, str] | None = None, extra_args: Sequence[str] = (),
              session_class: type[TorchServeSession] = TorchServeSession) -> Iterator[TorchServeSession]:
    """Serve `mars` with the KServe runtime from a private store under `workdir` until the block ends.

    The same arguments and session as closet_dev.torchserve.ephemeral; the session's `server` is a
    KServeProcess (its `grpc_target` is the gRPC address). `extra_args` go to `python -m closet.kserve`
    after the generated ones (a repeated option wins).
    """
    store = Path(workdir) / "model-store"
    store.mkdir(parents=True, exist_ok=True)
    for mar in mars:
        shutil.copy2(mar, store / Path(mar).name)
    server = KServeProcess.on_ports(dict(zip(PORTS, free_ports(len(PORTS)))), store, Path(workdir) / "logs")
    server.load_models = tuple(Path(m).name for m in mars)
    server.extra_args = tuple(extra_args)
    with serving(server, None, mars, extra_env, timeout, allow_failed, wait, session_class, server.log_dir) as session:
        yield session
