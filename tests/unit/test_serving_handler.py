"""ClosetHandler + the segmentation handler with a fake TorchServe context (no server)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from closet.errors import BadImage, BadOption
from closet.models.u2net import build
from closet.serving.options import Option, choice, parse_request
from tests.support.handlers import FakeContext, load_handler_module


def png(w: int, h: int, seed: int = 0) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


SPEC = {"output": Option(choice("mask", "rgba"), "mask")}


def test_options_from_field_header_or_default():
    assert parse_request({"body": b"x"}, {}, SPEC).options == {"output": "mask"}
    assert parse_request({"image": b"x", "output": b"RGBA"}, {}, SPEC).options == {"output": "rgba"}
    assert parse_request({"body": b"x"}, {"X-Closet-Output": "rgba"}, SPEC).options == {"output": "rgba"}
    # The same value both ways is fine; different values conflict.
    assert (
        parse_request({"image": b"x", "output": "rgba"}, {"x-closet-output": "rgba"}, SPEC).options["output"] == "rgba"
    )
    with pytest.raises(BadOption):
        parse_request({"image": b"x", "output": "rgba"}, {"X-Closet-Output": "mask"}, SPEC)


@pytest.mark.parametrize(
    "row, headers, error",
    [
        ({"body": b"x"}, {"X-Closet-Output": "sepia"}, BadOption),
        ({"body": b"x"}, {"X-Closet-Nope": "1"}, BadOption),
        ({"image": b"x", "colour": b"red"}, {}, BadOption),
        ({"body": b"x"}, {"X-Closet-Output": "m" * 100}, BadOption),
        ({"body": b"x", "image": b"y"}, {}, BadOption),
        ({"output": b"mask"}, {}, BadImage),
    ],
)
def test_bad_requests_raise_typed_errors(row, headers, error):
    with pytest.raises(error):
        parse_request(row, headers, SPEC)


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    """The segmentation handler on random-init U^2-Net-P weights (shapes matter here, not quality)."""
    model_dir = tmp_path_factory.mktemp("segmentation")
    torch.manual_seed(0)
    torch.save(build("u2netp").state_dict(), model_dir / "u2net.pth")
    module = load_handler_module("segmentation")
    h = module.SegmentationHandler()
    h.initialize(FakeContext(model_dir))
    assert h.initialized and h.device.type == "cpu"
    return h


def test_warm_up_answers_the_archive_photo_once_and_records_no_metric(tmp_path, monkeypatch, caplog):
    from closet.archive import WARM_UP_PHOTO, WARM_UP_SOURCE
    from closet.config import REPO_ROOT

    torch.manual_seed(0)
    torch.save(build("u2netp").state_dict(), tmp_path / "u2net.pth")
    (tmp_path / WARM_UP_PHOTO).write_bytes((REPO_ROOT / WARM_UP_SOURCE).read_bytes())
    h = load_handler_module("segmentation").SegmentationHandler()
    seen = []
    predict = h.predict
    monkeypatch.setattr(h, "predict", lambda batch: seen.append(len(batch)) or predict(batch))
    with caplog.at_level("INFO"):
        h.initialize(FakeContext(tmp_path))
    assert seen == [1] and "segmentation: warm-up request answered" in caplog.text
    assert h.metrics.recorded == []  # the warm-up is not traffic


def test_batch_gives_one_reply_per_request_in_order(handler):
    rows = [
        {"body": png(40, 30)},
        {"body": b"not an image"},
        {"image": png(20, 50, 1), "output": b"rgba"},
        {"body": b""},
    ]
    ctx = FakeContext("unused", headers=[{}, {}, {}, {"X-Closet-Output": "mask"}])
    before = len(handler.metrics.recorded)
    out = handler.handle(rows, ctx)
    assert len(out) == 4
    mask = np.asarray(Image.open(io.BytesIO(out[0])))
    assert mask.shape == (30, 40) and mask.dtype == np.uint8
    assert ctx.content_type[0] == "image/png" and 0 not in ctx.status
    rgba = np.asarray(Image.open(io.BytesIO(out[2])))
    assert rgba.shape == (50, 20, 4)
    for idx in (1, 3):
        assert ctx.status[idx][0] == 400 and ctx.content_type[idx] == "application/json"
        body = json.loads(out[idx])
        assert body["reason"] == "bad_image" and {"error", "detail"} <= set(body)
    names = [name for name, _, _ in handler.metrics.recorded[before:]]
    assert names.count("closet_requests_total") == 2 and names.count("closet_errors_total") == 2
    stages = {dims[1] for name, _, dims in handler.metrics.recorded[before:] if name == "closet_stage_seconds"}
    assert {"decode", "segmentation", "encode", "handler"} <= stages


def test_predict_runs_the_batch_as_one_forward_pass(handler, monkeypatch):
    calls = []
    net = handler.segmenter.net
    monkeypatch.setattr(handler.segmenter, "net", lambda x: calls.append(x.shape[0]) or net(x))
    handler.handle([{"body": png(16, 16, i)} for i in range(3)], FakeContext("unused"))
    assert calls == [3]


def test_too_large_is_413(handler):
    big = Image.new("L", (handler.config.limits.max_side + 1, 1))
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    ctx = FakeContext("unused")
    out = handler.handle([{"body": buf.getvalue()}], ctx)
    assert ctx.status[0][0] == 413 and json.loads(out[0])["reason"] == "too_large"


@pytest.mark.gpu
def test_loads_on_cuda_when_torchserve_assigns_a_gpu(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch.save(build("u2netp").state_dict(), tmp_path / "u2net.pth")
    h = load_handler_module("segmentation").SegmentationHandler()
    h.initialize(FakeContext(tmp_path, gpu_id=0))
    assert h.device.type == "cuda" and h.segmenter.runtime == "torch"
    assert next(h.segmenter.net.module.parameters()).is_cuda
    ctx = FakeContext("unused")
    out = h.handle([{"body": png(64, 48)}], ctx)
    assert np.asarray(Image.open(io.BytesIO(out[0]))).shape == (48, 64)
