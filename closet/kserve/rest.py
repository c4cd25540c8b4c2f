"""What closet adds to KServe's REST server (kserve.protocol.rest.server.RESTServer).

KServe provides /v1/models/<m>:predict, the /v2 routes, /metrics and the liveness routes. Added here:

* POST /predictions/<model>: closet's own API, exactly as on TorchServe (raw body or multipart
  field `image`, options as fields or X-Closet-* headers, KServe JSON bodies too), GET /ping
  ({"status": "Healthy"} once every model is loaded) and GET /api-description (the liveness
  probe's route), so clients, probes and tests use one API.
* POST /v2/models/<model>/infer decodes the body, then hands it to KServe's own V2Endpoints.infer:
  the v2 binary_data extension (`Inference-Header-Content-Length`) is decoded keeping BYTES
  elements as bytes (KServe 0.21's InferRequest.from_bytes turns them into UTF-8 text, which
  fails on any image and echoes the bytes in its error), and a JSON body that is not a v2
  InferenceRequest gets closet's 400 instead of FastAPI's 422 list.
* POST /v2/repository/models/<model>/{load,unload}: refused (403). KServe's model repository
  extension would let any client of the public inference port unload a model; TorchServe keeps
  model management on its loopback-only management port.
* The error contract: every refusal is closet's 4xx JSON {"error", "detail", "reason"}, whichever
  route raised it (closet.errors, KServe's InvalidInput, an oversized body).
* Middlewares: a request size limit (`server.max_request_size`, 413 like TorchServe's frontend) and
  the Requests2XX/4XX/5XX counters (closet/kserve/metrics.py).
"""

from __future__ import annotations

import json
import logging
import uuid

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput
from kserve.protocol.rest.v2_datamodels import InferenceRequest
from kserve.protocol.rest.v2_endpoints import V2Endpoints
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from closet.errors import BadImage, ClosetError, TooLarge
from closet.kserve.metrics import FrontendCounters
from closet.kserve.model import ClosetModel, Failed, Refused
from closet.serving.handler import Reply, internal_error
from closet.serving.options import safe_preview

log = logging.getLogger(__name__)

INFERENCE_HEADER = "inference-header-content-length"  # the v2 binary_data extension's JSON length
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_FORM_PARTS = 64  # closet's forms carry an image, a reference and a few options


def error_response(error: ClosetError) -> Response:
    return Response(json.dumps(error.to_json()), status_code=error.status, media_type="application/json")


def reply_response(reply: Reply) -> Response:
    if isinstance(reply.body, dict):
        return Response(json.dumps(reply.body), media_type="application/json", headers=reply.headers)
    return Response(reply.body, media_type=reply.content_type, headers=reply.headers)


async def request_row(request: Request) -> dict:
    """The request as TorchServe hands it to a handler: one key per form field, or `body`."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in FORM_TYPES:
        try:
            form = await request.form(max_files=MAX_FORM_PARTS, max_fields=MAX_FORM_PARTS)
        except HTTPException as e:  # starlette's multipart parser refusing the body
            raise BadImage("malformed form body", safe_preview(str(e.detail), 80)) from None
        row: dict = {}
        try:
            for key, value in form.multi_items():
                row[key] = await value.read() if isinstance(value, UploadFile) else value
        finally:
            await form.close()
        return row
    body = await request.body()
    if ctype == "application/json":
        try:
            return {"body": json.loads(body)}
        except ValueError:
            pass  # not JSON after all: the handler refuses it as an image
    return {"body": body}


def binary_request(body: bytes, json_length: str, model_name: str) -> InferRequest:
    """A v2 request in the binary_data extension: JSON header, then each input's bytes in order."""
    try:
        n = int(json_length)
        if not 0 < n <= len(body):
            raise ValueError
        head = orjson.loads(body[:n])
    except ValueError:
        raise BadImage(f"'{INFERENCE_HEADER}' must be the length of the JSON part of the body",
                       f"the body holds {len(body)} bytes") from None
    inputs = head.get("inputs") if isinstance(head, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(t, dict) for t in inputs):
        raise BadImage("v2 'inputs' must be a list of input tensors {name, shape, datatype, ...}")
    offset, tensors = n, []
    for t in inputs:
        params = t.get("parameters") or {}
        if not isinstance(t.get("name"), str) or not isinstance(t.get("datatype"), str) or not isinstance(params, dict):
            raise BadImage("each v2 input needs a string 'name' and 'datatype' (and object 'parameters')")
        tensor = InferInput(t["name"], t.get("shape"), t["datatype"], t.get("data"), params)
        size = params.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(body):
                raise BadImage(f"input '{safe_preview(t['name'])}': binary_data_size does not fit the body",
                               f"{len(body) - offset} bytes left after the earlier inputs")
            tensor._raw_data = body[offset:offset + size]  # what kserve's own from_bytes sets
            offset += size
        elif t.get("data") is None:
            raise BadImage(f"input '{safe_preview(t['name'])}' has neither 'data' nor 'binary_data_size'")
        tensors.append(tensor)
    if offset != len(body):
        raise BadImage("the binary_data_size values do not add up to the body",
                       f"{len(body) - offset} bytes left over after the last input")
    outputs = head.get("outputs")
    requested = [RequestedOutput(o["name"], o.get("parameters")) for o in outputs
                 if isinstance(o, dict) and isinstance(o.get("name"), str)] if isinstance(outputs, list) else None
    rid = head.get("id")
    params = head.get("parameters")
    return InferRequest(model_name, tensors, request_id=rid if isinstance(rid, str) else None,
                        parameters=params if isinstance(params, dict) else None, request_outputs=requested or None)


