"""handlers/translation.py in process (FakeContext): a mixed batch is answered in order, one generator pass."""

from __future__ import annotations

import io
import json
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from closet.config import REPO_ROOT, TRANSLATION
from tests.support.handlers import FakeContext, load_handler_module
from tests.support.handlers import model_dir as make_model_dir

ASSETS = REPO_ROOT / "assets" / "stargan-fmnist"


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    model_dir = make_model_dir(tmp_path_factory.mktemp("translation"), TRANSLATION)
    h = load_handler_module(TRANSLATION).TranslationHandler()
    h.initialize(FakeContext(model_dir))
    return h, model_dir


@contextmanager
def network_inputs(translator, name: str):
    """The first input of each pass of the translator's network `name` (generator, style_encoder):
    its export's (the served default on CPU) or its module's."""
    seen = []
    run = translator.exports.get(name)
    if run is None:
        hook = getattr(translator.nets, name).register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    else:
        translator.exports[name] = lambda x, *rest: (seen.append(x), run(x, *rest))[1]
    try:
        yield seen
    finally:
        if run is None:
            hook.remove()
        else:
            translator.exports[name] = run


def sample(name: str) -> bytes:
    return (ASSETS / "samples" / f"{name}.png").read_bytes()


def test_mixed_batch_in_order_with_one_generator_pass(handler):
    h, model_dir = handler
    rows = [
        {"body": sample("tshirt"), "target": b"dress", "seed": b"3"},
        {"image": sample("coat"), "reference": sample("pullover"), "target": b"pullover", "mode": b"reference"},
        {"body": b"not an image", "target": b"dress"},
        {"body": sample("shirt"), "target": b"skirt"},
        {"body": sample("shirt")},
    ]
    ctx = FakeContext(model_dir, headers=[{}, {}, {}, {}, {"X-Closet-Target": "coat", "X-Closet-Seed": "3"}])
    with network_inputs(h.translator, "generator") as seen:
        out = h.handle(rows, ctx)
    assert [x.shape[0] for x in seen] == [3]  # the three valid requests ran as one generator batch
    assert len(out) == 5
    for i in (0, 1, 4):
        assert ctx.content_type[i] == "image/png" and i not in ctx.status
        assert np.asarray(Image.open(io.BytesIO(out[i]))).shape == (32, 32)
    assert ctx.headers_out[0]["X-Closet-Seed"] == "3" and ctx.headers_out[4]["X-Closet-Target"] == "coat"
    assert ctx.status[2][0] == 400 and json.loads(out[2])["reason"] == "bad_image"
    err = json.loads(out[3])
    assert ctx.status[3][0] == 400 and err["reason"] == "unknown_target"
    assert err["detail"]["allowed"] == h.translator.nets.domains


def test_batched_equals_alone(handler):
    h, model_dir = handler
    row = {"body": sample("tshirt"), "target": b"coat", "seed": b"11"}
    alone = h.handle([row], FakeContext(model_dir))[0]
    batched = h.handle([{"body": sample("dress"), "target": b"shirt"}, row], FakeContext(model_dir))[1]
    a = np.asarray(Image.open(io.BytesIO(alone)), dtype=int)
    b = np.asarray(Image.open(io.BytesIO(batched)), dtype=int)
    assert np.abs(a - b).max() <= 1  # same pixels up to float rounding across batch sizes


def test_describe_without_image(handler):
    h, model_dir = handler
    ctx = FakeContext(model_dir)
    out = h.handle([{"describe": b"true"}], ctx)
    body = json.loads(out[0])
    assert body["domains"] == h.translator.nets.domains and body["modes"] == ["latent", "reference"]
    assert json.loads(h.describe_handle())["domains"] == h.translator.nets.domains


def test_reference_file_implies_reference_mode_like_closet(handler):
    """Same rule as /predictions/closet (closet.stages.translate.resolve_mode): a reference file alone
    means mode=reference; mode=latent with one, or mode=reference without one, is a 400."""
    h, model_dir = handler
    rows = [
        {"image": sample("coat"), "reference": sample("pullover"), "target": b"pullover"},
        {"image": sample("coat"), "reference": sample("pullover"), "target": b"pullover", "mode": b"reference"},
        {"image": sample("coat"), "reference": sample("pullover"), "target": b"pullover", "mode": b"latent"},
        {"image": sample("coat"), "target": b"pullover", "mode": b"reference"},
        {"image": sample("coat"), "reference": sample("pullover"), "target": b"pullover", "seed": b"3"},
    ]
    ctx = FakeContext(model_dir)
    out = h.handle(rows, ctx)
    assert 0 not in ctx.status and ctx.headers_out[0]["X-Closet-Mode"] == "reference"
    assert "X-Closet-Seed" not in ctx.headers_out[0]
    assert out[0] == out[1]  # implied and explicit reference mode: the same answer
    for i, word in ((2, "conflicts"), (3, "needs"), (4, "seed")):
        err = json.loads(out[i])
        assert ctx.status[i][0] == 400 and err["reason"] == "bad_option" and word in err["error"], err


def test_v2_body_on_translation_gets_a_v2_reply_with_a_base64_png(handler):
    import base64

    h, model_dir = handler
    body = {"id": "t1", "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                    "data": [base64.b64encode(sample("coat")).decode()],
                                    "parameters": {"target": "dress", "seed": 2}}]}
    ctx = FakeContext(model_dir)
    out = h.handle([{"body": body}, {"body": sample("coat"), "target": b"dress", "seed": b"2"}], ctx)
    doc = json.loads(out[0])
    assert ctx.content_type[0] == "application/json" and doc["id"] == "t1" and doc["model_name"] == "translation"
    (o,) = doc["outputs"]
    assert o["parameters"]["content_type"] == "image/png"
    assert base64.b64decode(o["data"][0]) == out[1]  # same request as a plain one in the same batch
    assert ctx.content_type[1] == "image/png"


def test_bad_json_bodies_keep_their_own_error(handler):
    h, model_dir = handler
    rows = [{"body": {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["%%%"]}]}},
            {"body": {"instances": [{"b64": "%%"}]}}, {"body": {"foo": 1}}]
    ctx = FakeContext(model_dir)
    out = h.handle(rows, ctx)
    for i in range(3):
        err = json.loads(out[i])
        assert ctx.status[i][0] == 400 and err["reason"] == "bad_image", err  # not the describe fallback's error


def test_colour_photo_reaches_the_grayscale_demo_as_equal_channels(handler):
    """Sidecar grayscale: a colour image (and a colour reference) get luminance replicated to 3 channels."""
    h, model_dir = handler
    assert h.translator.nets.meta.get("grayscale") is True
    seen = {}
    rng = np.random.default_rng(2)
    arr = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    arr[..., 2] = 255

    def png(a):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, "PNG")
        return buf.getvalue()

    rows = [{"body": png(arr), "target": b"dress", "seed": b"1"},
            {"image": png(arr), "reference": png(arr[::-1].copy()), "target": b"coat"}]
    with network_inputs(h.translator, "generator") as seen["gen"], \
            network_inputs(h.translator, "style_encoder") as seen["enc"]:
        out = h.handle(rows, FakeContext(model_dir, headers=[{}, {}]))
    assert len(out) == 2 and len(seen["gen"]) == 1 and len(seen["enc"]) == 1
    for x in (seen["gen"][0], seen["enc"][0]):
        assert x.shape[1] == 3 and bool((x[:, 0] == x[:, 1]).all()) and bool((x[:, 1] == x[:, 2]).all())
