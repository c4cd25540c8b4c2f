"""Serve the built image for real and send it the smoke request and hostile input (`make image-smoke`).

    python tools/image_smoke.py --iid out/image-cpu.iid [--timeout 900]

1. Reads the image's config: its USER, ENTRYPOINT + CMD, HEALTHCHECK and labels (buildah inspect);
   refuses a root user, a missing health check or missing checkpoint labels, and checks that the
   labels' digests are those of the checkpoints inside the image's MARs.
2. Starts TorchServe inside the image (`buildah from` + `buildah run --isolation chroot`) exactly as
   the image's ENTRYPOINT and CMD say, as the image's user, with the image's own config.properties.
   chroot isolation shares the host's network, so the config's ports (8080 inference, 8081
   management, 8082 metrics, 7070/7071 gRPC) must be free on the host; they are checked first.
3. Waits until /ping is healthy and every model has a READY worker, and checks that every process
   running in the container runs under the image's UID. The image's HEALTHCHECK command, run in
   the container, must fail before TorchServe starts and pass once it serves.
4. From the host: ci/smoke.sh (the deploy jobs' smoke request), a sample of the hostile-input table
   (tests/serve/test_hostile.py), each answered with a 4xx JSON error and no worker restart, then one
   good request per model (answers written to out/image-smoke/<model>.png).
5. Stops the container's processes, removes the container, and exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import requests
from PIL import Image
from skimage import data as skdata

log = logging.getLogger("image-smoke")

REPO = Path(__file__).resolve().parent.parent
IMAGE_CONFIG = "/home/model-server/config/config.properties"
MODEL_STORE = "/home/model-server/model-store"
SAMPLES = REPO / "assets" / "stargan-fmnist" / "samples"


# ---------------------------------------------------------------- the image's own settings
def buildah(*args: str, check: bool = True) -> str:
    r = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=600)
    if check and r.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


def image_config(iid: str) -> dict:
    """The image's Docker config (User, Entrypoint, Cmd, Healthcheck, Labels, Env, WorkingDir)."""
    return json.loads(buildah("inspect", "--type", "image", iid))["Docker"]["config"]


def describe_image(cfg: dict) -> list[str]:
    """What `make image-inspect` prints: user, health check, command, labels."""
    hc = cfg.get("Healthcheck") or {}
    lines = [f"user         {cfg.get('User')}",
             f"healthcheck  {hc.get('Test')} every {hc.get('Interval', 0) / 1e9:.0f} s, "
             f"start period {hc.get('StartPeriod', 0) / 1e9:.0f} s, {hc.get('Retries')} retries",
             f"command      {(cfg.get('Entrypoint') or []) + (cfg.get('Cmd') or [])}",
             f"workdir      {cfg.get('WorkingDir')}"]
    lines += [f"label        {k}={v}" for k, v in sorted((cfg.get("Labels") or {}).items())]
    return lines


