"""Benchmark the closet ensemble (`make bench-ensemble`); prints one report, measured in one run.

1. in-process: Ensemble.run on a 512x512 photo (skimage astronaut), p50 per stage and total;
2. HTTP: p50 of POST /predictions/closet on a temporary TorchServe, and HTTP / in-process;
3. throughput at concurrency 4: the ensemble vs a client chaining segmentation -> parsing ->
   translation over HTTP (crop and composite done by the client with the same closet.stages.composite code);
4. throughput at concurrency 8: closet with batchSize 4 vs batchSize 1 (a copy of closet.mar whose
   model-config says batchSize 1, its manifest entry updated; served by the same TorchServe).

TorchServe runs on free loopback ports with a private model store and is stopped at the end.
Numbers on a shared 2-core CPU are noisy: the report prints the load average next to them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from closet import config as closet_config
from closet import ensemble, parsing
from closet.archive import MANIFEST_NAME
from closet.config import ENSEMBLE, MODEL_NAMES
from closet.imageio import decode_image, encode_image
from closet.stages import composite
from closet_dev.torchserve import ephemeral

log = logging.getLogger("bench_ensemble")
REPO = closet_config.REPO_ROOT
STORE = REPO / "model-store"
B1 = "closet_b1"


def photo_png() -> bytes:
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, format="PNG")  # 512 x 512
    return buf.getvalue()


def p50(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# -- 1. in-process ---------------------------------------------------------------
def load_ensemble(mar: Path) -> ensemble.Ensemble:
    import torch

    with tempfile.TemporaryDirectory() as d:
        zipfile.ZipFile(mar).extractall(d)
        lim = closet_config.load().limits
        return ensemble.Ensemble.load(d, torch.device("cpu"), lim.max_pixels, lim.max_side)


def in_process_once(ens: ensemble.Ensemble, req: ensemble.Request) -> tuple[float, dict[str, float]]:
    """(total seconds, seconds per stage) of one Ensemble.run on one request."""
    cur: dict[str, float] = {}

    @contextmanager
    def timer(stage):
        t = time.perf_counter()
        yield
        cur[stage] = time.perf_counter() - t

    t0 = time.perf_counter()
    out = ens.run([req], timer)[0]
    total = time.perf_counter() - t0
    assert isinstance(out, ensemble.Output), out
    return total, cur


# -- TorchServe -------------------------------------------------------------------
def b1_mar(src: Path, dst: Path) -> None:
    """Copy the ensemble archive with batchSize 1 in its model-config (and the manifest hash to match)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        files = {n: zin.read(n) for n in zin.namelist()}
        cfg_name = "closet-model-config.yaml"
        text = files[cfg_name].decode()
        files[cfg_name] = "\n".join("batchSize: 1" if ln.startswith("batchSize:") else ln
                                    for ln in text.splitlines()).encode() + b"\n"
        man = json.loads(files[MANIFEST_NAME])
        man["files"][cfg_name] = hashlib.sha256(files[cfg_name]).hexdigest()
        files[MANIFEST_NAME] = (json.dumps(man, indent=2, sort_keys=True) + "\n").encode()
        mf = json.loads(files["MAR-INF/MANIFEST.json"])
        mf["model"]["modelName"] = B1
        files["MAR-INF/MANIFEST.json"] = json.dumps(mf).encode()
        for n, data in files.items():
            zout.writestr(n, data)


def torchserve(tmp: Path):
    """The four archives plus a batchSize-1 copy of the ensemble, on an ephemeral TorchServe."""
    b1_mar(STORE / f"{ENSEMBLE}.mar", tmp / f"{B1}.mar")
    return ephemeral(tmp / "ts", [*(STORE / f"{m}.mar" for m in MODEL_NAMES), tmp / f"{B1}.mar"], timeout=900)


def post(url: str, **kw) -> requests.Response:
    r = requests.post(url, timeout=600, **kw)
    if r.status_code != 200:
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
    return r


