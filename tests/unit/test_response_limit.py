"""ClosetHandler refuses an answer over server.max_response_size for that request alone (fake context).

The handler under test answers `size` bytes of its choosing, so the edges are exact: an answer of
max_response_size bytes goes out, one byte more is a 413 too_large; the same for JSON answers and
for KServe v2 replies, whose base64 is 4/3 of the raw answer. The real-TorchServe version of this
test is tests/serve/test_response_limit_serve.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from closet import config as closet_config
from closet.serving import kserve_v2
from closet.serving.handler import ClosetHandler, Reply
from closet.serving.options import Option, boolean, integer
from tests.support.handlers import FakeContext

LIMIT = 1000


class Sized(ClosetHandler):
    """Answers `size` bytes (or a JSON object of `size` bytes with json=true)."""

    name = "sized"
    options = {"size": Option(integer(0, 10**6), 0), "json": Option(boolean, False)}

    def load(self, model_dir, context):
        pass

    def predict(self, batch):
        out = []
        for p in batch:
            n = p.options["size"]
            if p.options["json"]:
                out.append(Reply({"pad": "x" * (n - len('{"pad": ""}'))}))
            else:
                out.append(Reply(b"x" * n, "application/octet-stream"))
        return out


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    h = Sized()
    h.initialize(FakeContext(tmp_path_factory.mktemp("sized")))
    cfg = h.config
    h.config = dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, max_response_size=LIMIT))
    return h


def v2_body(size: int, rid: str) -> dict:
    return {"id": rid, "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                   "data": [base64.b64encode(b"img").decode()], "parameters": {"size": size}}]}


def test_the_limit_is_the_configured_one():
    assert closet_config.load().server.max_response_size > LIMIT  # the fixture lowers it


def test_edges_in_one_batch(handler):
    rows = [{"body": b"i", "size": str(LIMIT).encode()},
            {"body": b"i", "size": str(LIMIT + 1).encode()},
            {"body": b"i", "size": str(LIMIT).encode(), "json": b"true"},
            {"body": b"i", "size": str(LIMIT + 1).encode(), "json": b"true"},
            {"body": b"i", "size": b"10"}]
    ctx = FakeContext("unused")
    out = handler.handle(rows, ctx)
    assert len(out) == 5
    assert len(out[0]) == LIMIT and 0 not in ctx.status
    assert len(out[2]) == LIMIT and json.loads(out[2])["pad"] and 2 not in ctx.status
    for i in (1, 3):
        assert ctx.status[i][0] == 413 and ctx.content_type[i] == "application/json"
        err = json.loads(out[i])
        assert err["reason"] == "too_large"
        assert f"{LIMIT + 1} bytes" in err["detail"] and str(LIMIT) in err["detail"]
        assert handler.too_large_hint in err["detail"]
    assert out[4] == b"x" * 10  # the rest of the batch is answered


def test_kserve_v2_edges_count_the_base64(handler):
    raw = LIMIT * 3 // 4 - 200  # under the limit as raw bytes, and as base64 in its v2 reply
    probe_ctx = FakeContext("unused")
    base = len(handler.handle([{"body": v2_body(raw, "a")}], probe_ctx)[0])
    assert not probe_ctx.status and base < LIMIT and base > raw * 4 // 3
    # the reply echoes the request id, so its length sets the reply's size to the byte
    at, over = "a" * (LIMIT - base + 1), "a" * (LIMIT - base + 2)
    ctx = FakeContext("unused")
    out = handler.handle([{"body": v2_body(raw, at)}, {"body": v2_body(raw, over)}], ctx)
    assert len(out[0]) == LIMIT and 0 not in ctx.status
    reply = json.loads(out[0])
    assert base64.b64decode(reply["outputs"][0]["data"][0]) == b"x" * raw and reply["id"] == at
    assert ctx.status[1][0] == 413 and json.loads(out[1])["reason"] == "too_large"
    assert kserve_v2.OUTPUT_NAME == reply["outputs"][0]["name"]