def properties(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def check_image(cfg: dict, root: Path) -> list[str]:
    """Problems with the image's user, health check and checkpoint labels (empty when fine)."""
    problems = []
    user = (cfg.get("User") or "0").split(":")[0]
    if user in ("", "0", "root"):
        problems.append(f"image user is {cfg.get('User')!r}: must not be root")
    test = (cfg.get("Healthcheck") or {}).get("Test") or []
    if not any("/ping" in part for part in test):
        problems.append(f"health check does not probe /ping: {test}")
    labels = cfg.get("Labels") or {}
    for key in ("org.opencontainers.image.title", "org.opencontainers.image.revision", "closet.flavor",
                "closet.parser", "closet.checkpoint.u2net.sha256", "closet.checkpoint.stargan.sha256"):
        if not labels.get(key):
            problems.append(f"label {key} missing")
    # The labels must describe the MARs inside the image, byte for byte.
    for mar in sorted((root / MODEL_STORE.lstrip("/")).glob("*.mar")):
        with zipfile.ZipFile(mar) as z:
            files = json.loads(z.read("closet-manifest.json"))["files"]
            inputs = json.loads(z.read("closet-build.json"))["inputs"]
        for name in inputs:
            key = f"closet.checkpoint.{Path(name).stem}.sha256"
            if labels.get(key) != files[name]:
                problems.append(f"{mar.name}: {name} has sha256 {files[name]}, label {key}={labels.get(key)}")
    return problems


# ---------------------------------------------------------------- the container
class Container:
    """A buildah working container of the image and the processes `buildah run` started in it."""

    def __init__(self, iid: str):
        self.name = buildah("from", "--pull-never", iid)
        self.root = Path(buildah("mount", self.name))  # the image's files, read from the host
        self.proc: subprocess.Popen | None = None
        self.chroot: str | None = None  # the root directory the started processes see

    def start(self, argv: list[str], log_path: Path) -> None:
        # chroot isolation: no network namespace (host network); buildah run applies the image's
        # USER, WORKDIR and ENV by itself.
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(["buildah", "run", "--isolation", "chroot", self.name, "--", *argv],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def run_once(self, argv: list[str]) -> int:
        """Exit status of a command run to completion inside the container (as the image's user)."""
        r = subprocess.run(["buildah", "run", "--isolation", "chroot", self.name, "--", *argv],
                           capture_output=True, timeout=120)
        return r.returncode

    def pids(self) -> list[int]:
        """Host PIDs of the processes running chrooted in this container.

        buildah run chroots its payload into a private mount of the image (/var/tmp/buildah*/mnt/rootfs):
        that root is learnt from the first descendant of `buildah run` whose / is not the host's, and
        every process with the same root belongs to the container, reparented or not.
        """
        procs = {}
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    procs[int(p.name)] = (ppid, os.readlink(p / "root"))
                except (OSError, ValueError, IndexError):
                    continue
        if self.chroot is None and self.proc is not None:
            family, grew = {self.proc.pid}, True
            while grew:
                kids = {pid for pid, (ppid, _) in procs.items() if ppid in family} - family
                family |= kids
                grew = bool(kids)
            self.chroot = next((procs[p][1] for p in sorted(family) if p in procs and procs[p][1] != "/"), None)
        return sorted(pid for pid, (_, root) in procs.items() if self.chroot and root == self.chroot)

    def stop(self) -> None:
        """SIGTERM every process in the container, SIGKILL what is left after 60 s; remove the container."""
        for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.5)
        left = self.pids()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            self.log.close()
        buildah("umount", self.name, check=False)
        buildah("rm", self.name, check=False)
        if left:
            raise RuntimeError(f"processes still running in the container: {left}")


def uid_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def port_free(url: str) -> bool:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", int(port))) != 0


# ---------------------------------------------------------------- requests
def jpeg(size=(240, 160)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(skdata.astronaut()).resize(size, Image.Resampling.BILINEAR).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def png_bomb(side: int = 50_000) -> bytes:
    """A ~100-byte PNG declaring side x side 8-bit gray (2.5 GB decoded)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (side + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def hostile_sample(max_request_size: int) -> list[tuple[str, str, dict, str | None]]:
    """(name, model, requests kwargs, expected reason or None) for a sample of tests/serve/test_hostile.py."""
    good = jpeg()
    raw = {"Content-Type": "application/octet-stream"}
    return [
        ("empty body", "segmentation", {"data": b"", "headers": raw}, "bad_image"),
        ("plain text", "parsing", {"data": b"hello, this is not an image\n" * 10, "headers": raw}, "bad_image"),
        ("truncated jpeg", "closet", {"data": good[:600], "headers": raw}, "bad_image"),
        ("png bomb 50000x50000", "segmentation", {"data": png_bomb(), "headers": raw}, "too_large"),
        ("body above max_request_size", "segmentation", {"data": b"\0" * (max_request_size + 4096), "headers": raw},
         None),
        ("unknown field", "segmentation", {"files": [("image", ("a.jpg", good, "image/jpeg")),
                                                      ("no_such_option", (None, "1"))]}, "bad_option"),
        ("target path", "closet", {"files": [("image", ("a.jpg", good, "image/jpeg")),
                                             ("target", (None, "../../../../etc/passwd"))]}, "unknown_target"),
        ("target html", "translation", {"files": [("image", ("a.jpg", good, "image/jpeg")),
                                                  ("target", (None, "<script>alert(1)</script>"))]}, "unknown_target"),
        ("huge header value 6k", "segmentation", {"data": good, "headers": {**raw, "X-Closet-Format": "y" * 6000}},
         None),
    ]


def good_requests(targets: dict[str, str]) -> dict[str, dict]:
    photo = jpeg((512, 512))  # a photo size users send
    garment = (SAMPLES / "tshirt.png").read_bytes()
    return {
        "segmentation": {"data": photo, "headers": {"Content-Type": "image/jpeg"}},
        "parsing": {"data": photo, "headers": {"Content-Type": "image/jpeg"}},
        "translation": {"files": [("image", ("t.png", garment, "image/png")), ("target", (None, targets["translation"])),
                                  ("seed", (None, "7"))]},
        "closet": {"files": [("image", ("a.jpg", photo, "image/jpeg")), ("target", (None, targets["closet"])),
                             ("seed", (None, "7"))]},
    }


class Smoke:
    def __init__(self, props: dict[str, str]):
        self.inference = props["inference_address"].replace("0.0.0.0", "127.0.0.1")
        self.management = props["management_address"]
        self.http = requests.Session()
        self.failures: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        log.info("%s %s", "PASS" if ok else "FAIL", what)
        if not ok:
            self.failures.append(what)

    def models(self) -> list[str]:
        return sorted(m["modelName"] for m in self.http.get(f"{self.management}/models", timeout=10).json()["models"])

    def describe(self, model: str) -> dict:
        return self.http.get(f"{self.management}/models/{model}?customized=true", timeout=30).json()[0]

    def worker_pids(self, model: str) -> list[int]:
        return sorted(w["pid"] for w in self.describe(model)["workers"])

    def wait_ready(self, want: list[str], timeout: float, alive) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if not alive():
                raise RuntimeError("TorchServe exited while starting")
            try:
                if self.http.get(f"{self.inference}/ping", timeout=5).json().get("status") == "Healthy" \
                        and self.models() == want \
                        and all(any(w["status"] == "READY" for w in self.describe(m)["workers"]) for m in want):
                    return time.monotonic() - t0
            except (requests.RequestException, ValueError, KeyError, IndexError):
                pass
            time.sleep(3)
        raise TimeoutError(f"models not READY within {timeout:.0f} s")

    def hostile(self, cases, models: list[str]) -> None:
        pids = {m: self.worker_pids(m) for m in models}
        for name, model, kw, reason in cases:
            try:
                r = self.http.post(f"{self.inference}/predictions/{model}", timeout=300, **kw)
            except requests.ConnectionError:
                # TorchServe may close the socket on a body it refuses before reading all of it.
                self.check(name == "body above max_request_size", f"{model}/{name}: connection closed")
                continue
            try:
                doc = r.json()
            except ValueError:
                doc = None
            bare_413 = name == "body above max_request_size" and r.status_code == 413 and not r.content
            ok = 400 <= r.status_code < 500 and (bare_413 or isinstance(doc, dict))
            if reason is not None:
                ok = ok and isinstance(doc, dict) and doc.get("reason") == reason
            ok = ok and "<script" not in r.text.lower() and "y" * 200 not in r.text
            self.check(ok, f"{model}/{name}: HTTP {r.status_code} {r.text[:120]!r}")
        for model in models:
            self.check(self.worker_pids(model) == pids[model], f"{model}: same worker PIDs after the hostile sample")

    def good(self, models: list[str], out_dir: Path) -> None:
        """One good request per model; the answers are written to out_dir/<model>.png to look at."""
        targets = {}
        for m in ("translation", "closet"):
            meta = self.describe(m).get("customizedMetadata")
            meta = json.loads(meta) if isinstance(meta, str) else meta
            targets[m] = (meta.get("targets") or meta.get("domains"))[0]
        for model, kw in good_requests(targets).items():
            if model not in models:
                continue
            t0 = time.monotonic()
            r = self.http.post(f"{self.inference}/predictions/{model}", timeout=600, **kw)
            if r.status_code == 200:
                (out_dir / f"{model}.png").write_bytes(r.content)
            self.check(r.status_code == 200 and r.headers.get("Content-Type", "").startswith("image/"),
                       f"{model}: good request HTTP {r.status_code} {r.headers.get('Content-Type')} "
                       f"{len(r.content)} bytes in {time.monotonic() - t0:.1f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iid", type=Path, required=True, help="file holding the image ID (make image writes it)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds to wait for every model to be READY")
    ap.add_argument("--logs", type=Path, default=REPO / "out" / "image-smoke")
    ap.add_argument("--inspect", action="store_true", help="print and check the image's settings; serve nothing")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    iid = args.iid.read_text().strip()
    cfg = image_config(iid)
    argv_ts = (cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])
    for line in describe_image(cfg):
        log.info("%s", line)
    args.logs.mkdir(parents=True, exist_ok=True)

    box = Container(iid)
    smoke = None
    try:
        problems = check_image(cfg, box.root)
        for p in problems:
            log.error("FAIL %s", p)
        if problems:
            return 1
        log.info("PASS image %s: non-root user, /ping health check, checkpoint labels match the MARs inside",
                 iid.removeprefix("sha256:")[:12])
        if args.inspect:
            return 0
        config_path = next((a for a in argv_ts if a.endswith("config.properties")), IMAGE_CONFIG)
        props = properties((box.root / config_path.lstrip("/")).read_text())
        busy = [u for k, u in props.items() if k.endswith("_address") and not k.startswith("grpc") and not port_free(u)]
        busy += [f"127.0.0.1:{v}" for k, v in props.items() if k.startswith("grpc") and k.endswith("_port")
                 and not port_free(f"http://127.0.0.1:{v}")]
        if busy:
            log.error("FAIL ports in use on this host (chroot isolation shares its network): %s", busy)
            return 1
        expected = sorted(Path(m).stem for m in props["load_models"].split(","))
        smoke = Smoke(props)
        health = (cfg["Healthcheck"]["Test"])[1:]  # ["CMD", argv...]
        smoke.check(box.run_once(health) != 0, "HEALTHCHECK fails while nothing serves")
        box.start(argv_ts, args.logs / "torchserve.out")
        took = smoke.wait_ready(expected, args.timeout, lambda: box.proc.poll() is None)
        smoke.check(box.run_once(health) == 0, "HEALTHCHECK passes inside the container once the models are READY")
        smoke.check(True, f"TorchServe in the image: {len(expected)} models READY after {took:.0f} s")
        uids = {pid: uid_of(pid) for pid in box.pids()}
        want_uid = int(cfg["User"].split(":")[0])
        smoke.check(bool(uids) and set(uids.values()) == {want_uid},
                    f"{len(uids)} processes in the container, UIDs {sorted(set(uids.values()))} (image user {want_uid})")
        r = subprocess.run(["bash", str(REPO / "ci" / "smoke.sh")], cwd=REPO, capture_output=True, text=True,
                           timeout=900, env={**os.environ, "SMOKE_URL": smoke.inference, "DEPLOY_NAMESPACE": "image"})
        for line in (r.stdout + r.stderr).strip().splitlines():
            log.info("  %s", line)
        smoke.check(r.returncode == 0, "ci/smoke.sh against the image")
        from closet import config as closet_config

        max_request = closet_config.load().server.max_request_size
        smoke.hostile(hostile_sample(max_request), expected)
        smoke.good(expected, args.logs)
    finally:
        box.stop()
    if smoke is None:
        return 1
    log.info("%s: %d failure(s)%s", "image-smoke", len(smoke.failures),
             "" if not smoke.failures else ": " + "; ".join(smoke.failures))
    return 1 if smoke.failures else 0


if __name__ == "__main__":
    sys.exit(main())
