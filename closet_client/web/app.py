"""The demo page's ASGI app (Starlette).

    GET  /                   the page (static/index.html; plain HTML, CSS and JS, no build step)
    GET  /api/config         targets (the API's describe), option controls (openapi/closet.yaml), the upload
                             limit and the sample photos
    GET  /api/samples/<name> a sample photo's file
    POST /api/swap           multipart `image` [+ `reference`] + options -> the API's ClosetResult JSON
                             (return=json: result, masks, timings, parser); errors keep the API's status and
                             JSON and add `message`, a sentence for a person (closet_client.messages)
    GET  /healthz            the app is up (liveness; never calls the API)
    GET  /readyz             the inference API answers /ping (readiness)
Bodies over `max_request_size` (the API's own limit) get 413 before they are parsed.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from closet_client.client import ApiError, ClosetClient
from closet_client.messages import explain
from closet_client.web.body_limit import BodyLimit, BodyTooLarge, too_large_body
from closet_client.web.form import load_spec, page_options
from closet_client.web.samples import SAMPLES, sample_bytes

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
FILE_FIELDS = ("image", "reference")


def error_response(err: ApiError) -> JSONResponse:
    """The API's error JSON (same status) plus `message`; 502 when the API could not be reached at all."""
    body = {"error": err.error, "detail": err.detail, "reason": err.reason or "error", "message": explain(err)}
    return JSONResponse(body, status_code=err.status or 502)


def create_app(api_url: str, max_request_size: int, spec_path: str | Path, timeout: float = 300.0,
               retries: int = 2) -> Starlette:
    """The app, forwarding to the inference API at `api_url`.

    Args:
        max_request_size: bytes; the API's server.max_request_size (closet.config), so the page refuses
            exactly what the API would.
        spec_path: openapi/closet.yaml, the source of the page's option controls.
    """
    client = ClosetClient(api_url, timeout=timeout, retries=retries)
    options = page_options(load_spec(spec_path))

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def config(request: Request) -> Response:
        try:
            described = await run_in_threadpool(client.describe)
        except ApiError as e:
            return error_response(e)
        samples = [{"name": s.name, "label": s.label, "url": f"api/samples/{s.name}"} for s in SAMPLES.values()]
        return JSONResponse({"targets": described.targets, "options": options, "max_request_size": max_request_size,
                             "samples": samples})

    async def sample(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in SAMPLES:
            return JSONResponse({"error": "no such sample", "detail": {"allowed": sorted(SAMPLES)},
                                 "reason": "not_found", "message": "No such sample photo."}, status_code=404)
        data = await run_in_threadpool(sample_bytes, name)
        return Response(data, media_type=SAMPLES[name].content_type, headers={"Cache-Control": "max-age=3600"})

    async def swap(request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return error_response(ApiError(400, "send a multipart form", "fields: image, target, seed, ...",
                                           "bad_option"))
        async with request.form(max_files=len(FILE_FIELDS), max_fields=64) as form:
            files: dict[str, bytes] = {}
            fields: dict[str, str] = {}
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    if name in FILE_FIELDS and data:  # a file input left empty sends an empty part
                        files[name] = data
                    elif name not in FILE_FIELDS:
                        return error_response(ApiError(400, f"unexpected file field '{name[:40]}'",
                                                       {"allowed": list(FILE_FIELDS)}, "bad_option"))
                elif value != "":  # an empty control means "the server's default"
                    fields[name] = value
        if "image" not in files:
            return error_response(ApiError(400, "no photo", "choose a photo or one of the samples", "bad_image"))
        fields.pop("return", None)  # the page always needs the JSON result (masks, timings)
        try:
            result = await run_in_threadpool(client.swap, files["image"], reference=files.get("reference"),
                                             options=fields, details=True)
        except ApiError as e:
            log.info("swap refused: HTTP %s %s", e.status, e.reason)
            return error_response(e)
        return JSONResponse(result.raw)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        up = await run_in_threadpool(client.ping)
        return JSONResponse({"status": "ready" if up else "waiting for the inference API"},
                            status_code=200 if up else 503)

    async def body_too_large(request: Request, exc: BodyTooLarge) -> Response:
        return Response(too_large_body(max_request_size), status_code=413, media_type="application/json")

    async def http_error(request: Request, exc: HTTPException) -> Response:
        """Starlette's own refusals (a malformed form, too many files, 404, 405) in the API's error shape."""
        reason = "bad_option" if exc.status_code == 400 else "not_found" if exc.status_code == 404 else "error"
        return error_response(ApiError(exc.status_code, str(exc.detail), None, reason))

    routes = [
        Route("/", index),
        Route("/api/config", config),
        Route("/api/samples/{name}", sample),
        Route("/api/swap", swap, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    @asynccontextmanager
    async def lifespan(app):
        yield
        client.close()

    return Starlette(routes=routes, middleware=[Middleware(BodyLimit, max_bytes=max_request_size)],
                     exception_handlers={BodyTooLarge: body_too_large, HTTPException: http_error}, lifespan=lifespan)
