"""`closet`: swap garments in photos and list the targets, from a shell.

    closet describe                                     the targets the server accepts
    closet swap me.jpg --target coat -o coat.png        one photo
    closet swap photos/ --target coat -o out/ --concurrency 2   every file in a folder, with a progress bar
    closet --protocol v2 swap me.jpg --target dress --reference style.png -o dress.png

The server is $CLOSET_URL, else the inference port of config/closet.yaml on 127.0.0.1. A folder run goes
on past a file the API refuses, reports it, and exits 1 when any file failed (2: bad usage).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from closet_client.client import PROTOCOLS, ApiError, ClosetClient, SwapResult
from closet_client.messages import explain

log = logging.getLogger("closet")
FORMATS = ("png", "jpeg", "webp")
EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


def default_url() -> str:
    """$CLOSET_URL, else the local inference API of config/closet.yaml (what `make serve` starts)."""
    if os.environ.get("CLOSET_URL"):
        return os.environ["CLOSET_URL"]
    from closet import config

    server = config.load().server
    host = "127.0.0.1" if server.bind in ("0.0.0.0", "") else server.bind
    return f"http://{host}:{server.inference_port}"


def _option(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="closet", description="Client of closet's garment-swap API.")
    ap.add_argument("--url", help="inference API (default: $CLOSET_URL or config/closet.yaml's local port)")
    ap.add_argument("--protocol", choices=PROTOCOLS, default="rest",
                    help="rest: /predictions/closet (multipart); v2: KServe v2 /v2/models/closet/infer")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per HTTP attempt (default 300)")
    ap.add_argument("--retries", type=int, default=4, help="retries after 503/507 or a refused connection (default 4)")
    ap.add_argument("--backoff", type=float, default=0.5, help="backoff factor in seconds (default 0.5: 0.5, 1, 2, ...)")
    ap.add_argument("-q", "--quiet", action="store_true", help="only errors and the summary")
    sub = ap.add_subparsers(dest="command", required=True)

    d = sub.add_parser("describe", help="list the targets the server accepts")
    d.add_argument("--json", action="store_true", help="the full description as JSON")

    s = sub.add_parser("swap", help="swap the upper garment in a photo, or in every file of a folder")
    s.add_argument("path", type=Path, help="a photo, or a folder of photos")
    s.add_argument("-o", "--output", type=Path,
                   help="output file (one photo) or folder (a folder); default: <name>-<target>.<ext> / <folder>-<target>/")
    s.add_argument("--target", help="garment category (see `closet describe`); default: the server's first")
    style = s.add_mutually_exclusive_group()
    style.add_argument("--seed", type=int, help="latent style seed (same seed, same picture); default 0")
    style.add_argument("--reference", type=Path, help="style image (reference-guided)")
    s.add_argument("--preserve-color", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the garment's colours (server default: yes)")
    s.add_argument("--format", choices=FORMATS, help="output format (default: from -o's extension, else png)")
    s.add_argument("--option", type=_option, action="append", default=[], metavar="NAME=VALUE",
                   help="any other API option, e.g. --option mode=latent (repeatable)")
    s.add_argument("--concurrency", type=int, default=1, help="photos in flight at once (folder; default 1)")
    s.add_argument("--json", action="store_true", help="also write <output>.json: parser, timings, box, settings")
    return ap


@dataclass
class Job:
    source: Path
    output: Path


@dataclass
class Outcome:
    job: Job
    result: SwapResult | None = None
    error: ApiError | OSError | None = None
    seconds: float = 0.0


def photos_in(folder: Path) -> list[Path]:
    """Every visible regular file in `folder` (not recursive), sorted; the API decides what is a photo."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def plan(args) -> tuple[list[Job], str | None]:
    """Jobs (source -> output) and the output format, from the command line."""
    fmt = args.format
    target = args.target or "swap"
    if args.path.is_dir():
        out_dir = args.output or args.path.with_name(f"{args.path.name}-{target}")
        ext = fmt or "png"
        sources = photos_in(args.path)
        stems = [p.stem for p in sources]
        # Two sources with one stem (a.jpg, a.png) keep their whole names apart.
        names = [f"{p.stem if stems.count(p.stem) == 1 else p.name}.{ext}" for p in sources]
        return [Job(p, out_dir / n) for p, n in zip(sources, names)], fmt
    out = args.output
    if out is not None and out.suffix.lower() in EXTENSIONS:
        from_ext = EXTENSIONS[out.suffix.lower()]
        if fmt and fmt != from_ext:
            raise SystemExit(f"closet: --format {fmt} but {out} ends in {out.suffix}")
        fmt = from_ext
    if out is None:
        out = Path(f"{args.path.stem}-{target}.{fmt or 'png'}")
    return [Job(args.path, out)], fmt


