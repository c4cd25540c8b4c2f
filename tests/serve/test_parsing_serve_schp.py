"""The SCHP path end to end: a MAR built with PARSER_CKPT (an official-layout LIP file with random
weights) served by its own real TorchServe. Slow (a 250 MB MAR): marked slow, so not in `make test`."""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
import skimage.data
from PIL import Image

from closet_dev import mar
from closet_dev.torchserve import ephemeral
from tests.support.reference import official_schp_checkpoint as official_checkpoint

pytestmark = [pytest.mark.serve, pytest.mark.slow]


@pytest.fixture(scope="module")
def schp_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("schp-mar")
    ckpt = root / "exp-schp-lip-random.pth"
    official_checkpoint("lip", ckpt, seed=5)
    store = root / "store"
    env = {"PARSER_CKPT": str(ckpt), "PARSER_DATASET": "lip"}
    with ephemeral(root / "ts", [mar.build("parsing", store=store, env=env, stage_dir=root / "stage")]) as session:
        yield session


def test_schp_mar_serves_png_json_and_metadata(schp_server):
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, format="PNG")
    r = schp_server.predict("parsing", data=buf.getvalue(), timeout=300)
    assert r.status_code == 200, r.text
    assert r.headers["X-Closet-Parser"] == "schp-lip"
    img = Image.open(io.BytesIO(r.content))
    assert img.mode == "P" and img.size == (512, 512) and np.asarray(img).max() < 20
    r = schp_server.predict("parsing", data=buf.getvalue(), headers={"X-Closet-Output": "json"}, timeout=300)
    assert r.status_code == 200 and r.json()["parser"] == "schp-lip" and r.json()["label_space"] == "lip"
    meta = requests.get(f"{schp_server.management_url}/models/parsing?customized=true", timeout=30).json()[0]
    assert "schp-lip" in str(meta["customizedMetadata"])
