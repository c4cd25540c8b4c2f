"""Peak memory of each model's real TorchServe worker at the configured limits (`make bench-memory`).

For every model and every point `n@f` (a batch of n photos of f * limits.max_pixels pixels each),
in a fresh worker (scaled to 0 and back to 1 through the management API, so VmHWM starts over):
send the n photos at once, check from closet_batch_size that they ran as ONE batch (else retry),
then read the worker's peak RSS (VmHWM in /proc/<pid>/status). The photo is the skimage astronaut
scaled up to the size (JPEG, quality 90), tagged with a Display P3 profile (closet_dev.iccwriter):
a tagged photo is the ensemble's costlier path (its stages work on an sRGB copy, and the pixels they
change are converted back). The ensemble is asked for return=json, its largest answer
(base64 image and masks); answers over server.max_response_size come back as 413 too_large, after
the worker built them, so their memory is counted. The Java frontend's VmHWM is read at the end.

A batch at the limits can take longer on a small CPU than the model's responseTimeout, after which
TorchServe kills the worker; the archives served here are copies whose packed model-config says
responseTimeout: --timeout (the manifest hash updated), everything else as built.

Then each model's points are fitted to closet_dev.memory's formula, and the pod figure is printed
with the numbers to paste into closet_dev/memory.py FITS / FRONTEND_BYTES.

    python tools/memory_peak.py                             # every model, points 1@0.25 4@0.25 2@0.5 1@1 4@1
    python tools/memory_peak.py --models closet --points 4@1 --json out/memory-closet.json

With --json naming an existing report, the models measured now replace theirs and the others stay
(each model's entry records the commit and date it was measured on).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests
from PIL import Image

from closet import config as closet_config
from closet.archive import MANIFEST_NAME
from closet.config import ENSEMBLE, MODEL_NAMES
from closet.metrics import BATCH_SIZE
from closet_dev import memory
from closet_dev.iccwriter import DISPLAY_P3, profile
from closet_dev.torchserve import MODEL_STORE, ephemeral

log = logging.getLogger("memory_peak")
MIB = memory.MIB
BATCH_GATHER_MS = 5000  # the packed maxBatchDelay of the measured copies (see with_timeout)


def photo(pixels: int, max_side: int, max_request: int) -> tuple[bytes, tuple[int, int]]:
    """The astronaut as a square Display P3 JPEG of at most `pixels` pixels (and max_side), under the body limit."""
    import skimage.data

    side = min(math.isqrt(pixels), max_side)
    img = Image.fromarray(skimage.data.astronaut()).resize((side, side), Image.Resampling.BICUBIC)
    for quality in (90, 80, 70):
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality, icc_profile=profile(DISPLAY_P3))
        if buf.tell() <= max_request:
            return buf.getvalue(), (side, side)
    raise SystemExit(f"a {side}x{side} JPEG does not fit in max_request_size={max_request}")


def with_timeout(src: Path, dst: Path, seconds: int) -> Path:
    """A copy of archive `src` whose packed model-config says responseTimeout: seconds, and a
    maxBatchDelay long enough to gather the n photos (uploads of tens of MB take longer than the
    served 1 ms): the measure is a batch's memory, not its latency."""
    name = f"{src.stem}-model-config.yaml"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        files = {n: zin.read(n) for n in zin.namelist()}
        files[name] = re.sub(rb"(?m)^responseTimeout: .*$", b"responseTimeout: %d" % seconds, files[name])
        files[name] = re.sub(rb"(?m)^maxBatchDelay: .*$", b"maxBatchDelay: %d" % BATCH_GATHER_MS, files[name])
        manifest = json.loads(files[MANIFEST_NAME])
        manifest["files"][name] = hashlib.sha256(files[name]).hexdigest()
        files[MANIFEST_NAME] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        for n, data in files.items():
            zout.writestr(n, data)
    return dst


def vm_hwm(pid: int) -> int:
    """Peak resident set size of a process, in bytes (Linux VmHWM)."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", text, re.M).group(1)) * 1024


def batch_counts(metrics_text: str, model: str) -> tuple[float, float]:
    """(count, sum) of the closet_batch_size histogram of `model`."""
    out = {"count": 0.0, "sum": 0.0}
    for kind in out:
        m = re.search(rf'^{BATCH_SIZE.name}_{kind}{{model_name="{model}",[^}}]*}} ([0-9.eE+-]+)', metrics_text, re.M)
        if m:
            out[kind] = float(m.group(1))
    return out["count"], out["sum"]


def fresh_worker(ts, model: str) -> int:
    """Scale `model` to 0 workers and back to 1; returns the new worker's PID."""
    for n in (0, 1):
        r = requests.put(f"{ts.management_url}/models/{model}",
                         params={"min_worker": n, "max_worker": n, "synchronous": "true"}, timeout=600)
        r.raise_for_status()
    (pid,) = ts.worker_pids(model)
    return pid


