"""ClosetModel: one closet endpoint as a kserve.Model, an adapter over the archive's own handler.

Every request, whichever way it came (POST /predictions/<model>, KServe v1, v2 REST, v2 gRPC),
goes the same way: `handler.parse` (options, KServe bodies: closet/serving/kserve_v2.py) on the
event loop, then the model's Batcher, which runs `handler.answer` (the TorchServe handler's own
guarded `predict`, one batched pass per stage) on the model's worker thread. Only the reply's
wire format depends on the protocol:

    /predictions, v1, v2 JSON   the same bodies TorchServe gives (kserve_v2.format_reply)
    v2 gRPC, v2 binary output   BYTES output "result" holding the raw file (or JSON text), its
                                content type in the output's parameters; no base64 on a binary wire
    refusals                    Refused (a kserve InvalidInput): REST gets closet's 4xx JSON
                                (closet/kserve/rest.py), gRPC INVALID_ARGUMENT with that JSON as
                                its message; server-side failures are Failed (500 / gRPC INTERNAL)
"""

from __future__ import annotations

import json
import logging
import struct
import time
import uuid
from typing import Any

import numpy as np
from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import (
    InferOutput,
    InferRequest,
    InferResponse,
    deserialize_bytes_tensor,
    to_http_parameters,
)

from closet.errors import BadImage, ClosetError
from closet.kserve.archive import Archive, handler_of
from closet.kserve.metrics import FrontendCounters
from closet.metrics import Sink
from closet.serving import kserve_v2
from closet.serving.batcher import Batcher, BatchStats, QueueFull
from closet.serving.handler import Reply, internal_error, kserve_reply
from closet.serving.options import ParsedRequest

log = logging.getLogger(__name__)


class Refused(InvalidInput):
    """A request closet refused (a 4xx ClosetError) on its way out through KServe's protocol layer.

    REST: closet/kserve/rest.py answers with the error's status and JSON; gRPC: KServe's interceptor
    answers INVALID_ARGUMENT with the message, which is that JSON.
    """

    def __init__(self, error: ClosetError):
        super().__init__(json.dumps(error.to_json()))
        self.error = error


class Failed(RuntimeError):
    """A server-side failure (a 5xx ClosetError): REST closet's 5xx JSON, gRPC INTERNAL."""

    def __init__(self, error: ClosetError):
        super().__init__(error.message)
        self.error = error


def refusal(error: ClosetError) -> Exception:
    """The exception that carries `error` out of Model.predict."""
    return Refused(error) if error.status < 500 else Failed(error)


def busy_error(name: str, waiting: int) -> ClosetError:
    """TorchServe answers 503 when a model's job queue is full; so does this runtime."""
    e = ClosetError("server busy", f"{waiting} requests are already waiting for '{name}'; retry later")
    e.status, e.reason = 503, "internal"
    return e


def tensor_dict(inp) -> dict:
    """A kserve InferInput as the v2 JSON tensor closet's parser reads (binary data unpacked, not re-encoded)."""
    raw = getattr(inp, "_raw_data", None)  # set by the v2 binary_data extension and gRPC raw_input_contents
    if raw is not None:
        if inp.datatype == "BYTES":
            try:
                data: Any = list(deserialize_bytes_tensor(bytes(raw)))
            except struct.error:
                raise BadImage("v2 binary BYTES input is malformed",
                               "each element is a 4-byte little-endian length, then that many bytes") from None
        elif inp.datatype == "UINT8":
            data = np.frombuffer(bytes(raw), dtype=np.uint8)
        else:
            data = []  # refused by the parser: it names the datatype
    else:
        data = inp.data
    params = inp.parameters
    return {"name": inp.name, "shape": list(inp.shape), "datatype": inp.datatype, "data": data,
            "parameters": to_http_parameters(params) if params else {}}


def request_dict(payload: InferRequest) -> dict:
    """A kserve InferRequest (v2 REST or gRPC) as the v2 JSON body closet's parser reads."""
    params = payload.parameters
    return {"id": payload.id or "", "inputs": [tensor_dict(i) for i in payload.inputs],
            "parameters": to_http_parameters(params) if params else {}}


def binary_response(model: str, rid: str, reply: Reply, binary: bool) -> InferResponse:
    """The v2 reply for a binary wire: one BYTES output holding the file itself (or the JSON text)."""
    if isinstance(reply.body, dict):
        data, ctype = json.dumps(reply.body).encode("utf-8"), "application/json"
    else:
        data, ctype = reply.body, reply.content_type
    out = InferOutput(kserve_v2.OUTPUT_NAME, [1], "BYTES", data=[data], parameters={"content_type": ctype})
    return InferResponse(rid, model, [out], use_binary_outputs=binary)


