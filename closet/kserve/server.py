"""Assemble and run the KServe runtime: `python -m closet.kserve [--model-store DIR] ...`.

One process, on the ports of config/closet.yaml (`server`), the same plan as TorchServe's:

    inference   <bind>:inference_port    KServe REST (v1, v2, /metrics) + closet's /predictions, /ping
    gRPC v2     <bind>:grpc_port         KServe's GRPCInferenceService
    management  127.0.0.1:management_port read-only describe (closet/kserve/manage.py), never public
    metrics     <bind>:metrics_port      Prometheus: closet's metrics, TorchServe's frontend counters, KServe's
    metrics     <bind>:worker_metrics_port  closet's own-bucket histograms (as TorchServe's workers serve them;
                                         the same port as metrics_port puts everything on one)

The configuration is the archives' packed config/closet.yaml (or $CLOSET_CONFIG), as for a
TorchServe worker; `bind` is its server.bind (127.0.0.1) unless --bind says otherwise (the Helm
chart: 0.0.0.0), and --*-port override its ports (the chart's values, the tests' free ports). Every
built archive in the model store is extracted under --workdir, checked and loaded before the
ports open; an archive that fails to load is logged ("Load model failed: <name>, error: ...", the
line TorchServe's frontend writes too) and left out, the others are served.

KServe's ModelServer binds REST and gRPC to every interface (0.0.0.0, [::]); the subclasses here
differ from it only in the address. SIGTERM/SIGINT stop the REST server gracefully (in-flight
requests finish), then gRPC, the management server and the batchers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import prometheus_client
import uvicorn
from grpc import aio
from kserve import ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.rest.server import RESTServer
from kserve.protocol.rest.v2_endpoints import V2Endpoints

from closet import config as closet_config
from closet.config import MODEL_NAMES
from closet.kserve.archive import code_drift, extract
from closet.kserve.manage import management_app
from closet.kserve.metrics import ClosetSink, FrontendCounters
from closet.kserve.model import ClosetModel
from closet.kserve.rest import BodyLimit, ClosetRoutes, StatusCounter
from closet.serving.handler import select_device

log = logging.getLogger("closet.kserve")
MANAGEMENT_BIND = "127.0.0.1"  # as in every TorchServe variant (closet_dev/configgen.py)


@dataclass(frozen=True)
class Ports:
    inference: int
    grpc: int
    management: int
    metrics: int
    worker_metrics: int

    @classmethod
    def of(cls, server: closet_config.ServerConfig, **overrides: int | None) -> Ports:
        base = {"inference": server.inference_port, "grpc": server.grpc_port,
                "management": server.management_port, "metrics": server.metrics_port,
                "worker_metrics": server.worker_metrics_port}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


class ClosetRESTServer(RESTServer):
    """KServe's REST server on `bind`, with closet's routes first, its error handlers and middlewares last."""

    def __init__(self, *args, routes: ClosetRoutes, bind: str, max_request_size: int,
                 frontend: FrontendCounters, **kwargs):
        super().__init__(*args, **kwargs)
        self.config.host = bind
        self.routes = routes
        self.max_request_size = max_request_size
        self.frontend = frontend

    def _register_endpoints(self, app):
        self.routes.register(app, V2Endpoints(self.dataplane, self.model_repository_extension))
        super()._register_endpoints(app)

    def _add_exception_handlers(self, app):
        super()._add_exception_handlers(app)
        self.routes.add_exception_handlers(app)

    def _add_middlewares(self, app):
        super()._add_middlewares(app)
        app.add_middleware(BodyLimit, max_bytes=self.max_request_size)
        app.add_middleware(StatusCounter, frontend=self.frontend)  # outermost: counts the 413s too


class ClosetGRPCServer(GRPCServer):
    """KServe's gRPC server (its servicer and interceptors) on `bind` instead of [::]."""

    def __init__(self, bind: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bind = bind

    async def start(self, max_workers):
        self._server = aio.server(
            ThreadPoolExecutor(max_workers=max_workers),
            interceptors=(LoggingInterceptor(), ExceptionToStatusInterceptor()),
            options=[("grpc.max_send_message_length", self._kwargs["grpc_max_send_message_length"]),
                     ("grpc.max_receive_message_length", self._kwargs["grpc_max_receive_message_length"])],
        )
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self._data_plane, self._model_repository_extension), self._server)
        self._server.add_insecure_port(f"{self.bind}:{self._port}")
        log.info("gRPC v2 on %s:%d", self.bind, self._port)
        await self._server.start()
        await self._server.wait_for_termination()


