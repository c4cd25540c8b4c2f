"""ASGI middleware: refuse request bodies over a byte limit with the API's 413 JSON, before they are parsed.

The declared Content-Length is checked first; a chunked body is counted as it streams in, so a client
cannot get around the limit by leaving the length out.
"""

from __future__ import annotations

import json


class BodyTooLarge(Exception):
    pass


def too_large_body(limit: int) -> bytes:
    from closet_client.client import ApiError
    from closet_client.messages import explain

    detail = f"at most {limit / 2**20:.0f} MiB per request (server.max_request_size)"
    err = ApiError(413, "request body too large", detail, "too_large")
    return json.dumps({"error": err.error, "detail": detail, "reason": err.reason, "message": explain(err)}).encode()


class BodyLimit:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send):
        body = too_large_body(self.max_bytes)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
