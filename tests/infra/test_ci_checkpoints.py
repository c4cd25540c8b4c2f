"""Your own checkpoints through CI, as a dry run: a trained checkpoint by file:// URL and sha256.

The path the GitLab build jobs take (docs/cicd.md), run in a scratch copy of the repo so the
repo's own model-store is untouched: `make image` with STARGAN_CKPT_URL/_SHA256 and
STARGAN_META_URL/_SHA256 fetches both files (for real, from file:// URLs), verifies their sha256,
builds the MARs from them, reads the digests back out of the MARs and hands them to the buildah
command line as image labels. DRY_RUN=1 prints that command and the push instead of running them
(no registry here; `make image` builds for real, outside `make test`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "stargan-fmnist"
WEIGHTS = ROOT / "model-store" / "weights" / "u2netp.pth"
REPOSITORY = "registry.example.com/g/closet"
SHA = "0123456789abcdef0123456789abcdef01234567"
BASE = "docker.io/library/python:3.11-slim-bookworm"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A 'trained' StarGAN v2 checkpoint and its sidecar, as a user uploads them (re-saved demo state)."""
    import torch

    d = tmp_path_factory.mktemp("bucket")
    ckpt = torch.load(DEMO / "nets_ema.ckpt", map_location="cpu", weights_only=True)
    ckpt["closet_test_note"] = torch.tensor([1.0])  # different bytes from the demo checkpoint
    torch.save(ckpt, d / "100000_nets_ema.ckpt")
    shutil.copy(DEMO / "meta.json", d / "meta.json")
    return {"ckpt": d / "100000_nets_ema.ckpt", "meta": d / "meta.json"}


@pytest.fixture
def repo(tmp_path) -> Path:
    """The files a CI checkout has (tracked and not ignored), the venv and the converted U^2-Net weights."""
    if not WEIGHTS.is_file():
        pytest.skip("model-store/weights/u2netp.pth missing: run `make weights`")
    out = tmp_path / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            check=True, timeout=60).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out / rel)
    (out / "model-store" / "weights").mkdir(parents=True, exist_ok=True)
    shutil.copy2(WEIGHTS, out / "model-store" / "weights" / WEIGHTS.name)
    (out / ".venv").symlink_to(ROOT / ".venv")
    return out