class ClosetModel(Model):
    """One served closet model: the archive's handler behind an in-process Batcher.

    `load()` sets the handler up (manifest check, weights onto `device`) and builds the batcher
    from the archive's closet.yaml (batch size, batch delay, workers, queue size).
    """

    def __init__(self, archive: Archive, device, sink: Sink | None = None,
                 frontend: FrontendCounters | None = None):
        super().__init__(archive.name, return_response_headers=True)
        self.archive = archive
        self.device = device
        self.sink = sink
        self.frontend = frontend
        self.handler = handler_of(archive)
        self.batcher: Batcher | None = None
        self.loaded_at = 0.0  # time.time() when ready

    # -- lifecycle ----------------------------------------------------------------------------
    def load(self) -> bool:
        if self.ready:
            return True
        self.handler.setup(str(self.archive.model_dir), self.device, self.sink)
        cfg = self.settings
        self.batcher = Batcher(self._run, cfg.batch_size, cfg.max_batch_delay_ms / 1000.0, workers=cfg.min_workers,
                               max_queue=self.handler.config.server.job_queue_size, on_batch=self._count,
                               name=self.name)
        self.loaded_at = time.time()
        self.ready = True  # readiness last
        return True

    @property
    def settings(self):
        """The archive's closet.yaml entry for this handler's model (a copy served under another name,
        e.g. the benchmark's closet_b1, keeps the entry of the model it was built as)."""
        return self.handler.config.model(self.handler.name)

    def _run(self, batch: list[ParsedRequest]) -> list[Reply | ClosetError]:
        """One batch on the worker thread: what TorchServe's handle() does around predict."""
        t0 = time.perf_counter()
        self.handler.metrics.batch_size(len(batch))
        try:
            return self.handler.answer(batch)
        finally:
            self.handler.metrics.stage("handler", time.perf_counter() - t0)

    def _count(self, stats: BatchStats) -> None:
        if self.frontend is not None:
            self.frontend.batch(self.name, self.archive.version, stats.waited_s, stats.run_s)

    def describe(self) -> dict:
        return self.handler.describe()

    # -- one request ----------------------------------------------------------------------------
    async def serve(self, row: dict, headers: dict[str, str], rid: str) -> tuple[ParsedRequest | None,
                                                                                   Reply | ClosetError]:
        """Parse one request (a TorchServe-style input row) and answer it through the batcher."""
        try:
            req = self.handler.parse(row, headers, rid)
        except ClosetError as e:
            return None, e
        try:
            out = await self.batcher.submit(req)
        except QueueFull:
            out = busy_error(self.name, self.batcher.waiting)
        except Exception:  # noqa: BLE001 (the batcher already logged it; the request gets a 500)
            out = internal_error()
        return req, out

    def settle(self, result: Reply | ClosetError, rid: str) -> Reply | ClosetError:
        """Log and count one outcome, as ClosetHandler._respond does on TorchServe (ids, never inputs)."""
        if isinstance(result, ClosetError):
            self.handler.metrics.error(result.reason)
            log.info("%s: request_id=%s refused: %s (%s)", self.name, rid, result.reason, result.status)
        else:
            log.info("%s: request_id=%s ok (%s)", self.name, rid, result.content_type)
        return result

    async def answer_row(self, row: dict, headers: dict[str, str], rid: str) -> Reply | ClosetError:
        """/predictions/<model>: the reply TorchServe would give (KServe bodies in their protocol,
        answers over server.max_response_size a 413, as ClosetHandler.fit decides on TorchServe)."""
        req, out = await self.serve(row, headers, rid)
        if req is not None:
            out = self.handler.fit(kserve_reply(req, out, self.name, rid))
        return self.settle(out, rid)

    async def predict(self, payload, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None):
        """KServe's entry for v1 (`payload` a dict) and v2 REST/gRPC (an InferRequest)."""
        rid = str(uuid.uuid4())
        binary = isinstance(payload, InferRequest) and (payload.from_grpc or payload.use_binary_outputs)
        try:
            body = request_dict(payload) if isinstance(payload, InferRequest) else payload
        except ClosetError as e:
            raise refusal(self.settle(e, rid)) from None
        req, out = await self.serve({"body": body}, dict(headers or {}), rid)
        wire = None
        if isinstance(out, Reply):
            if binary:  # the file itself goes out: its size is what counts
                checked = self.handler.fit(out)
            else:
                wire = kserve_v2.format_reply(req, self.name, out.body, out.content_type, rid)
                checked = self.handler.fit(Reply(wire, "application/json", out.headers))
            if isinstance(checked, ClosetError):
                out = checked
        if isinstance(self.settle(out, rid), ClosetError):
            raise refusal(out)
        if response_headers is not None:
            response_headers.update(out.headers)
        if binary:
            return binary_response(self.name, getattr(req, "v2_id", "") or rid, out, payload.use_binary_outputs)
        return wire
