"""The management port of the KServe runtime: TorchServe's read-only describe calls, loopback only.

    GET /models                          {"models": [{"modelName", "modelUrl"}, ...]}
    GET /models/<model>[?customized=true] [{"modelName", "batchSize", "maxBatchDelay", "workers", ...,
                                            "customizedMetadata": "<the handler's describe() as JSON>"}]

The same field names and meaning as TorchServe's management API, so `make serve`'s readiness
wait, the tests and the operators' curl lines work on either runtime. A "worker" here is one of
the model's batch threads inside this process: its pid is the server's. Nothing can be changed
through this port (no registration, scaling or unloading routes).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from closet.kserve.model import ClosetModel


def describe(model: ClosetModel, customized: bool = False) -> dict:
    """One model as TorchServe's `GET /models/<model>` describes it."""
    cfg = model.settings if model.ready else None
    queue = model.handler.config.server.job_queue_size if model.ready else 0
    waiting = model.batcher.waiting if model.batcher is not None else 0
    started = datetime.fromtimestamp(model.loaded_at, timezone.utc).isoformat() if model.loaded_at else None
    out = {
        "modelName": model.name,
        "modelVersion": model.archive.version,
        "modelUrl": f"{model.archive.model_dir.name}.mar",
        "runtime": "python",
        "server": "kserve",
        "minWorkers": cfg.min_workers if cfg else 0,
        "maxWorkers": cfg.max_workers if cfg else 0,
        "batchSize": cfg.batch_size if cfg else 0,
        "maxBatchDelay": cfg.max_batch_delay_ms if cfg else 0,
        "responseTimeout": cfg.response_timeout_s if cfg else 0,
        "loadedAtStartup": True,
        "workers": [
            {"id": f"{model.name}-{i}", "startTime": started, "status": "READY" if model.ready else "UNLOADING",
             "pid": os.getpid(), "gpu": getattr(model.device, "type", "cpu") == "cuda"}
            for i in range(cfg.min_workers if cfg else 0)
        ],
        "jobQueueStatus": {"remainingCapacity": max(0, queue - waiting), "pendingRequests": waiting},
    }
    if customized:
        out["customizedMetadata"] = json.dumps(model.describe())
    return out


def management_app(models: dict[str, ClosetModel]) -> FastAPI:
    app = FastAPI(title="closet management (KServe runtime)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/models")
    async def list_models() -> dict:
        return {"models": [{"modelName": n, "modelUrl": f"{m.archive.model_dir.name}.mar"}
                           for n, m in sorted(models.items())]}

    @app.get("/models/{model_name}")
    async def describe_model(model_name: str, customized: bool = False):
        model = models.get(model_name)
        if model is None:
            return JSONResponse({"code": 404, "type": "ModelNotFoundException",
                                 "message": f"Model not found: {model_name[:64]}"}, status_code=404)
        return [describe(model, customized)]

    return app
