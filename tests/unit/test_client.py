"""closet_client.ClosetClient against a real local HTTP server: retries with backoff on 503/507, error
decoding, the wire format of both protocols (checked against openapi/closet.yaml), and the error sentences."""

from __future__ import annotations

import base64
import io
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest
import yaml
from PIL import Image

from closet_client import ApiError, ClosetClient, explain
from closet_client.client import parse_timings
from closet_client.messages import detail_text

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi" / "closet.yaml").read_text())
TIMING = "decode=0.0100;segmentation=0.5000;parsing=0.1000;translation=0.0200;composite=0.1000;encode=0.0300"


def png(color=(200, 30, 30), size=(8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


class Script:
    """What the server answers, in order (the last answer repeats), and what it was sent."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def next(self, request: dict):
        with self.lock:
            self.requests.append(request)
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def server():
    """A real HTTP server on a free loopback port; `serve(answers)` returns (base_url, script)."""
    servers = []

    def serve(answers):
        script = Script(answers)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, payload = script.next(
                    {"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # keep pytest output clean
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}", script

    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def image_reply(data: bytes = b"") -> tuple:
    return 200, {"Content-Type": "image/png", "X-Closet-Timing": TIMING, "X-Closet-Parser": "pose-garment"}, data or png()


def error_reply(status: int, body: dict) -> tuple:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


BUSY = error_reply(503, {"code": 503, "type": "ServiceUnavailableException", "message": "Model \"closet\" is busy"})
OOM = error_reply(507, {"code": 507, "type": "InsufficientStorage", "message": "worker out of memory"})


def multipart_fields(request: dict) -> dict[str, bytes]:
    head = f"Content-Type: {request['headers']['Content-Type']}\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + request["body"])
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in msg.iter_parts()}


def test_503_then_200_is_retried_with_backoff(server):
    url, script = server([BUSY, BUSY, image_reply()])
    result = ClosetClient(url, retries=3, backoff=0.01).swap(png(), target="coat")
    assert len(script.requests) == 3
    assert Image.open(io.BytesIO(result.image)).size == (8, 6)
    assert result.parser == "pose-garment"
    assert result.timings["segmentation"] == 0.5


def test_507_is_retried_too(server):
    url, script = server([OOM, image_reply()])
    ClosetClient(url, retries=2, backoff=0.01).swap(png())
    assert len(script.requests) == 2


def test_busy_through_every_retry_raises_the_last_answer(server):
    url, script = server([BUSY])
    with pytest.raises(ApiError) as e:
        ClosetClient(url, retries=2, backoff=0.01).swap(png())
    assert len(script.requests) == 3  # the first attempt and two retries
    assert (e.value.status, e.value.reason) == (503, "busy")
    assert "busy" in explain(e.value)


def test_a_refusal_is_final_and_decoded(server):
    body = {"error": "no person found in the image", "reason": "no_person",
            "detail": {"parser": "pose-garment", "hint": "send a photo in which a person is visible, upper body included"}}
    url, script = server([error_reply(422, body), image_reply()])
    with pytest.raises(ApiError) as e:
        ClosetClient(url, retries=3, backoff=0.01).swap(png())
    assert len(script.requests) == 1
    assert (e.value.status, e.value.reason, e.value.error) == (422, "no_person", "no person found in the image")
    assert explain(e.value) == ("No person was found in the photo. Send a photo in which a person is visible, "
                                "upper body included. (no person found in the image)")


def test_torchserve_frontend_413_reads_as_too_large(server):
    url, _ = server([(413, {}, b"")])  # what TorchServe 0.12 sends for a body over max_request_size
    with pytest.raises(ApiError) as e:
        ClosetClient(url, retries=0).swap(png())
    assert e.value.reason == "too_large" and explain(e.value).startswith("The photo is too large.")


def test_unreachable_server_is_an_api_error():
    with pytest.raises(ApiError) as e:
        ClosetClient("http://127.0.0.1:1", retries=0, timeout=2).swap(png())
    assert (e.value.status, e.value.reason) == (0, "unreachable")


def test_rest_request_is_the_documented_multipart(server):
    url, script = server([image_reply()])
    ClosetClient(url).swap(png(), target="dress", seed=7, preserve_color=False, format="webp",
                           options={"mode": "latent"})
    req = script.requests[0]
    assert req["path"] == "/predictions/closet"
    fields = multipart_fields(req)
    assert fields["image"] == png()
    assert {k: v.decode() for k, v in fields.items() if k != "image"} == {
        "target": "dress", "seed": "7", "preserve_color": "false", "format": "webp", "mode": "latent"}
    schema = SPEC["paths"]["/predictions/closet"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(fields) <= set(schema["properties"])


def test_v2_request_matches_the_spec_and_its_reply_decodes(server):
    result_json = {"image": base64.b64encode(png()).decode(), "content_type": "image/png",
                   "person_mask": base64.b64encode(png((255, 255, 255))).decode(),
                   "garment_mask": base64.b64encode(png((0, 0, 0))).decode(), "box": [0, 0, 8], "target": "coat",
                   "mode": "reference", "seed": None, "preserve_color": True, "parser": "pose-garment",
                   "width": 8, "height": 6, "timings": parse_timings(TIMING)}
    v2 = {"id": "x", "model_name": "closet", "outputs": [{"name": "result", "datatype": "BYTES", "shape": [1],
                                                          "data": [json.dumps(result_json)]}]}
    url, script = server([(200, {"Content-Type": "application/json"}, json.dumps(v2).encode())])
    result = ClosetClient(url, protocol="v2").swap(png(), target="coat", reference=png((1, 2, 3)))
    req = script.requests[0]
    assert req["path"] == "/v2/models/closet/infer"
    body = json.loads(req["body"])
    jsonschema.Draft202012Validator({"components": SPEC["components"],
                                     "$ref": "#/components/schemas/V2Request"}).validate(body)
    assert base64.b64decode(body["inputs"][0]["data"][0]) == png()
    assert base64.b64decode(body["parameters"]["reference"]) == png((1, 2, 3))
    assert (result.mode, result.box, result.width) == ("reference", [0, 0, 8], 8)
    assert result.person_mask == png((255, 255, 255))


def test_parse_timings_skips_junk():
    assert parse_timings("decode=0.5;bad;x=y;encode=1") == {"decode": 0.5, "encode": 1.0}
    assert parse_timings(None) == {}


@pytest.mark.parametrize("detail, text", [
    (None, ""),
    ("send a PNG", "send a PNG"),
    ({"allowed": ["coat", "dress"]}, "Allowed: coat, dress"),
    ({"hint": "smile"}, "smile"),
    ({"width": 9000, "max_side": 8000}, "width: 9000; max_side: 8000"),
])
def test_detail_text(detail, text):
    assert detail_text(detail) == text


def test_protocol_is_checked():
    with pytest.raises(ValueError):
        ClosetClient("http://127.0.0.1:1", protocol="grpc")
