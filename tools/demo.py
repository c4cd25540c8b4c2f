"""Send the astronaut photo (skimage) to a running TorchServe and save one result per target domain.

    python tools/demo.py [--url http://127.0.0.1:8080] [--out out] [--docs docs/demo]

Writes <out>/astronaut_<target>.png (full size, PNG) for every domain the closet model serves,
and with --docs a 256 px copy of each plus the input under that folder (committed for the README).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import urllib.request
from pathlib import Path

import requests
from PIL import Image

from closet import config as closet_config

log = logging.getLogger("demo")
MODEL = "closet"
DOC_SIDE = 256


def domains(cfg) -> list[str]:
    """Targets from the model's describe (management API, loopback), else the demo checkpoint's sidecar."""
    url = f"http://127.0.0.1:{cfg.server.management_port}/models/{MODEL}?customized=true"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (loopback)
            meta = json.loads(json.loads(r.read())[0]["customizedMetadata"])
            return list(meta["targets"])
    except (OSError, KeyError, ValueError, IndexError, TypeError):
        meta = json.loads((closet_config.REPO_ROOT / "assets/stargan-fmnist/meta.json").read_text())
        return list(meta["domains"])


def main(argv=None) -> int:
    cfg = closet_config.load()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=f"http://127.0.0.1:{cfg.server.inference_port}")
    ap.add_argument("--out", type=Path, default=Path("out"))
    ap.add_argument("--docs", type=Path, help="also write small copies here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import skimage.data

    buf = io.BytesIO()
    src = Image.fromarray(skimage.data.astronaut())
    src.save(buf, format="PNG")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        src.resize((DOC_SIDE, DOC_SIDE), Image.Resampling.LANCZOS).save(args.docs / "astronaut_input.png", optimize=True)
    for target in domains(cfg):
        r = requests.post(f"{args.url}/predictions/{MODEL}", data=buf.getvalue(),
                          headers={"X-Closet-Target": target, "X-Closet-Seed": "0"}, timeout=600)
        if r.status_code != 200:
            log.error("%s: HTTP %d %s", target, r.status_code, r.text[:300])
            return 1
        path = args.out / f"astronaut_{target}.png"
        path.write_bytes(r.content)
        log.info("%s  (%s; parser %s)", path, r.headers.get("X-Closet-Timing"), r.headers.get("X-Closet-Parser"))
        if args.docs:
            small = Image.open(io.BytesIO(r.content)).resize((DOC_SIDE, DOC_SIDE), Image.Resampling.LANCZOS)
            small.save(args.docs / f"astronaut_{target}.png", optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