class _Collected:
    """Another registry's metrics, collected into the default registry."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


class _Unsignalled(uvicorn.Server):
    """A uvicorn server that leaves SIGTERM/SIGINT to the REST server (one handler per process)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class ClosetModelServer(ModelServer):
    """kserve.ModelServer with closet's REST and gRPC servers, a management and a metrics port."""

    def __init__(self, cfg: closet_config.ClosetConfig, bind: str, ports: Ports):
        super().__init__(http_port=ports.inference, grpc_port=ports.grpc, enable_grpc=True, enable_docs_url=False)
        self.cfg = cfg
        self.bind = bind
        self.ports = ports

    def start(self, models: list[ClosetModel]) -> None:
        self._register_and_check_atleast_one_model_is_ready(models)
        served = {m.name: m for m in models}
        frontend = next(m.frontend for m in models)
        s = self.cfg.server
        self._rest_server = ClosetRESTServer(
            FASTAPI_APP_IMPORT_STRING, self.dataplane, self.model_repository_extension, self.http_port,
            access_log_format=self.access_log_format, grace_period=self.grace_period,
            timeout_keep_alive=self.timeout_keep_alive, routes=ClosetRoutes(served), bind=self.bind,
            max_request_size=s.max_request_size, frontend=frontend)
        self._grpc_server = ClosetGRPCServer(
            self.bind, self.grpc_port, self.dataplane, self.model_repository_extension,
            kwargs={"grpc_max_send_message_length": s.max_response_size,
                    "grpc_max_receive_message_length": s.max_request_size},
            grace_period=self.grace_period)
        management = _Unsignalled(uvicorn.Config(management_app(served), host=MANAGEMENT_BIND,
                                                 port=self.ports.management, log_config=None, access_log=False))
        sink = next(m.sink for m in models)
        if self.ports.worker_metrics == self.ports.metrics:  # one scrape port (KServe's scraping reads one)
            prometheus_client.REGISTRY.register(_Collected(sink.worker_registry))
        else:
            prometheus_client.start_http_server(self.ports.worker_metrics, addr=self.bind,
                                                registry=sink.worker_registry)
        prometheus_client.start_http_server(self.ports.metrics, addr=self.bind)
        # After uvicorn's graceful stop it re-raises the signal it caught: land in a no-op, then clean up.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        asyncio.run(self._serve_all(models, management))

    async def _serve_all(self, models: list[ClosetModel], management: uvicorn.Server) -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=self.max_asyncio_workers or 8))
        others = [asyncio.create_task(self._grpc_server.start(self.max_threads)),
                  asyncio.create_task(management.serve())]
        log.info("closet on KServe %s: REST %s:%d, gRPC %s:%d, management %s:%d, metrics %s:%d and :%d; models %s",
                 _kserve_version(), self.bind, self.ports.inference, self.bind, self.ports.grpc, MANAGEMENT_BIND,
                 self.ports.management, self.bind, self.ports.metrics, self.ports.worker_metrics,
                 ", ".join(m.name for m in models))
        try:
            await self._rest_server.start()  # returns after SIGTERM/SIGINT, once in-flight requests are done
        finally:
            management.should_exit = True
            await self._grpc_server.stop()
            for m in models:
                if m.batcher is not None:
                    await m.batcher.close()
            await asyncio.gather(*others, return_exceptions=True)
            log.info("closet on KServe stopped")


def _kserve_version() -> str:
    from importlib.metadata import version

    return version("kserve")


def load_models(store: Path, names: list[str], workdir: Path, device) -> list[ClosetModel]:
    """Extract, check and load each archive; one that fails is logged and left out."""
    sink, frontend = ClosetSink(), FrontendCounters()
    models = []
    for name in names:
        t0 = time.monotonic()
        try:
            archive = extract(store / f"{name}.mar", workdir)
            drift = code_drift(archive)
            if drift:
                log.warning("%s.mar was built from other closet sources than this process runs (%s); "
                            "rebuild it with `make mars`", name, ", ".join(drift[:5]))
            model = ClosetModel(archive, device, sink, frontend)
            model.load()
        except Exception as e:  # noqa: BLE001 (one broken archive must not take the others down)
            log.error("Load model failed: %s, error: %s", name, e, exc_info=True)
            continue
        log.info("%s READY in %.1f s", name, time.monotonic() - t0)
        models.append(model)
    return models


def parse_device(value: str):
    """auto (the first CUDA device when there is one), cpu, cuda or cuda:N."""
    import torch

    if value == "auto":
        return select_device(0 if torch.cuda.is_available() else None)
    return torch.device(value)


def build_parser() -> argparse.ArgumentParser:
    """The command line (the Helm chart's container args are checked against it)."""
    ap = argparse.ArgumentParser(prog="python -m closet.kserve", description=__doc__.splitlines()[0])
    ap.add_argument("--model-store", default="model-store", help="folder of built MARs (make mars)")
    ap.add_argument("--models", nargs="+", metavar="NAME",
                    help="archives <model-store>/<NAME>.mar to serve (default: every built one of " + ", ".join(MODEL_NAMES) + ")")
    ap.add_argument("--workdir", help="where the archives are extracted (default: a new temporary folder)")
    ap.add_argument("--bind", help="address of the inference, gRPC and metrics ports (default: server.bind)")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    for port in ("inference", "grpc", "management", "metrics", "worker-metrics"):
        ap.add_argument(f"--{port}-port", type=int, help=f"override server.{port.replace('-', '_')}_port")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prometheus_client.disable_created_metrics()  # as TorchServe: no *_created series
    store = Path(args.model_store)
    names = args.models or [n for n in MODEL_NAMES if (store / f"{n}.mar").is_file()]
    missing = [n for n in names if not (store / f"{n}.mar").is_file()]
    if not names or missing:
        log.error("no archive %s in %s: run `make mars`", ", ".join(f"{n}.mar" for n in missing), store)
        return 1
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="closet-kserve-"))
    models = load_models(store, names, workdir, parse_device(args.device))
    if not models:
        log.error("no model loaded")
        return 1
    # The archives' closet.yaml (or $CLOSET_CONFIG), as a TorchServe worker reads it: the image needs no repo.
    cfg = models[0].handler.config
    ports = Ports.of(cfg.server, inference=args.inference_port, grpc=args.grpc_port,
                     management=args.management_port, metrics=args.metrics_port,
                     worker_metrics=args.worker_metrics_port)
    ClosetModelServer(cfg, args.bind or cfg.server.bind, ports).start(models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
