"""An answer over max_response_size is a 413 for that request alone; the worker and its batch live on.

Before, TorchServe's frontend refused the worker's message (TooLongFrameException), the worker died
and every request of its batch got 500 "Worker died." (issue 19). Here a second real TorchServe
serves closet.mar and segmentation.mar with a small max_response_size, set the way an operator sets
it: in a copy of config/closet.yaml that both the rendered config.properties and the handlers read
(CLOSET_CONFIG), so the test photos stay small:

- the edges, to the byte, through the check every model shares (the handler base): a KServe v2
  reply echoes the request id, so the id's length makes segmentation's v2 reply (the person cut
  out, RGBA PNG: deterministic bytes, unlike the ensemble's JSON with its timings) exactly
  max_response_size (200: TorchServe takes it) or one byte more (413); the base64 (4/3) is counted;
- a PNG answer over the limit, sent with 3 good requests that TorchServe batches with it: 413 for
  it, 200 for the 3, the same worker PID before and after, and no TooLongFrameException logged;
- the advice in the 413 works: the same photo with format=jpeg is answered.
"""

from __future__ import annotations

import base64
import io
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import yaml
from PIL import Image

from closet import config as closet_config
from closet.metrics import BATCH_SIZE
from closet_dev import configgen
from closet_dev.torchserve import MODEL_STORE, ephemeral
from tests.support.openapi import check_response

