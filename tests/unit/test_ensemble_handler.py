"""handlers/ensemble.py with a FakeContext (no TorchServe): one reply per row, headers, v2 rows, errors."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from closet.config import ENSEMBLE
from closet.stages.translate import STARGAN_META
from tests.support.handlers import FakeContext, archive_files, load_handler_module, model_dir

FILES = archive_files(ENSEMBLE)
pytestmark = pytest.mark.skipif(not all(p.is_file() for p in FILES.values()),
                                reason="needs `make weights` and assets/stargan-fmnist")


@pytest.fixture(scope="module")
def handler_and_photo(tmp_path_factory):
    import skimage.data

    d = model_dir(tmp_path_factory.mktemp("closet-model"), ENSEMBLE)
    h = load_handler_module(ENSEMBLE).EnsembleHandler()
    h.initialize(FakeContext(d))
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, format="PNG")
    return h, d, buf.getvalue()


def test_batch_of_plain_v2_and_bad_rows(handler_and_photo):
    h, d, photo = handler_and_photo
    rows = [
        {"body": photo},
        # a KServe v2 body, as TorchServe hands over a decoded application/json request (no envelope)
        {"body": {"id": "v2-1", "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                            "data": [base64.b64encode(photo).decode()],
                                            "parameters": {"target": "dress", "seed": 4}}]}},
        {"body": photo},
        {"body": b"garbage"},
    ]
    ctx = FakeContext(d, headers=[{}, {}, {"X-Closet-Target": "hat"}, {}])
    out = h.handle(rows, ctx)
    assert len(out) == 4
    assert ctx.content_type[0] == "image/png" and isinstance(out[0], bytes)
    timing = ctx.headers_out[0]["X-Closet-Timing"]
    assert [kv.split("=")[0] for kv in timing.split(";")] == [
        "decode", "segmentation", "parsing", "translation", "composite", "encode"]
    assert ctx.headers_out[0]["X-Closet-Parser"] == "pose-garment"
    doc = json.loads(out[1])
    assert doc["id"] == "v2-1" and doc["model_name"] == "closet" and doc["outputs"][0]["datatype"] == "BYTES"
    v2 = json.loads(doc["outputs"][0]["data"][0])
    assert ctx.content_type[1] == "application/json" and v2["target"] == "dress" and v2["seed"] == 4
    assert np.asarray(Image.open(io.BytesIO(base64.b64decode(v2["image"])))).shape == (512, 512, 3)
    assert ctx.status[2][0] == 400 and json.loads(out[2])["reason"] == "unknown_target"
    assert ctx.status[3][0] == 400 and json.loads(out[3])["reason"] == "bad_image"
    recorded = {name for name, _, _ in h.metrics.recorded}
    assert {"closet_stage_seconds", "closet_parser_total", "closet_requests_total", "closet_batch_size"} <= recorded


def test_describe_lists_targets(handler_and_photo):
    h, _, _ = handler_and_photo
    meta = json.loads(h.describe_handle())
    assert meta["targets"] == json.loads(FILES[STARGAN_META.name].read_text())["domains"]
    assert meta["parser"] == "pose-garment"
