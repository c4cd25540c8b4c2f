"""The base of every closet TorchServe handler.

A handler subclass declares its options and implements `load` and `predict`;
this class does the TorchServe protocol: per-request option parsing, the 4xx
JSON error contract, one reply per request in order, the response size limit,
device choice, metrics and readiness. Per-request data moves as return values; `self` holds only what
`initialize` set.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from closet import config as closet_config
from closet.archive import WARM_UP_PHOTO, read_build_info, verify_manifest
from closet.errors import ClosetError, TooLarge
from closet.metrics import PipelineMetrics, Sink
from closet.serving import kserve_v2, worker_metrics
from closet.serving.options import Option, ParsedRequest, parse_request

log = logging.getLogger(__name__)


@dataclass
class Reply:
    """One successful response: body bytes (or a JSON-able dict) plus headers."""

    body: bytes | str | dict
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def select_device(gpu_id) -> "torch.device":  # noqa: F821
    """CUDA device `gpu_id` when TorchServe assigned one and CUDA works, else CPU."""
    import torch

    if gpu_id is not None and str(gpu_id) != "" and torch.cuda.is_available():
        return torch.device(f"cuda:{int(gpu_id)}")
    return torch.device("cpu")


def _headers_of(context, idx: int) -> dict[str, str]:
    try:
        raw = context.get_all_request_header(idx) or {}
    except (AttributeError, IndexError, TypeError):
        return {}
    out = {}
    for k, v in raw.items():
        k = k.decode("utf-8", "replace") if isinstance(k, (bytes, bytearray)) else str(k)
        v = v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)
        out[k] = v
    return out


class ClosetHandler:
    """TorchServe custom handler base: subclass, set `name`, `options`, implement load/predict."""

    name = "closet"
    options: dict[str, Option] = {}
    file_fields: tuple[str, ...] = ()
    # What a client can change when its answer is over server.max_response_size (the detail of that 413).
    too_large_hint = "send a smaller image"

    def __init__(self):
        self.initialized = False
        self.device = None
        self.config = None
        self.metrics = PipelineMetrics(None, self.name)
        self.model_dir = None
        self.build_info: dict = {}

    # -- lifecycle --------------------------------------------------------
    def initialize(self, context) -> None:
        props = context.system_properties
        self.setup(props.get("model_dir"), select_device(props.get("gpu_id")), getattr(context, "metrics", None),
                   context)

    def setup(self, model_dir: str | None, device, metrics_sink=None, context=None) -> None:
        """Load from an extracted archive onto `device`; what `initialize` does, for any runtime.

        `metrics_sink` is TorchServe's metric cache or a closet.metrics.Sink (None: PipelineMetrics.recorded).
        """
        self.model_dir = model_dir
        if self.model_dir and Path(self.model_dir, "MAR-INF").is_dir():
            # Extracted from a .mar: refuse to load unless every file matches closet-manifest.json.
            n = verify_manifest(self.model_dir)
            log.info("%s: %d archive files match closet-manifest.json", self.name, n)
        self.build_info = read_build_info(self.model_dir) if self.model_dir else {}
        self.device = device
        self.config = closet_config.load(model_dir=self.model_dir)
        self.metrics = PipelineMetrics(metrics_sink, self.name)
        if not isinstance(metrics_sink, Sink):  # a TorchServe worker: the own-bucket histograms' port, when asked
            worker_metrics.serve_from_env()
        self.load(self.model_dir, context)
        self.warm_up()
        log.info("%s ready on %s", self.name, self.device)
        self.initialized = True  # readiness last

    def warm_up(self) -> None:
        """Answer the archive's warm-up photo once with default options, so that the first real
        request does not pay for first-call allocations. Not counted in the metrics."""
        photo = Path(self.model_dir or "", WARM_UP_PHOTO)
        if not photo.is_file():  # a hand-made archive
            log.info("%s: no %s in the archive, no warm-up", self.name, WARM_UP_PHOTO)
            return
        metrics, self.metrics = self.metrics, PipelineMetrics(None, self.name)
        try:
            t0 = time.perf_counter()
            (out,) = self.answer([self.parse({"body": photo.read_bytes()}, {}, "warm-up")])
            outcome = "answered" if isinstance(out, Reply) else f"refused ({out.reason}: {out})"
            log.info("%s: warm-up request %s in %.2f s", self.name, outcome, time.perf_counter() - t0)
        finally:
            self.metrics = metrics

    def load(self, model_dir: str, context) -> None:
        """Load weights onto self.device. Override."""
        raise NotImplementedError

    def predict(self, batch: list[ParsedRequest]) -> list[Reply | ClosetError]:
        """Run one batch; return exactly one Reply or ClosetError per request, in order. Override."""
        raise NotImplementedError

    def describe(self) -> dict:
        """Model metadata returned by the describe option and the management API."""
        return {"model": self.name}

    # -- helpers for subclasses ------------------------------------------
    def decode_batch(self, batch: list[ParsedRequest]) -> tuple[dict, list]:
        """Decode every request's image under the configured limits, timed as the decode stage.

        Returns (uint8 RGB (H, W, 3) images by request index, results) where results holds the
        ClosetError of each request whose image was refused (a bad image fails its own request only)
        and None elsewhere.
        """
        from closet.imageio import decode_photo

        limits = self.config.limits
        images: dict = {}
        results: list = [None] * len(batch)
        with self.timed("decode"):
            for i, req in enumerate(batch):
                try:
                    images[i] = decode_photo(req.image, limits.max_pixels, limits.max_side).pixels
                    self.metrics.input_megapixels(images[i].shape[0] * images[i].shape[1] / 1e6)
                except ClosetError as e:
                    results[i] = e
        return images, results

    @contextmanager
    def timed(self, stage: str, timings: dict[str, float] | None = None):
        """Time a stage into the stage histogram (seconds), and into `timings` if given."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            self.metrics.stage(stage, dt)
            if timings is not None:
                timings[stage] = timings.get(stage, 0.0) + dt

    # -- TorchServe entry points -------------------------------------------
    def describe_handle(self):  # TorchServe's customized metadata hook (management API describe)
        return json.dumps(self.describe())

    def handle(self, data: list[dict], context) -> list[Any]:
        """TorchServe entry: one output per input row, errors as 4xx JSON."""
        if _is_describe(context):  # management API `GET /models/<name>?customized=true`
            return [self.describe_handle()]
        t0 = time.perf_counter()
        self.metrics.batch_size(len(data))
        results: list[Reply | ClosetError | None] = [None] * len(data)
        parsed: list[tuple[int, ParsedRequest]] = []
        for idx, row in enumerate(data):
            try:
                rid = context.get_request_id(idx) if hasattr(context, "get_request_id") else ""
                parsed.append((idx, self.parse(row, _headers_of(context, idx), rid or "")))
            except ClosetError as e:
                results[idx] = e
        if parsed:
            outputs = self.answer([p for _, p in parsed])
            model_name = getattr(context, "model_name", None) or self.name
            for (idx, req), out in zip(parsed, outputs):
                # KServe v2/v1 bodies are answered in their protocol, per request (not per batch).
                results[idx] = kserve_reply(req, out, model_name, _request_id(context, idx))
        replies = [self._respond(context, idx, self.fit(r)) for idx, r in enumerate(results)]
        self.metrics.stage("handler", time.perf_counter() - t0)  # the per-model latency histogram
        return replies

    def answer(self, batch: list[ParsedRequest]) -> list[Reply | ClosetError]:
        """`predict`, guarded: exactly one Reply or ClosetError per request, in order, whatever predict does.

        Both runtimes call this (TorchServe through `handle`, KServe through closet/kserve).
        """
        try:
            outputs = self.predict(batch)
            if len(outputs) != len(batch):
                raise RuntimeError(f"{self.name}: predict returned {len(outputs)} results for {len(batch)}")
        except ClosetError as e:  # a batch-wide input error applies to every request in it
            outputs = [e] * len(batch)
        except Exception:
            log.exception("%s: internal error in predict", self.name)
            outputs = [internal_error()] * len(batch)
        return outputs

    def parse(self, row: dict, headers: dict[str, str], request_id: str) -> ParsedRequest:
        if not isinstance(row, dict):
            raise ClosetError("malformed request")
        for key in ("body", "data"):
            if isinstance(row.get(key), (dict, list)):
                return self.parse_json(row[key], headers, request_id)
        return parse_request(
            row, headers, self.options, self.file_fields,
            max_chars=self.config.limits.max_option_chars if self.config else 64, request_id=request_id,
        )

    def parse_json(self, body, headers: dict[str, str], request_id: str) -> ParsedRequest:
        """A JSON body: a KServe v2 InferRequest or v1 {"instances": [...]} (closet/serving/kserve_v2.py)."""
        from closet.errors import BadImage

        req = kserve_v2.parse_body(body, headers, self.options, self.file_fields,
                                   self.config.limits.max_option_chars if self.config else 64, request_id)
        if req is None:
            raise BadImage("JSON body not supported here",
                           "send the image bytes as the body or the multipart field 'image', "
                           "or a KServe v2 {\"inputs\": [...]} / v1 {\"instances\": [...]} body")
        return req

    def fit(self, result):
        """A Reply with its body encoded as TorchServe sends it, or TooLarge when that is over the limit.

        TorchServe's frontend refuses a worker message whose answer exceeds max_response_size, and
        kills the worker: every request of the batch would fail. Refusing the one answer keeps the rest.
        The KServe runtime applies the same limit to its answers (one contract for both runtimes).
        """
        if not isinstance(result, Reply):
            return result
        body = json.dumps(result.body) if isinstance(result.body, dict) else result.body
        body = body.encode("utf-8") if isinstance(body, str) else body
        limit = self.config.server.max_response_size
        if len(body) > limit:
            return TooLarge("the answer is too large to send",
                            f"the encoded answer is {len(body)} bytes and this server sends at most {limit}; "
                            f"{self.too_large_hint}")
        return Reply(body, result.content_type, result.headers)

    def _respond(self, context, idx: int, result) -> Any:
        if isinstance(result, ClosetError):
            self.metrics.error(result.reason)
            # Request id and bounded reason only: never the input (image bytes or option values).
            log.info("%s: request_id=%s refused: %s (%s)", self.name, _request_id(context, idx), result.reason,
                     result.status)
            context.set_response_status(result.status, result.message[:80], idx)
            context.set_response_content_type(idx, "application/json")
            return json.dumps(result.to_json())
        log.info("%s: request_id=%s ok (%s)", self.name, _request_id(context, idx), result.content_type)
        context.set_response_content_type(idx, result.content_type)
        for k, v in result.headers.items():
            context.set_response_header(idx, k, v)
        return result.body


def _request_id(context, idx: int) -> str:
    """TorchServe's id of request `idx` in the batch ('-' when the context has none)."""
    try:
        return str(context.get_request_id(idx) or "-")
    except (AttributeError, IndexError, KeyError, TypeError):
        return "-"


def kserve_reply(req: ParsedRequest, result: Reply | ClosetError, model_name: str,
                 request_id: str = "-") -> Reply | ClosetError:
    """A successful answer to a KServe v2/v1 body, formatted in its protocol; anything else unchanged."""
    if not kserve_v2.wants(req) or not isinstance(result, Reply):
        return result
    body = kserve_v2.format_reply(req, model_name, result.body, result.content_type, request_id)
    return Reply(body, "application/json", result.headers)


def internal_error() -> ClosetError:
    e = ClosetError("internal error", "the server failed on this request; it keeps serving")
    e.status = 500
    e.reason = "internal"
    return e


def _is_describe(context) -> bool:
    """True for TorchServe's customized-metadata request (header describe: True), as BaseHandler checks it."""
    try:
        return str(context.get_request_header(0, "describe")) == "True"
    except (AttributeError, IndexError, KeyError, TypeError):
        return False