pytestmark = pytest.mark.serve
MODEL = closet_config.ENSEMBLE
EDGE_MODEL = closet_config.SEGMENTATION
PATH = f"/predictions/{MODEL}"
ID_AT_LIMIT = 10  # characters of the v2 id that bring the probe's reply exactly to the limit


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def v2(photo: bytes, rid: str) -> dict:
    """segmentation's person cut-out (output=rgba) as a KServe v2 request with id `rid`."""
    return {"id": rid, "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                   "data": [base64.b64encode(photo).decode()], "parameters": {"output": "rgba"}}]}


@pytest.fixture(scope="module")
def small(astronaut) -> bytes:
    return png(astronaut)  # 512 x 512


@pytest.fixture(scope="module")
def big(astronaut) -> bytes:
    return png(np.asarray(Image.fromarray(astronaut).resize((1024, 1024), Image.Resampling.BICUBIC)))


@pytest.fixture(scope="module")
def blocker(astronaut) -> bytes:
    """A 9 MP camera JPEG: it keeps the worker busy for 1-1.6 s (in process), twice the test's sleep
    or more. Its answer may be over the limit too: it only has to take the worker's time."""
    buf = io.BytesIO()
    Image.fromarray(astronaut).resize((3000, 3000), Image.Resampling.BICUBIC).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def limit(torchserve, small) -> int:
    """A max_response_size that the small photo's v2 cut-out reply with a 10-character id just reaches."""
    r = torchserve.predict(EDGE_MODEL, json=v2(small, "a"))
    assert r.status_code == 200, r.text
    return len(r.content) - 1 + ID_AT_LIMIT


def batch_counts(ts) -> tuple[float, float, float]:
    """(count, sum, batches of exactly 1) of closet_batch_size for the ensemble."""
    text = ts.metrics_text()
    out = []
    for series in ("count", "sum", 'bucket{model_name="%s",[^}]*le="1.0"' % MODEL):
        pattern = rf'^{BATCH_SIZE.name}_{series}' + ("" if "bucket" in series else rf'{{model_name="{MODEL}",[^}}]*')
        m = re.search(pattern + r'[^ ]* ([0-9.eE+-]+)$', text, re.M)
        out.append(float(m.group(1)) if m else 0.0)
    return tuple(out)


@pytest.fixture(scope="module")
def limited(tmp_path_factory, torchserve, limit):
    torchserve.require(MODEL)
    torchserve.require(EDGE_MODEL)
    workdir = tmp_path_factory.mktemp("response-limit")
    raw = yaml.safe_load(closet_config.DEFAULT_PATH.read_text(encoding="utf-8"))
    raw["server"]["max_response_size"] = limit
    path = workdir / closet_config.CONFIG_FILENAME
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    cfg = closet_config.load(path)

    def properties(ports, store):
        return configgen.render_properties(cfg, "local", ports=ports, model_store=str(store),
                                           metrics_config=str(closet_config.REPO_ROOT / configgen.METRICS_CONFIG_PATH))

    with ephemeral(workdir / "ts", [MODEL_STORE / f"{m}.mar" for m in (MODEL, EDGE_MODEL)], properties=properties,
                   extra_env={"CLOSET_CONFIG": str(path)}) as ts:
        assert f"max_response_size={limit}" in (workdir / "ts" / "config.properties").read_text()
        yield ts


def test_edges_to_the_byte(limited, small, limit):
    pids = limited.worker_pids(EDGE_MODEL)
    probe = limited.predict(EDGE_MODEL, json=v2(small, "a"))
    assert probe.status_code == 200, probe.text[:300]
    base = len(probe.content)
    assert base <= limit
    at = limited.predict(EDGE_MODEL, json=v2(small, "a" * (limit - base + 1)))
    over = limited.predict(EDGE_MODEL, json=v2(small, "a" * (limit - base + 2)))
    assert at.status_code == 200 and len(at.content) == limit, (at.status_code, at.text[:300], base, limit)
    answer = at.json()["outputs"][0]["data"][0]
    assert len(base64.b64decode(answer)) < limit < len(answer) + 200  # the base64 is what counts
    assert Image.open(io.BytesIO(base64.b64decode(answer))).mode == "RGBA"
    assert over.status_code == 413 and over.headers["content-type"] == "application/json", over.text[:300]
    err = over.json()
    assert err["reason"] == "too_large" and f"{limit + 1} bytes" in err["detail"] and str(limit) in err["detail"]
    assert limited.worker_pids(EDGE_MODEL) == pids


BATCH_ATTEMPTS = 3


def test_oversize_answer_fails_alone_in_its_batch(limited, small, big, blocker, limit):
    pids = limited.worker_pids(MODEL)
    # The blocker keeps the worker busy while the four below queue up: they then form one batch.
    # (The small photo took about as long as the sleep; the big one as a JPEG, 0.6-0.8 s, once let
    # the three small ones go as a batch of their own on a loaded machine, the big one after them;
    # on a box busy with another test run, the 9 MP blocker once let one of the four go alone.)
    # That batch is the setting, not the finding: it is sent again, up to BATCH_ATTEMPTS times,
    # until the four go as one batch, and what is asserted below is asserted of that batch.
    batches = []
    for _ in range(BATCH_ATTEMPTS):
        count0, sum0, ones0 = batch_counts(limited)
        busy = threading.Thread(target=limited.predict, args=(MODEL,),
                                kwargs={"data": blocker, "headers": {"X-Closet-Format": "jpeg"}})
        busy.start()
        time.sleep(0.5)
        calls = [dict(data=big)] + [dict(data=small)] * 3
        with ThreadPoolExecutor(len(calls)) as pool:
            rs = list(pool.map(lambda kw: limited.predict(MODEL, **kw), calls))
        busy.join()
        count1, sum1, ones1 = batch_counts(limited)
        batches.append((count1 - count0, sum1 - sum0, ones1 - ones0))
        if batches[-1] == (2, 5, 1):
            break
    assert batches[-1] == (2, 5, 1), f"expected batches of 1 and 4; (count, sum, ones) per attempt: {batches}"
    oversize, good = rs[0], rs[1:]
    assert oversize.status_code == 413, oversize.text[:300]
    err = check_response(PATH, oversize)
    assert err["reason"] == "too_large" and "format=jpeg" in err["detail"], err
    for r in good:
        assert r.status_code == 200, r.text[:300]
        check_response(PATH, r)
        assert Image.open(io.BytesIO(r.content)).size == (512, 512) and len(r.content) <= limit
    assert len({r.headers["X-Closet-Timing"] for r in good}) == 1  # one batch: one timing line
    assert limited.worker_pids(MODEL) == pids
    log = (limited.log_dir / "ts_log.log").read_text(encoding="utf-8", errors="replace")
    assert "TooLongFrameException" not in log and "Message size exceed limit" not in log


def test_the_advice_works(limited, big, limit):
    r = limited.predict(MODEL, data=big, headers={"X-Closet-Format": "jpeg"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and len(r.content) <= limit