def chained(base: str, photo: bytes, target: str) -> bytes:
    """The same job through the single-model endpoints, client-side crop and composite."""
    image = np.asarray(decode_image(photo, 10**8, 10**5))
    person = np.asarray(Image.open(io.BytesIO(post(f"{base}/predictions/segmentation", data=photo).content))) >= 128
    labels = np.asarray(Image.open(io.BytesIO(post(f"{base}/predictions/parsing", data=photo).content)))
    garment = parsing.garment_mask(labels, parsing.POSE_LABEL_SPACE)
    box = composite.crop_box(garment)
    crop = composite.crop(image, garment, box, 32)
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, format="PNG")
    r = post(f"{base}/predictions/translation", data=buf.getvalue(),
             headers={"X-Closet-Target": target, "X-Closet-Seed": "0"})
    translated = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
    out = composite.composite(image, translated, box, garment, person)
    return encode_image(out, "png")[0]


def throughput(fn, n: int, concurrency: int) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: fn(), range(n)))
    return n / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="latency samples per measurement")
    ap.add_argument("--requests", type=int, default=8, help="requests per throughput measurement")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for m in MODEL_NAMES:
        if not (STORE / f"{m}.mar").is_file():
            log.error("model-store/%s.mar missing: run `make mars`", m)
            return 2
    photo = photo_png()
    res: dict = {"load_before": os.getloadavg()}
    ens = load_ensemble(STORE / f"{ENSEMBLE}.mar")
    target = ens.translator.domains[0]
    req = ensemble.Request(image=photo, target=target)
    with tempfile.TemporaryDirectory() as d, torchserve(Path(d)) as ts:
        base = ts.inference_url
        url = f"{base}/predictions/{ENSEMBLE}"
        post(url, data=photo)  # warm-up
        in_process_once(ens, req)
        # Alternate in-process and HTTP runs so both see the same machine load.
        log.info("in-process vs HTTP, %d alternating runs...", args.runs)
        totals, lat = [], []
        stages: dict[str, list[float]] = {s: [] for s in ensemble.STAGES}
        for _ in range(args.runs):
            total, cur = in_process_once(ens, req)
            totals.append(total)
            for s, v in cur.items():
                stages[s].append(v)
            t0 = time.perf_counter()
            post(url, data=photo)
            lat.append(time.perf_counter() - t0)
        del ens
        ip = {"stages": {s: p50(v) for s, v in stages.items()}, "total": p50(totals)}
        res["in_process"] = ip
        res["http_p50"] = p50(lat)
        res["overhead_ratio"] = res["http_p50"] / ip["total"]
        log.info("throughput at concurrency 4: ensemble vs chain (%d requests each)...", args.requests)
        chained(base, photo, target)  # warm-up
        res["tput_ensemble_c4"] = throughput(lambda: post(url, data=photo), args.requests, 4)
        res["tput_chain_c4"] = throughput(lambda: chained(base, photo, target), args.requests, 4)
        res["ensemble_vs_chain"] = res["tput_ensemble_c4"] / res["tput_chain_c4"]
        log.info("throughput at concurrency 8: batchSize 4 vs 1...")
        post(f"{base}/predictions/{B1}", data=photo)  # warm-up
        res["tput_b4_c8"] = throughput(lambda: post(url, data=photo), args.requests, 8)
        res["tput_b1_c8"] = throughput(lambda: post(f"{base}/predictions/{B1}", data=photo), args.requests, 8)
        res["batch4_vs_batch1"] = res["tput_b4_c8"] / res["tput_b1_c8"]
    res["load_after"] = os.getloadavg()
    st = ip["stages"]
    lines = [
        "closet ensemble benchmark (512x512 astronaut, CPU, torch threads=%s)" % os.environ.get("OMP_NUM_THREADS", "default"),
        "  in-process p50 per stage (s): " + "  ".join(f"{s}={st[s]:.3f}" for s in ensemble.STAGES),
        f"  in-process p50 total: {ip['total']:.3f} s",
        f"  HTTP p50 /predictions/closet: {res['http_p50']:.3f} s   overhead HTTP/in-process: "
        f"{res['overhead_ratio']:.2f} (target <= 1.15)",
        f"  throughput c=4: ensemble {res['tput_ensemble_c4']:.3f} req/s, chain of 3 endpoints "
        f"{res['tput_chain_c4']:.3f} req/s -> {res['ensemble_vs_chain']:.2f}x (target >= 1.3x)",
        f"  throughput c=8: batchSize 4 {res['tput_b4_c8']:.3f} req/s, batchSize 1 {res['tput_b1_c8']:.3f} req/s "
        f"-> {res['batch4_vs_batch1']:.2f}x",
        "  load average before %.1f/%.1f/%.1f, after %.1f/%.1f/%.1f" % (*res["load_before"], *res["load_after"]),
    ]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