def json_request(body: bytes) -> InferenceRequest:
    """A v2 JSON body as KServe's InferenceRequest; a body that is not one is closet's 400."""
    try:
        return InferenceRequest.model_validate_json(body)
    except ValidationError as e:
        where = [": ".join(filter(None, (".".join(str(p) for p in err["loc"]), err["msg"]))) for err in e.errors()[:3]]
        raise BadImage("the body is not a v2 InferenceRequest", [safe_preview(w, 120) for w in where]) from None


class ClosetRoutes:
    """The routes and handlers above, over the served models."""

    def __init__(self, models: dict[str, ClosetModel]):
        self.models = models

    def register(self, app: FastAPI, v2: V2Endpoints) -> None:
        """Add the routes; call before KServe registers its own, so these win on shared paths."""
        self.v2 = v2
        router = APIRouter()
        router.add_api_route("/ping", self.ping, methods=["GET"])
        router.add_api_route("/api-description", self.api_description, methods=["GET"])
        router.add_api_route("/predictions/{model_name}", self.predictions, methods=["POST"], response_model=None)
        router.add_api_route("/v2/models/{model_name}/infer", self.v2_infer, methods=["POST"], response_model=None)
        for verb in ("load", "unload"):
            router.add_api_route(f"/v2/repository/models/{{model_name}}/{verb}", self.repository_refused,
                                 methods=["POST"], response_model=None)
        app.include_router(router)

    def add_exception_handlers(self, app: FastAPI) -> None:
        """closet's error JSON for everything a route can raise (registered after KServe's: these win)."""
        app.add_exception_handler(ClosetError, _closet_error)
        app.add_exception_handler(Refused, _carried_error)
        app.add_exception_handler(Failed, _carried_error)
        app.add_exception_handler(InvalidInput, _invalid_input)
        app.add_exception_handler(Exception, _internal)

    async def ping(self) -> Response:
        healthy = bool(self.models) and all(m.ready for m in self.models.values())
        return Response(json.dumps({"status": "Healthy" if healthy else "Unhealthy"}),
                        status_code=200 if healthy else 500, media_type="application/json")

    async def api_description(self, request: Request) -> dict:
        """The server's own API description, whatever the models' state (the chart's liveness probe,
        as TorchServe's frontend answers it)."""
        return request.app.openapi()

    async def predictions(self, model_name: str, request: Request) -> Response:
        model = self.models.get(model_name)
        if model is None or not model.ready:
            return error_response(_unknown_model(model_name, self.models))
        rid = str(uuid.uuid4())
        try:
            row = await request_row(request)
        except ClosetError as e:
            return error_response(model.settle(e, rid))
        out = await model.answer_row(row, dict(request.headers), rid)
        return error_response(out) if isinstance(out, ClosetError) else reply_response(out)

    async def v2_infer(self, raw_request: Request, raw_response: Response, model_name: str):
        body = await raw_request.body()
        length = raw_request.headers.get(INFERENCE_HEADER)
        request = binary_request(body, length, model_name) if length is not None else json_request(body)
        return await self.v2.infer(raw_request, raw_response, model_name, request)

    async def repository_refused(self, model_name: str) -> Response:
        e = ClosetError("model repository changes are disabled",
                        "models are loaded from the archives at start; restart the server to change them")
        e.status = 403
        return error_response(e)


def _unknown_model(name: str, models: dict) -> ClosetError:
    e = ClosetError(f"model '{safe_preview(name)}' is not served here", {"models": sorted(models)})
    e.status = 404
    return e


async def _closet_error(_, exc: ClosetError) -> Response:
    return error_response(exc)


async def _carried_error(_, exc: Refused | Failed) -> Response:
    return error_response(exc.error)


async def _invalid_input(_, exc: InvalidInput) -> Response:
    """KServe's own request checks (v1 JSON, gRPC-style input counts...): a 400 in closet's shape."""
    return error_response(BadImage(safe_preview(str(exc), 160), "the request does not follow the KServe v1/v2 protocol"))


async def _internal(_, exc: Exception) -> Response:
    log.error("unhandled %s on a REST route", type(exc).__name__, exc_info=exc)
    return error_response(internal_error())


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` gets 413 too_large (TorchServe's max_request_size)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await error_response(self._error(int(declared)))(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._error(seen)  # closet's ClosetError handler answers it
            return message

        return await self.app(scope, counted, send)

    def _error(self, size: int) -> ClosetError:
        return TooLarge("request body too large", f"{size} bytes or more; the limit is {self.max_bytes} bytes")


class StatusCounter:
    """ASGI middleware: counts every HTTP response by status class (Requests2XX/4XX/5XX)."""

    def __init__(self, app, frontend: FrontendCounters):
        self.app = app
        self.frontend = frontend

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def counting(message):
            if message["type"] == "http.response.start":
                self.frontend.response(int(message["status"]))
            await send(message)

        return await self.app(scope, receive, counting)
