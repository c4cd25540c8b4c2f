"""A typed Python client for closet's inference API (README "HTTP API", openapi/closet.yaml).

    from closet_client import ClosetClient
    with ClosetClient("http://127.0.0.1:8080") as api:
        print(api.describe().targets)
        result = api.swap(open("me.jpg", "rb").read(), target="coat", seed=7)
        open("coat.png", "wb").write(result.image)

Two wire protocols, the same result:
  * rest: POST /predictions/closet, multipart fields (`image`, `reference`, options);
  * v2:   POST /v2/models/closet/infer, KServe v2 JSON (one BYTES `image` input, options as parameters).
Refused requests raise ApiError with the API's `error`, `detail` and `reason`. 503 (TorchServe's queue
is full, or no worker yet) and 507 (a worker ran out of memory) are retried with exponential backoff
by urllib3's Retry; every other status is final. Requests are idempotent (a seeded swap gives the same
bytes), so a retry cannot do harm.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

MODEL = "closet"
# The model whose describe option lists the checkpoint's domains over the inference API (the closet MAR
# packs the same StarGAN v2 checkpoint; TorchServe's inference port has no metadata endpoint).
DESCRIBE_MODEL = "translation"
PROTOCOLS = ("rest", "v2")
# 503: queue full or no worker yet; 507: worker out of memory. Both may pass; nothing else will.
RETRY_STATUSES = (503, 507)
# Reasons for answers that come from TorchServe's frontend, not from a closet handler.
STATUS_REASONS = {413: "too_large", 503: "busy", 507: "busy", 404: "not_found"}
TIMING_HEADER = "X-Closet-Timing"
PARSER_HEADER = "X-Closet-Parser"


class ApiError(Exception):
    """The API refused a request (4xx/5xx), or could not be reached (status 0)."""

    def __init__(self, status: int, error: str, detail: Any = None, reason: str = ""):
        super().__init__(f"HTTP {status} {reason or 'error'}: {error}" if status else error)
        self.status = status
        self.error = error
        self.detail = detail
        self.reason = reason

    @classmethod
    def from_response(cls, r: requests.Response) -> "ApiError":
        """closet's {"error", "detail", "reason"}, or TorchServe's own {"code", "type", "message"}."""
        try:
            body = r.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            return cls(r.status_code, str(body["error"]), body.get("detail"), str(body.get("reason") or ""))
        reason = STATUS_REASONS.get(r.status_code, "")
        if isinstance(body, dict) and "message" in body:  # TorchServe's frontend (503 queue full, 404, ...)
            return cls(r.status_code, str(body["message"]), body.get("type"), reason)
        # TorchServe answers a body over max_request_size with an empty 413.
        return cls(r.status_code, r.reason or f"HTTP {r.status_code}", r.text[:200] or None, reason)


@dataclass(frozen=True)
class Description:
    """What the server can do: the targets (domains of its translation checkpoint) and where they came from."""

    targets: list[str]
    img_size: int | None = None
    trained_steps: int | None = None
    data_source: str | None = None
    raw: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class SwapResult:
    """One swapped photo. With `details` (and always over v2) every field of the API's ClosetResult is set;
    a plain REST image reply carries only the image, its type, the timings and the parser."""

    image: bytes = field(repr=False)
    content_type: str
    parser: str | None
    timings: dict[str, float]
    target: str | None = None
    mode: str | None = None
    seed: int | None = None
    preserve_color: bool | None = None
    box: list[int] | None = None
    width: int | None = None
    height: int | None = None
    person_mask: bytes | None = field(default=None, repr=False)  # 8-bit PNG, 255 = person
    garment_mask: bytes | None = field(default=None, repr=False)  # 8-bit PNG, 255 = garment
    raw: dict | None = field(default=None, repr=False)  # the ClosetResult JSON as sent (base64 inside)

    @classmethod
    def from_json(cls, body: dict) -> "SwapResult":
        return cls(
            image=base64.b64decode(body["image"]), content_type=body["content_type"], parser=body.get("parser"),
            timings={k: float(v) for k, v in (body.get("timings") or {}).items()}, target=body.get("target"),
            mode=body.get("mode"), seed=body.get("seed"), preserve_color=body.get("preserve_color"),
            box=body.get("box"), width=body.get("width"), height=body.get("height"),
            person_mask=base64.b64decode(body["person_mask"]) if body.get("person_mask") else None,
            garment_mask=base64.b64decode(body["garment_mask"]) if body.get("garment_mask") else None, raw=body,
        )

    @property
    def extension(self) -> str:
        """File extension of the image: png, jpeg or webp."""
        return self.content_type.split("/", 1)[-1]


def parse_timings(header: str | None) -> dict[str, float]:
    """`decode=0.01;segmentation=0.9;...` -> {"decode": 0.01, ...} (seconds)."""
    out = {}
    for part in (header or "").split(";"):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            continue
    return out


def _field(value: Any) -> str:
    """An option value as the API's text form (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ClosetClient:
    """Client of one closet server. Thread-safe: each thread gets its own HTTP session.

    Args:
        base_url: the inference API, e.g. http://127.0.0.1:8080 (never the management port).
        protocol: "rest" (/predictions/closet) or "v2" (KServe v2 /v2/models/closet/infer).
        timeout: seconds per HTTP attempt (the ensemble takes seconds per photo on a CPU).
        retries: extra attempts after a 503/507 answer or a refused connection.
        backoff: urllib3 backoff factor in seconds: waits backoff * 2**(attempt-1), at most backoff_max.
        model: the TorchServe model name of the ensemble.
    """

    def __init__(self, base_url: str, *, protocol: str = "rest", timeout: float = 300.0, retries: int = 4,
                 backoff: float = 0.5, backoff_max: float = 30.0, model: str = MODEL):
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        self.base_url = base_url.rstrip("/")
        self.protocol = protocol
        self.timeout = timeout
        self.model = model
        self.retry = Retry(
            total=retries, connect=retries, read=0, status=retries, other=0,
            allowed_methods=None,  # POST too: every closet request is idempotent
            status_forcelist=RETRY_STATUSES, backoff_factor=backoff, backoff_max=backoff_max,
            respect_retry_after_header=True, raise_on_status=False,  # the last 503 comes back as an ApiError
        )
        self._local = threading.local()
        self._sessions: list[requests.Session] = []  # every thread's, so close() closes them all
        self._lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------
    @property
    def session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            adapter = HTTPAdapter(max_retries=self.retry)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def _post(self, path: str, **kwargs) -> requests.Response:
        try:
            r = self.session.post(f"{self.base_url}{path}", timeout=self.timeout, **kwargs)
        except requests.RequestException as e:
            raise ApiError(0, f"cannot reach {self.base_url}: {type(e).__name__}", str(e), "unreachable") from e
        if r.status_code >= 400:
            raise ApiError.from_response(r)
        return r

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            s.close()
        self._local = threading.local()

    def __enter__(self) -> "ClosetClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- API ------------------------------------------------------------------
    def ping(self) -> bool:
        """True when TorchServe answers /ping as Healthy (every model has its minimum workers)."""
        try:
            r = self.session.get(f"{self.base_url}/ping", timeout=min(self.timeout, 10.0))
            return r.ok and r.json().get("status") == "Healthy"
        except (requests.RequestException, ValueError):
            return False

    def describe(self) -> Description:
        """The targets the server accepts (its translation checkpoint's domains)."""
        body = self._post(f"/predictions/{DESCRIBE_MODEL}", files={"describe": (None, "true")}).json()
        return Description(targets=list(body["domains"]), img_size=body.get("img_size"),
                           trained_steps=body.get("trained_steps"), data_source=body.get("data_source"), raw=body)

    def swap(self, photo: bytes, *, target: str | None = None, seed: int | None = None,
             reference: bytes | None = None, preserve_color: bool | None = None, format: str | None = None,
             options: Mapping[str, Any] | None = None, details: bool = False) -> SwapResult:
        """Swap the upper garment in `photo` (the bytes of a JPEG/PNG/WebP file).

        Args:
            target: garment category (see describe()); None: the server's default (the first).
            seed: latent style seed (same seed -> same bytes); not with `reference`.
            reference: bytes of a style image (reference-guided mode).
            preserve_color: keep the garment's colours (server default true).
            format: png, jpeg or webp (server default png).
            options: any other API option by name (e.g. {"mode": "latent"}); values are sent as text.
            details: REST only: ask for JSON (masks, crop box, settings); v2 always answers JSON.
        Raises:
            ApiError: the API refused the request, or stayed busy through every retry.
        """
        opts: dict[str, str] = {}
        for name, value in {"target": target, "seed": seed, "preserve_color": preserve_color, "format": format,
                            **(options or {})}.items():
            if value is not None:
                opts[name] = _field(value)
        if self.protocol == "v2":
            return self._swap_v2(photo, reference, opts)
        if details:
            opts["return"] = "json"
        files: dict[str, tuple] = {"image": ("photo", photo, "application/octet-stream")}
        if reference is not None:
            files["reference"] = ("reference", reference, "application/octet-stream")
        files.update({name: (None, value) for name, value in opts.items()})
        r = self._post(f"/predictions/{self.model}", files=files)
        if r.headers.get("content-type", "").startswith("application/json"):
            return SwapResult.from_json(r.json())
        return SwapResult(image=r.content, content_type=r.headers.get("content-type", "application/octet-stream"),
                          parser=r.headers.get(PARSER_HEADER), timings=parse_timings(r.headers.get(TIMING_HEADER)))

    def _swap_v2(self, photo: bytes, reference: bytes | None, opts: dict[str, str]) -> SwapResult:
        params: dict[str, str] = dict(opts)
        if reference is not None:
            params["reference"] = base64.b64encode(reference).decode("ascii")
        body = {
            "id": uuid.uuid4().hex,
            "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                        "data": [base64.b64encode(photo).decode("ascii")]}],
            "parameters": params,
        }
        r = self._post(f"/v2/models/{self.model}/infer", json=body)
        outputs = r.json().get("outputs") or []
        if not outputs or not outputs[0].get("data"):
            raise ApiError(r.status_code, "v2 reply without outputs", r.text[:200], "internal")
        return SwapResult.from_json(json.loads(outputs[0]["data"][0]))
