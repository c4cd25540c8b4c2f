"""Benchmark the closet ensemble (`make bench-ensemble`); prints one report, measured in one run.

1. in-process: Ensemble.run on a 512x512 photo (skimage astronaut), p50 per stage and total;
2. HTTP: p50 of POST /predictions/closet on a temporary server, and HTTP / in-process;
3. throughput at concurrency 4: the ensemble vs a client chaining segmentation -> parsing ->
   translation over HTTP (crop and composite done by the client with the same closet.stages.composite code);
4. throughput at concurrency 8: closet with batchSize 4 vs batchSize 1 (a copy of closet.mar whose
   model-config and closet.yaml say batchSize 1, its manifest entries updated; served by the same server);
   each throughput is timed over --requests after one untimed burst at its concurrency;
5. cold start: server start until every archive is READY;
6. the speed goals (issue #18, docs/speed.md), as ratios of numbers measured in this run:
   - HTTP p50 over the compute floor (closet_dev.floor: the request's FLOPs over the conv peak),
     the peak probed right after each timed HTTP request, the median of those per-request ratios;
   - a 12 MP phone photo's HTTP p50 over the 512x512 one's, the two timed in pairs;
   - HTTP / in-process, the batch gain and the cold start.
   Pairs, because this box's speed drifts within a run.

--runtime picks the server: torchserve (TorchServe 0.12), kserve (the same MARs on KServe's model
server, closet/kserve), or both (`make bench-runtimes`, part of `make bench`): both servers are
started one after the other (each cold start timed alone), then the HTTP latency runs alternate
TorchServe, KServe and in-process so all three see the same machine load, and a side-by-side
table ends the report. Servers run on free loopback ports with private model stores and are
stopped at the end. Numbers on a shared 2-core CPU are noisy: the report prints the load average.
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
from contextlib import ExitStack, contextmanager
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
from closet_dev import floor
from closet_dev import kserve as kserve_dev
from closet_dev import torchserve as torchserve_dev
from closet_dev.launcher import SERVING_ENV, under_serving_env
from closet_dev.mar import load_ensemble

log = logging.getLogger("bench_ensemble")
REPO = closet_config.REPO_ROOT
STORE = REPO / "model-store"
B1 = "closet_b1"
RUNTIMES = {"torchserve": "TorchServe", "kserve": "KServe"}
# The KServe runtime within 1.1x of TorchServe's HTTP p50 (issue #21).
P50_GOAL = 1.1
# Issue #18's goals: (label, key, goal, higher is better).
SPEED_GOALS = (("512x512 HTTP p50 / compute floor", "floor_ratio", 1.4, False),
               ("12 MP HTTP p50 / 512x512 HTTP p50", "phone_ratio", 3.0, False),
               ("HTTP / in-process p50, sequential", "overhead_ratio", 1.05, False),
               ("batch 4 / batch 1 throughput, c=8", "batch4_vs_batch1", 1.5, True),
               ("cold start, 4 archives to READY (s)", "served_cold_start_s", 10.0, False))
PHONE_SIZE = (4000, 3000)
PEAK_RUNS = 7  # conv probe timings after each HTTP request (best of them: noise only slows a conv)
# Printed with the numbers: on a shared CPU, OMP_WAIT_POLICY changes TorchServe's latency severalfold
# and the malloc thresholds a 12 MP request's by 10% (docs/serving.md).
RUN_ENV = ("OMP_NUM_THREADS", "GOMP_SPINCOUNT", *SERVING_ENV)


def photo_png() -> bytes:
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, format="PNG")  # 512 x 512
    return buf.getvalue()


def phone_jpeg() -> bytes:
    """The 512x512 photo blown up to a phone's 12 MP, as a camera JPEG (quality 90)."""
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).resize(PHONE_SIZE, Image.BICUBIC).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def p50(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# -- 1. in-process ---------------------------------------------------------------
def timed_run(ens: ensemble.Ensemble, req: ensemble.Request) -> tuple[ensemble.Output, float, dict[str, float]]:
    """(output, total seconds, seconds per stage) of one Ensemble.run on one request."""
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
    return out, total, cur


def in_process_once(ens: ensemble.Ensemble, req: ensemble.Request) -> tuple[float, dict[str, float]]:
    """(total seconds, seconds per stage) of one Ensemble.run on one request."""
    _, total, stages = timed_run(ens, req)
    return total, stages


# -- TorchServe -------------------------------------------------------------------
def b1_mar(src: Path, dst: Path) -> None:
    """Copy the ensemble archive with batchSize 1 (TorchServe reads its model-config, the KServe runtime
    its closet.yaml: both are set) and the manifest hashes to match."""
    import yaml

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        files = {n: zin.read(n) for n in zin.namelist()}
        cfg_name = "closet-model-config.yaml"
        text = files[cfg_name].decode()
        files[cfg_name] = "\n".join("batchSize: 1" if ln.startswith("batchSize:") else ln
                                    for ln in text.splitlines()).encode() + b"\n"
        closet_yaml = yaml.safe_load(files[closet_config.CONFIG_FILENAME])
        closet_yaml["models"][ENSEMBLE]["batch_size"] = 1
        files[closet_config.CONFIG_FILENAME] = yaml.safe_dump(closet_yaml, sort_keys=False).encode()
        man = json.loads(files[MANIFEST_NAME])
        for name in (cfg_name, closet_config.CONFIG_FILENAME):
            man["files"][name] = hashlib.sha256(files[name]).hexdigest()
        files[MANIFEST_NAME] = (json.dumps(man, indent=2, sort_keys=True) + "\n").encode()
        mf = json.loads(files["MAR-INF/MANIFEST.json"])
        mf["model"]["modelName"] = B1
        files["MAR-INF/MANIFEST.json"] = json.dumps(mf).encode()
        for n, data in files.items():
            zout.writestr(n, data)


def serve(runtime: str, tmp: Path):
    """The four archives plus a batchSize-1 copy of the ensemble, on an ephemeral server of `runtime`."""
    b1 = tmp / f"{B1}.mar"
    if not b1.is_file():
        b1_mar(STORE / f"{ENSEMBLE}.mar", b1)
    ephemeral = kserve_dev.ephemeral if runtime == "kserve" else torchserve_dev.ephemeral
    return ephemeral(tmp / runtime, [*(STORE / f"{m}.mar" for m in MODEL_NAMES), b1], timeout=900)


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


def timed_post(url: str, photo: bytes) -> float:
    t0 = time.perf_counter()
    post(url, data=photo)
    return time.perf_counter() - t0


def throughputs(base: str, photo: bytes, target: str, n: int) -> dict[str, float]:
    """Ensemble vs chain at concurrency 4, batchSize 4 vs 1 at concurrency 8, on one server."""
    url = f"{base}/predictions/{ENSEMBLE}"
    b1 = f"{base}/predictions/{B1}"
    chained(base, photo, target)  # warm-up
    post(b1, data=photo)

    def steady(fn, concurrency: int) -> float:
        # One burst first, untimed: the first batch of 4 after the chain's run took 2.7 s instead of
        # 1.1 s in one round of three (docs/speed.md, run AL), and 8 requests are only two or three batches.
        throughput(fn, concurrency, concurrency)
        return throughput(fn, n, concurrency)

    out = {"tput_ensemble_c4": steady(lambda: post(url, data=photo), 4),
           "tput_chain_c4": steady(lambda: chained(base, photo, target), 4),
           "tput_b4_c8": steady(lambda: post(url, data=photo), 8),
           "tput_b1_c8": steady(lambda: post(b1, data=photo), 8)}
    out["ensemble_vs_chain"] = out["tput_ensemble_c4"] / out["tput_chain_c4"]
    out["batch4_vs_batch1"] = out["tput_b4_c8"] / out["tput_b1_c8"]
    return out


def report(name: str, ip: dict, r: dict) -> list[str]:
    st = ip["stages"]
    return [
        f"{name}: closet ensemble benchmark (512x512 astronaut, CPU, torch threads="
        f"{os.environ.get('OMP_NUM_THREADS', 'default')})",
        "  in-process p50 per stage (s): " + "  ".join(f"{s}={st[s]:.3f}" for s in ensemble.STAGES),
        f"  in-process p50 total: {ip['total']:.3f} s",
        f"  HTTP p50 /predictions/closet: {r['http_p50']:.3f} s   overhead HTTP/in-process: "
        f"{r['overhead_ratio']:.2f} (target <= 1.15)",
        f"  throughput c=4: ensemble {r['tput_ensemble_c4']:.3f} req/s, chain of 3 endpoints "
        f"{r['tput_chain_c4']:.3f} req/s -> {r['ensemble_vs_chain']:.2f}x (target >= 1.3x)",
        f"  throughput c=8: batchSize 4 {r['tput_b4_c8']:.3f} req/s, batchSize 1 {r['tput_b1_c8']:.3f} req/s "
        f"-> {r['batch4_vs_batch1']:.2f}x",
        f"  cold start (server start -> every archive READY, 5 archives): {r['cold_start_s']:.1f} s",
    ]


def speed_goals(res: dict) -> list[str]:
    lines = [f"speed goals (TorchServe, one run; floor = {res['flops'] / 1e9:.1f} GFLOP / "
             f"{res['conv_peak'] / 1e9:.0f} GFLOP/s conv peak = {res['floor_s']:.3f} s; the peak probed after each "
             f"HTTP request read {min(res['conv_peaks']) / 1e9:.0f}-{max(res['conv_peaks']) / 1e9:.0f} GFLOP/s):",
             f"  {'figure':36} {'goal':>8} {'measured':>9}"]
    for label, key, goal, higher in SPEED_GOALS:
        value = res[key]
        met = value >= goal if higher else value <= goal
        lines.append(f"  {label:36} {('>= ' if higher else '<= ') + format(goal, 'g'):>8} {value:>9.2f}  "
                     + ("met" if met else "NOT met"))
    lines.append(f"  12 MP HTTP p50: {res['phone_http_p50']:.2f} s, against {res['phone_pair_photo_http_p50']:.3f} s for the "
                 "512x512 photo in the same pairs; FLOPs per network (G): " + ", ".join(
        f"{k} {v / 1e9:.2f}" for k, v in res["flops_by_network"].items()))
    def served(m: dict) -> str:
        return (f", {m['runtime']} {m['served_p50_s']:.2f} s = {m['served_p50_s'] * res['conv_peak'] / m['flops']:.1f}x"
                if "runtime" in m else "")

    lines.append("  official-size networks (random weights, fp32, batch 1; PyTorch, then the auto runtime): " + "; ".join(
        f"{name} {m['flops'] / 1e9:.0f} GFLOP, PyTorch p50 {m['p50_s']:.2f} s = "
        f"{m['p50_s'] * res['conv_peak'] / m['flops']:.1f}x its floor{served(m)}"
        for name, m in res["official_models"].items()))
    return lines


def side_by_side(res: dict) -> list[str]:
    ts, ks = res["torchserve"], res["kserve"]
    rows = [("HTTP p50 /predictions/closet (s)", "http_p50", "{:.3f}"),
            ("HTTP / in-process", "overhead_ratio", "{:.2f}"),
            ("batch gain c=8 (batchSize 4 / 1)", "batch4_vs_batch1", "{:.2f}x"),
            ("ensemble vs chain c=4", "ensemble_vs_chain", "{:.2f}x"),
            ("cold start (s)", "cold_start_s", "{:.1f}")]
    lines = ["side by side (one run, HTTP runs interleaved):",
             f"  {'':36} {'TorchServe':>11} {'KServe':>11} {'KServe/TS':>10}"]
    for label, key, fmt in rows:
        lines.append(f"  {label:36} {fmt.format(ts[key]):>11} {fmt.format(ks[key]):>11} {ks[key] / ts[key]:>10.2f}")
    ratio = res["kserve_vs_torchserve_p50"]
    lines.append(f"  KServe p50 / TorchServe p50 = {ratio:.2f} (goal <= {P50_GOAL}): "
                 + ("met" if ratio <= P50_GOAL else "NOT met"))
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", choices=(*RUNTIMES, "both"), default="torchserve")
    ap.add_argument("--runs", type=int, default=5, help="latency samples per measurement")
    ap.add_argument("--requests", type=int, default=24, help="requests per throughput measurement")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    # The servers inherit this process's environment; OpenMP's wait policy decides a lot on a shared CPU.
    run_env = {k: os.environ[k] for k in RUN_ENV if k in os.environ}
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for m in MODEL_NAMES:
        if not (STORE / f"{m}.mar").is_file():
            log.error("model-store/%s.mar missing: run `make mars`", m)
            return 2
    runtimes = list(RUNTIMES) if args.runtime == "both" else [args.runtime]
    photo = photo_png()
    res: dict = {"load_before": os.getloadavg(), "runtimes": runtimes, "run_env": run_env}
    ens = load_ensemble(STORE / f"{ENSEMBLE}.mar")
    target = ens.translator.domains[0]
    req = ensemble.Request(image=photo, target=target)
    with tempfile.TemporaryDirectory() as d, ExitStack() as stack:
        if "torchserve" in runtimes:  # the cold start of what `make serve` serves: the four archives alone
            log.info("TorchServe cold start, the four archives...")
            with torchserve_dev.ephemeral(Path(d) / "cold", [STORE / f"{m}.mar" for m in MODEL_NAMES], timeout=900) as s:
                res["served_cold_start_s"] = s.startup_s
        servers = {}
        for rt in runtimes:  # one after the other: each cold start has the machine to itself
            log.info("starting %s...", RUNTIMES[rt])
            servers[rt] = stack.enter_context(serve(rt, Path(d)))
            res[rt] = {"cold_start_s": servers[rt].startup_s}
            post(f"{servers[rt].inference_url}/predictions/{ENSEMBLE}", data=photo)  # warm-up
        in_process_once(ens, req)
        # Alternate in-process and each server's HTTP runs so all see the same machine load. Each
        # timed request follows an untimed one of its own kind: a sequential client's steady state.
        # Alternating one of each instead read HTTP / in-process 1.10 where back to back read
        # 1.00-1.04 (docs/speed.md): the first request after the other process ran is slower, which
        # no dedicated server sees.
        log.info("in-process vs HTTP (%s), %d alternating pairs of runs...", ", ".join(runtimes), args.runs)
        totals, lat, peaks = [], {rt: [] for rt in runtimes}, []
        stages: dict[str, list[float]] = {s: [] for s in ensemble.STAGES}
        for _ in range(args.runs):
            in_process_once(ens, req)
            total, cur = in_process_once(ens, req)
            totals.append(total)
            for s, v in cur.items():
                stages[s].append(v)
            for rt in runtimes:
                url = f"{servers[rt].inference_url}/predictions/{ENSEMBLE}"
                timed_post(url, photo)
                lat[rt].append(timed_post(url, photo))
            # The conv peak probe beside each request, servers idle: the floor follows the box's drift.
            peaks.append(floor.conv_peak_flops(runs=PEAK_RUNS))
        del ens
        if "torchserve" in runtimes:
            # The 12 MP photo and the 512x512 one in pairs, so that the ratio of their p50s is measured
            # under the same machine load (this box drifts by 10-50% within a run); each timed request
            # follows an untimed one of its own kind, as above.
            log.info("TorchServe: a 12 MP photo, %d pairs of runs with the 512x512 one...", args.runs)
            phone = phone_jpeg()
            url = f"{servers['torchserve'].inference_url}/predictions/{ENSEMBLE}"
            pairs = {"phone": [], "photo": []}
            for _ in range(args.runs):
                for kind, body in (("photo", photo), ("phone", phone)):
                    timed_post(url, body)
                    pairs[kind].append(timed_post(url, body))
            res["torchserve"]["phone_http_p50"] = p50(pairs["phone"])
            res["torchserve"]["phone_pair_photo_http_p50"] = p50(pairs["photo"])
        ip = {"stages": {s: p50(v) for s, v in stages.items()}, "total": p50(totals)}
        res["in_process"] = ip
        for rt in runtimes:
            res[rt]["http_p50"] = p50(lat[rt])
            res[rt]["overhead_ratio"] = res[rt]["http_p50"] / ip["total"]
        for rt in runtimes:  # one server at a time: each throughput run has the CPU to itself
            log.info("%s: throughput at concurrency 4 (ensemble vs chain) and 8 (batchSize 4 vs 1)...", RUNTIMES[rt])
            res[rt].update(throughputs(servers[rt].inference_url, photo, target, args.requests))
        if "torchserve" in runtimes:  # the servers idle: the probe has the CPU
            ts = res["torchserve"]
            flops = floor.request_flops(STORE / f"{ENSEMBLE}.mar", req)
            ts.update(flops=flops.pop("total"), flops_by_network=flops, conv_peak=p50(peaks), conv_peaks=peaks)
            ts["floor_s"] = ts["flops"] / ts["conv_peak"]
            # Each HTTP request over the floor probed right after it; the median of those ratios.
            ts["floor_ratio"] = p50([t * peak / ts["flops"] for t, peak in zip(lat["torchserve"], peaks)])
            ts["phone_ratio"] = ts["phone_http_p50"] / ts["phone_pair_photo_http_p50"]
            ts["served_cold_start_s"] = res["served_cold_start_s"]
            ts["official_models"] = floor.official_models()
    res["load_after"] = os.getloadavg()
    lines = [line for rt in runtimes for line in report(RUNTIMES[rt], ip, res[rt])]
    if "torchserve" in runtimes:
        lines += speed_goals(res["torchserve"])
    if len(runtimes) == 2:
        res["kserve_vs_torchserve_p50"] = res["kserve"]["http_p50"] / res["torchserve"]["http_p50"]
        lines += side_by_side(res)
    lines.append("  OpenMP and malloc environment (this process and the servers): " + (
        " ".join(f"{k}={v}" for k, v in run_env.items()) or "defaults"))
    lines.append("  load average before %.1f/%.1f/%.1f, after %.1f/%.1f/%.1f" % (*res["load_before"], *res["load_after"]))
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    under_serving_env()  # HTTP / in-process compares like with like (docs/speed.md, runs W and Y)
    sys.exit(main())