def run_one(api: ClosetClient, job: Job, args, fmt: str | None, reference: bytes | None) -> Outcome:
    t0 = time.perf_counter()
    try:
        result = api.swap(job.source.read_bytes(), target=args.target, seed=args.seed, reference=reference,
                          preserve_color=args.preserve_color, format=fmt, options=dict(args.option),
                          details=args.json)
        job.output.parent.mkdir(parents=True, exist_ok=True)
        job.output.write_bytes(result.image)
        if args.json and result.raw is not None:
            meta = {k: v for k, v in result.raw.items() if k not in ("image", "person_mask", "garment_mask")}
            job.output.with_name(job.output.name + ".json").write_text(json.dumps(meta, indent=2) + "\n")
        return Outcome(job, result=result, seconds=time.perf_counter() - t0)
    except (ApiError, OSError) as e:
        return Outcome(job, error=e, seconds=time.perf_counter() - t0)


def _why(error: ApiError | OSError) -> str:
    return explain(error) if isinstance(error, ApiError) else f"cannot read or write a file: {error}"


def swap(api: ClosetClient, args) -> int:
    if not args.path.exists():
        log.error("closet: %s does not exist", args.path)
        return 2
    if args.concurrency < 1:
        log.error("closet: --concurrency must be at least 1")
        return 2
    jobs, fmt = plan(args)
    if not jobs:
        log.error("closet: no files in %s", args.path)
        return 2
    reference = args.reference.read_bytes() if args.reference else None
    t0 = time.perf_counter()
    outcomes: list[Outcome] = []
    # The bar draws only on a terminal (disable=None); log lines go above it, and alone in CI logs.
    with logging_redirect_tqdm(), tqdm(total=len(jobs), unit="photo", desc="swap", disable=None) as bar:
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            futures = [pool.submit(run_one, api, job, args, fmt, reference) for job in jobs]
            for future in as_completed(futures):
                o = future.result()
                outcomes.append(o)
                if o.error is None:
                    log.info("ok      %s -> %s  (%.1f s, parser %s)", o.job.source.name, o.job.output, o.seconds,
                             o.result.parser or "?")
                else:
                    log.error("FAILED  %s: %s", o.job.source.name, _why(o.error))
                bar.update(1)
    failed = [o for o in outcomes if o.error is not None]
    wall = time.perf_counter() - t0
    log.warning("swapped %d of %d photo(s) in %.1f s (%d at a time)%s", len(outcomes) - len(failed), len(outcomes),
                wall, args.concurrency, f"; {len(failed)} failed:" if failed else "")
    for o in sorted(failed, key=lambda o: o.job.source.name):
        reason = o.error.reason if isinstance(o.error, ApiError) else "io"
        status = o.error.status if isinstance(o.error, ApiError) else "-"
        log.warning("  %s: %s (HTTP %s)", o.job.source.name, reason, status)
    return 1 if failed else 0


def describe(api: ClosetClient, args) -> int:
    try:
        d = api.describe()
    except ApiError as e:
        log.error("closet: %s", explain(e))
        return 1
    if args.json:
        sys.stdout.write(json.dumps(d.raw, indent=2) + "\n")
    else:
        sys.stdout.write("".join(f"{t}\n" for t in d.targets))
        log.info("%d targets from %s (checkpoint: %s steps, img_size %s)", len(d.targets), api.base_url,
                 d.trained_steps, d.img_size)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s",
                        stream=sys.stderr)
    with ClosetClient(args.url or default_url(), protocol=args.protocol, timeout=args.timeout,
                      retries=args.retries, backoff=args.backoff) as api:
        return describe(api, args) if args.command == "describe" else swap(api, args)


if __name__ == "__main__":
    sys.exit(main())
