"""Readiness of a closet pod: every expected model has at least minWorkers READY workers.

The chart runs this as the startup and readiness exec probe (`python ready.py --management URL
--models a,b`); standard library only, so any Python in the image runs it. Exit 0 means ready.
Exit 1 means not ready, and the reason goes to stdout, which the kubelet records in the pod's
events.

Why not TorchServe 0.12's /ping: it answers 200 "Healthy" unless a worker has been failing
to start for longer than the model's maxRetryTimeoutInSec (300 s by default). A model that is
still loading, or a worker that crashed a minute ago, counts as healthy, so a pod would get
traffic it cannot serve. The management API reports each worker's state, but it listens on
loopback only, which only an exec probe inside the container reaches.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def _get(url: str, token: str | None, timeout: float):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (loopback management API)
        return json.loads(r.read().decode("utf-8"))


def _management_key(path: str | None) -> str | None:
    """The management key TorchServe writes to key_file.json when token authorization is on."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)["management"]["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def not_ready(management: str, models: list[str], token: str | None = None, timeout: float = 2.0) -> list[str]:
    """One line per expected model that is not serving; empty when the pod is ready."""
    problems = []
    for name in models:
        try:
            (desc, *_) = _get(f"{management}/models/{urllib.parse.quote(name)}", token, timeout)
        except urllib.error.HTTPError as e:
            problems.append(f"{name}: management API answered {e.code}")
            continue
        except (OSError, ValueError) as e:
            problems.append(f"{name}: management API unreachable ({type(e).__name__})")
            continue
        workers = desc.get("workers", [])
        ready = sum(1 for w in workers if w.get("status") == "READY")
        wanted = max(1, int(desc.get("minWorkers", 1)))
        if ready < wanted:
            states = ",".join(sorted(w.get("status", "?") for w in workers)) or "no workers"
            problems.append(f"{name}: {ready} of {wanted} workers READY ({states})")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--management", required=True, help="management API base URL, e.g. http://127.0.0.1:8081")
    ap.add_argument("--models", required=True, help="comma-separated model names that must be READY")
    ap.add_argument("--key-file", help="TorchServe's key_file.json (token authorization)")
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds per management API call")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    problems = not_ready(args.management.rstrip("/"), models, _management_key(args.key_file), args.timeout)
    if problems:
        print("not ready: " + "; ".join(problems))
        return 1
    print(f"ready: {', '.join(models)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