def measure(ts, model: str, n: int, body: bytes, retries: int = 3) -> dict:
    """Peak RSS of a fresh worker of `model` that ran one batch of n copies of `body`."""
    headers = {"Content-Type": "image/jpeg"}
    if model == ENSEMBLE:
        headers["X-Closet-Return"] = "json"
    for attempt in range(retries):
        pid = fresh_worker(ts, model)
        idle = vm_hwm(pid)
        c0, s0 = batch_counts(ts.metrics_text(), model)
        t0 = time.monotonic()
        with ThreadPoolExecutor(n) as pool:
            rs = list(pool.map(lambda _: requests.post(ts.url(model), data=body, headers=headers, timeout=3600),
                               range(n)))
        seconds = time.monotonic() - t0
        c1, s1 = batch_counts(ts.metrics_text(), model)
        statuses = sorted({r.status_code for r in rs})
        if ts.worker_pids(model) != [pid]:
            raise SystemExit(f"{model}: the worker {pid} died during the batch ({statuses}); see {ts.log_dir}")
        if (c1 - c0, s1 - s0) == (1, n):
            return {"pid": pid, "idle_bytes": idle, "peak_bytes": vm_hwm(pid), "seconds": round(seconds, 1),
                    "statuses": statuses, "reasons": sorted({r.json().get("reason", "") for r in rs
                                                             if r.status_code != 200})}
        log.warning("%s: the %d requests ran as %d batches; retrying (%d)", model, n, c1 - c0, attempt + 1)
    raise SystemExit(f"{model}: could not get the {n} requests into one batch in {retries} tries")


def parse_point(text: str) -> tuple[int, float]:
    n, frac = text.split("@")
    return int(n), float(frac)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    ap.add_argument("--points", nargs="+", default=["1@0.25", "4@0.25", "2@0.5", "1@1", "4@1"],
                    help="n@f: a batch of n photos of f * limits.max_pixels pixels")
    ap.add_argument("--json", type=Path, help="write the measurements and the fit here")
    ap.add_argument("--timeout", type=int, default=7200, help="responseTimeout (s) of the served archive copies")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = closet_config.load()
    points = [parse_point(p) for p in args.points]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=closet_config.REPO_ROOT).stdout.strip()
    report: dict = {"commit": commit, "date": time.strftime("%Y-%m-%d"), "max_pixels": cfg.limits.max_pixels,
                    "cpus": os.cpu_count(), "load_avg_start": os.getloadavg(), "models": {}}
    bodies: dict[float, tuple[bytes, tuple[int, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp, \
            ephemeral(Path(tmp) / "ts", [with_timeout(MODEL_STORE / f"{m}.mar", Path(tmp) / f"{m}.mar", args.timeout)
                                         for m in args.models], timeout=900) as ts:
        for model in args.models:
            rows = []
            for n, frac in points:
                if frac not in bodies:
                    bodies[frac] = photo(int(frac * cfg.limits.max_pixels), cfg.limits.max_side,
                                         cfg.server.max_request_size)
                body, size = bodies[frac]
                row = {"batch": n, "width": size[0], "height": size[1], "pixels": size[0] * size[1],
                       "body_bytes": len(body), **measure(ts, model, n, body)}
                log.info("%s: %d x %dx%d -> peak %.0f MiB (idle %.0f MiB) in %.0f s, %s", model, n, *size,
                         row["peak_bytes"] / MIB, row["idle_bytes"] / MIB, row["seconds"], row["statuses"])
                rows.append(row)
            f = memory.fit([(r["batch"], r["pixels"], r["peak_bytes"]) for r in rows]) if len(rows) >= 4 else None
            report["models"][model] = {"commit": commit, "date": report["date"], "points": rows,
                                       "fit": None if f is None else vars(f)}
        java = [p for p in psutil.Process(ts.server.proc.pid).children(recursive=True) + [psutil.Process(ts.server.proc.pid)]
                if "java" in p.name()]
        report["frontend_peak_bytes"] = max(vm_hwm(p.pid) for p in java) if java else None
    report["load_avg_end"] = os.getloadavg()
    if args.json and args.json.is_file():  # keep the models not measured in this run
        earlier = json.loads(args.json.read_text())
        report["models"] = {**earlier.get("models", {}), **report["models"]}
        report["frontend_peak_bytes"] = max(filter(None, [earlier.get("frontend_peak_bytes"),
                                                          report["frontend_peak_bytes"]]), default=None)
    for model, res in report["models"].items():
        fit = res["fit"]
        if fit:
            err = max(abs(memory.WorkerFit(**fit).peak(r["batch"], r["pixels"]) - r["peak_bytes"]) for r in res["points"])
            # Rounded up, so the pasted numbers still cover every point.
            mib, tenth = (lambda v: math.ceil(v / MIB)), (lambda v: math.ceil(v * 10) / 10)
            print(f'    "{model}": WorkerFit(base={mib(fit["base"])} * MIB, image={mib(fit["image"])} * MIB, '
                  f'held={tenth(fit["held"])}, transient={tenth(fit["transient"])}),  # max residual {err / MIB:.0f} MiB')
    if report["frontend_peak_bytes"]:
        print(f"FRONTEND_BYTES = {math.ceil(report['frontend_peak_bytes'] / MIB)} * MIB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
