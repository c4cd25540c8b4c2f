"""Benchmark `make bench-serve`: TorchServe cold start and /predictions/segmentation latency.

Starts a private TorchServe (free loopback ports, its own model store holding model-store/segmentation.mar)
and times:
  cold start  `torchserve --start` until the segmentation worker is READY (management describe), per run
  latency     sequential POSTs of a 320x320 JPEG (skimage astronaut), after warm-up requests
Writes out/bench-serve.json and prints a summary table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image
from skimage import data

from closet import config as closet_config
from closet import configgen
from closet.serving.launcher import Server

REPO = closet_config.REPO_ROOT
MODEL = "segmentation"


def free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start(tmp: Path) -> tuple[Server, float]:
    store = tmp / "model-store"
    store.mkdir(parents=True, exist_ok=True)
    link = store / f"{MODEL}.mar"
    if not link.exists():
        link.symlink_to((REPO / "model-store" / f"{MODEL}.mar").resolve())
    names = ("inference", "management", "metrics", "grpc_inference", "grpc_management")
    props = configgen.render_properties(
        closet_config.load(), "local", ports=dict(zip(names, free_ports(5))), model_store=str(store),
        metrics_config=str(REPO / configgen.METRICS_CONFIG_PATH),
    )  # fmt: skip
    cfg_file = tmp / "config.properties"
    cfg_file.write_text(props)
    srv = Server.from_properties(cfg_file, store, tmp / "logs")
    t0 = time.monotonic()
    srv.start(cfg_file)
    try:
        srv.wait_ready([MODEL], timeout=600)
    except BaseException:
        srv.stop()
        raise
    return srv, time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--starts", type=int, default=2, help="cold starts to time")
    ap.add_argument("--requests", type=int, default=20, help="timed sequential requests")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", default="out/bench-serve.json")
    args = ap.parse_args(argv)
    if not (REPO / "model-store" / f"{MODEL}.mar").is_file():
        print("model-store/segmentation.mar missing: run `make mars`", file=sys.stderr)
        return 1
    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((320, 320), Image.BILINEAR).save(buf, format="JPEG", quality=90)
    body = buf.getvalue()
    cold, lat = [], []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as d:
        for i in range(args.starts):
            srv, secs = start(Path(d) / f"run{i}")
            cold.append(secs)
            try:
                if i == args.starts - 1:
                    url = f"{srv.inference_url}/predictions/{MODEL}"
                    http = requests.Session()
                    headers = {"Content-Type": "image/jpeg"}
                    for _ in range(args.warmup):
                        http.post(url, data=body, headers=headers, timeout=120).raise_for_status()
                    for _ in range(args.requests):
                        t0 = time.perf_counter()
                        http.post(url, data=body, headers=headers, timeout=120).raise_for_status()
                        lat.append(time.perf_counter() - t0)
            finally:
                srv.stop()
    lat.sort()
    result = {
        "cold_start_s": [round(x, 2) for x in cold],
        "latency_320_s": {
            "n": len(lat),
            "min": round(lat[0], 3),
            "p50": round(statistics.median(lat), 3),
            "p90": round(lat[int(0.9 * (len(lat) - 1))], 3),
            "max": round(lat[-1], 3),
        },
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),  # shared machines: read numbers with this
    }
    out = REPO / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"cold start (torchserve --start -> {MODEL} READY): " + ", ".join(f"{x:.1f} s" for x in cold))
    s = result["latency_320_s"]
    print(f"POST /predictions/{MODEL} 320x320 JPEG, {s['n']} sequential: "
          f"p50 {s['p50']:.3f} s, p90 {s['p90']:.3f} s, min {s['min']:.3f} s")  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
