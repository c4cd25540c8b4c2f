"""Fetch one checkpoint by URL and refuse it unless its sha256 is the one given (`make mars X_URL=...`).

    python3 tools/fetch_checkpoint.py --url URL --sha256 HEX --out PATH

URL schemes:
    https://, http://   urllib (honours HTTPS_PROXY/NO_PROXY). A URL under $CI_API_V4_URL (GitLab's
                        generic package registry) is sent with the job's JOB-TOKEN header.
    file://             a local file (tests, or a checkpoint mounted into the runner)
    s3://               `aws s3 cp` (the AWS CLI and its credentials must be present)
    gs://               `gcloud storage cp` (the Google Cloud CLI and its credentials must be present)
The file is written to PATH.part while hashed, checked against --sha256, then renamed to PATH: a
wrong or truncated download never takes PATH's place. The log names the URL without its query
string (presigned URLs carry credentials there). Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

log = logging.getLogger("fetch_checkpoint")

CLIS = {"s3": ["aws", "s3", "cp", "--only-show-errors"], "gs": ["gcloud", "storage", "cp"]}


def shown(url: str) -> str:
    """The URL as logged: no query string, no user:password."""
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((p.scheme, p.hostname or "", p.path, "", "")) if p.hostname else \
        urllib.parse.urlunsplit((p.scheme, "", p.path, "", ""))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path) -> None:
    """Copy the object at url to dest (no checking here)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in CLIS:
        cli = CLIS[scheme]
        if shutil.which(cli[0]) is None:
            raise RuntimeError(f"{scheme}:// needs the `{cli[0]}` CLI on PATH, or use an https:// (presigned) URL")
        subprocess.run([*cli, url, str(dest)], check=True)
        return
    if scheme not in ("https", "http", "file"):
        raise RuntimeError(f"unsupported URL scheme {scheme!r}: use https, http, file, s3 or gs")
    request = urllib.request.Request(url)
    api = os.environ.get("CI_API_V4_URL")
    if api and os.environ.get("CI_JOB_TOKEN") and url.startswith(api.rstrip("/") + "/"):
        request.add_header("JOB-TOKEN", os.environ["CI_JOB_TOKEN"])
    with urllib.request.urlopen(request, timeout=60) as r, open(dest, "wb") as f:
        shutil.copyfileobj(r, f, length=1 << 20)


def fetch(url: str, sha256: str, out: Path) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"--sha256 must be 64 lowercase hex digits, got {sha256!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    log.info("fetching %s", shown(url))
    try:
        download(url, part)
        got = sha256_of(part)
        if got != sha256:
            raise RuntimeError(f"{shown(url)}: sha256 {got}, expected {sha256}: refused")
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    log.info("%s: sha256 %s verified (%.1f MB) -> %s", shown(url), sha256, out.stat().st_size / 1e6, out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--sha256", required=True, help="the sha256 the file must have (hex)")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        fetch(args.url, args.sha256.lower(), args.out)
    except (OSError, ValueError, RuntimeError, subprocess.CalledProcessError) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