def make(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """make in repo; the copied U^2-Net weights count as built (-o), so nothing is re-downloaded or converted."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS", "STARGAN_", "PARSER_",
                                                                       "U2NET", "IMAGE_", "CI_"))}
    return subprocess.run(["make", "--no-print-directory", "-o", "model-store/weights/u2netp.pth", *args], cwd=repo,
                          capture_output=True, text=True, timeout=900, env={**clean, **env})


def url_vars(trained: dict[str, Path], ckpt_sha: str | None = None) -> list[str]:
    return [f"STARGAN_CKPT_URL={trained['ckpt'].as_uri()}",
            f"STARGAN_CKPT_SHA256={ckpt_sha or sha256(trained['ckpt'])}",
            f"STARGAN_META_URL={trained['meta'].as_uri()}",
            f"STARGAN_META_SHA256={sha256(trained['meta'])}"]


def mar_digest(mar: Path, name: str) -> str:
    with zipfile.ZipFile(mar) as z:
        return json.loads(z.read("closet-manifest.json"))["files"][name]


def test_checkpoints_by_url_reach_the_mars_and_the_image_labels(repo, trained):
    want = sha256(trained["ckpt"])
    assert want != sha256(DEMO / "nets_ema.ckpt")
    # The two archives that pack the StarGAN v2 files (closet.mar packs U^2-Net too): half the build time.
    r = make(repo, "image", f"IMAGE_BASE={BASE}", "MAR_MODELS=translation closet", *url_vars(trained), DRY_RUN="1",
             IMAGE_REPOSITORY=REPOSITORY, CI_COMMIT_SHA=SHA)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    fetched = repo / ".cache" / "checkpoints" / want / "100000_nets_ema.ckpt"
    assert sha256(fetched) == want and f"sha256 {want} verified" in r.stderr
    for name in ("translation", "closet"):
        mar = repo / "model-store" / f"{name}.mar"
        assert mar_digest(mar, "stargan.ckpt") == want
        assert mar_digest(mar, "stargan-meta.json") == sha256(trained["meta"])
    build = next(shlex.split(line[2:]) for line in r.stdout.splitlines() if line.startswith("+ buildah build"))
    labels = dict(build[i + 1].split("=", 1) for i, a in enumerate(build) if a == "--label")
    assert labels["closet.checkpoint.stargan.sha256"] == want
    assert labels["closet.checkpoint.stargan.file"] == "100000_nets_ema.ckpt"
    assert labels["closet.checkpoint.stargan-meta.sha256"] == sha256(trained["meta"])
    assert labels["closet.checkpoint.u2net.sha256"] == sha256(WEIGHTS)
    assert labels["closet.parser"] == "pose-garment" and labels["org.opencontainers.image.revision"] == SHA
    assert f"BASE={BASE}" in build and "FLAVOR=cpu" in build
    assert f"+ buildah push {REPOSITORY}:{SHA}-cpu" in r.stdout


def test_a_checkpoint_with_the_wrong_sha256_is_refused_before_any_mar(repo, trained):
    wrong = "f" * 64
    r = make(repo, "mars", "MAR_MODELS=translation closet", *url_vars(trained, ckpt_sha=wrong))
    assert r.returncode != 0
    assert f"expected {wrong}: refused" in r.stderr
    assert not (repo / ".cache" / "checkpoints" / wrong / "100000_nets_ema.ckpt").exists()
    assert not (repo / "model-store" / "translation.mar").exists()
    assert not (repo / "model-store" / "closet.mar").exists()


@pytest.mark.parametrize("bad, says", [
    (["STARGAN_CKPT_URL=file:///x.ckpt"], "STARGAN_CKPT_URL needs STARGAN_CKPT_SHA256"),
    (["STARGAN_CKPT_URL=file:///x.ckpt", f"STARGAN_CKPT_SHA256={'0' * 64}", "STARGAN_CKPT=/y.ckpt"],
     "set STARGAN_CKPT or STARGAN_CKPT_URL, not both"),
])
def test_incomplete_checkpoint_variables_stop_make(bad, says):
    r = make(ROOT, "-n", "mars", *bad)
    assert r.returncode != 0 and says in r.stderr, r.stderr[-1000:]


def test_https_like_fetch_sends_the_job_token_to_gitlab_only_and_logs_no_query(tmp_path):
    """tools/fetch_checkpoint.py over HTTP (a local server): GitLab's package registry gets the job's
    JOB-TOKEN, any other host does not, and a presigned URL's query string never reaches the log."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = (DEMO / "meta.json").read_bytes()
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append(self.headers.get("JOB-TOKEN"))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    env = {**os.environ, "CI_API_V4_URL": f"{base}/api/v4", "CI_JOB_TOKEN": "job-token-123"}
    tool = [sys.executable, str(ROOT / "tools" / "fetch_checkpoint.py"), "--sha256", hashlib.sha256(body).hexdigest()]
    try:
        for url, out in ((f"{base}/api/v4/projects/1/packages/generic/c/1/meta.json", "a.json"),
                         (f"{base}/bucket/meta.json?X-Amz-Signature=secret-sig", "b.json")):
            r = subprocess.run([*tool, "--url", url, "--out", str(tmp_path / out)], capture_output=True, text=True,
                               timeout=60, env=env)
            assert r.returncode == 0, r.stderr
            assert (tmp_path / out).read_bytes() == body
            assert "secret-sig" not in r.stderr
    finally:
        server.shutdown()
    assert seen == ["job-token-123", None]
