"""handlers/parsing.py with an SCHP checkpoint, in process (the served default is the pose-garment
parser: tests/serve/test_parsing_serve.py). The checkpoint has the official layout and random
weights, so only the contract is checked: parser name, label range, PNG and JSON shapes."""

from __future__ import annotations

import importlib.util
import io
import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from closet import parsing
from closet.config import REPO_ROOT
from closet_dev.mar import BUILD_INFO_NAME
from tests.support.reference import official_schp_checkpoint as official_checkpoint


class Context:
    """The parts of TorchServe's Context the handler uses, recording what it sets."""

    def __init__(self, model_dir, headers=None):
        self.system_properties = {"model_dir": str(model_dir), "gpu_id": None}
        self.metrics = None
        self.headers = headers or []
        self.status, self.content_type, self.response_headers = {}, {}, {}

    def get_all_request_header(self, idx):
        return self.headers[idx] if idx < len(self.headers) else {}

    def get_request_header(self, idx, key):
        return self.get_all_request_header(idx).get(key)

    def set_response_status(self, code, phrase, idx=0):
        self.status[idx] = code

    def set_response_content_type(self, idx, value):
        self.content_type[idx] = value

    def set_response_header(self, idx, key, value):
        self.response_headers.setdefault(idx, {})[key] = value


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("parsing-lip")
    official_checkpoint("lip", model_dir / "schp.pth", seed=3)
    (model_dir / BUILD_INFO_NAME).write_text(json.dumps({"settings": {"PARSER_DATASET": "lip"}}))
    spec = importlib.util.spec_from_file_location("parsing_handler", REPO_ROOT / "handlers" / "parsing.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    h = mod.ParsingHandler()
    h.initialize(Context(model_dir))
    return h, model_dir


def png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def test_schp_handler_batch_png_json_and_errors(handler):
    h, model_dir = handler
    assert h.describe()["parser"] == "schp-lip" and h.describe()["label_space"] == "lip"
    photo = skimage.data.astronaut()[:300]
    ctx = Context(model_dir, [{}, {"X-Closet-Output": "json"}, {}])
    out = h.handle([{"body": png(photo)}, {"body": png(photo)}, {"body": b"junk"}], ctx)  # one forward pass
    assert ctx.content_type[0] == "image/png" and ctx.response_headers[0]["X-Closet-Parser"] == "schp-lip"
    img = Image.open(io.BytesIO(out[0]))
    labels = np.asarray(img)
    assert img.mode == "P" and labels.shape == photo.shape[:2] and labels.max() < 20
    body = json.loads(out[1])
    assert body["parser"] == "schp-lip" and body["label_space"] == "lip"
    assert sum(d["pixels"] for d in body["labels"]) == photo.shape[0] * photo.shape[1]
    assert body["garment"]["pixels"] == int(parsing.garment_mask(labels, "lip").sum())
    assert ctx.status[2] == 400 and json.loads(out[2])["reason"] == "bad_image"


def test_customized_describe_request(handler):
    h, model_dir = handler
    out = h.handle([{"body": b""}], Context(model_dir, [{"describe": "True"}]))
    assert json.loads(out[0])["parser"] == "schp-lip"
