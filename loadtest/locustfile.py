"""Locust load test of closet: real photos to /predictions/closet (or KServe v2), every answer checked,
judged against an SLO file when the run ends.

    locust -f loadtest/locustfile.py --headless -H http://127.0.0.1:8080 --shape step \
        --peak-users 8 --shape-seconds 120 --slo-file loadtest/slo-local.yaml --csv loadtest/reports/run \
        --csv-full-history --html loadtest/reports/run.html
(`make loadtest` runs exactly that against `make serve`.)

Options added here (also in the web UI):
  --model NAME          model to load (default closet); others get the photo only
  --kserve-v2           POST KServe v2 JSON to /v2/models/<model>/infer (TorchServe's kserve variant)
  --targets SPEC        weighted target mix 'tshirt=3,dress=1'; default: every domain the model
                        advertises (from its UnknownTarget answer), then the sidecar
                        assets/stargan-fmnist/meta.json, equal weights
  --reference-ratio R   share of reference-mode requests (the rest latent with random seeds)
  --shape NAME          constant (use -u/-r/-t) | ramp | step | spike | soak (loadtest/shapes.py)
  --peak-users N, --shape-seconds S   the shape's peak users and length
  --slo-file PATH       SLO thresholds (loadtest/slo.py); empty: no gate
  --slo-junit PATH      also write the SLO verdicts as JUnit XML
Photos, request builders and the response check live in loadtest/closet_requests.py (the tests use them too).
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
from pathlib import Path

from gevent.lock import Semaphore
from locust import HttpUser, LoadTestShape, between, events, task
from locust.runners import MasterRunner, WorkerRunner

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling modules, also when mounted flat from a ConfigMap

import closet_requests as cr  # noqa: E402
import shapes  # noqa: E402
import slo as slo_gate  # noqa: E402

log = logging.getLogger("closet.loadtest")
SIDECAR = HERE.parent / "assets" / "stargan-fmnist" / "meta.json"
CLOSET_OPTIONS_MODELS = ("closet",)  # models that take target/mode/seed/format


@events.init_command_line_parser.add_listener
def _options(parser):
    g = parser.add_argument_group("closet")
    g.add_argument("--model", default="closet", help="model to load-test")
    g.add_argument("--kserve-v2", action="store_true", default=False, help="send KServe v2 JSON to /v2/models/<model>/infer")
    g.add_argument("--targets", default="", help="weighted target mix, e.g. 'tshirt=3,dress=1'")
    g.add_argument("--reference-ratio", type=float, default=0.3, help="share of reference-mode requests")
    g.add_argument("--shape", default="constant", choices=("constant", *shapes.SHAPES), help="named load shape")
    g.add_argument("--peak-users", type=int, default=4, help="the shape's peak users")
    g.add_argument("--shape-seconds", type=float, default=120.0, help="the shape's length in seconds")
    g.add_argument("--slo-file", default=str(HERE / "slo.yaml"), help="SLO thresholds; empty for no gate")
    g.add_argument("--slo-junit", default="", help="write SLO verdicts as JUnit XML here")
    g.add_argument("--seed", type=int, default=0, help="seed of the request mix (per user: seed + user number)")


def _discover_targets(environment, photos) -> dict[str, float]:
    """Every target the model advertises: one request with an unknown target returns them in its 400."""
    import requests

    opts = environment.parsed_options
    host = environment.host.rstrip("/")
    probe = cr.closet_call(min(photos, key=lambda p: len(p.data)), opts.model, target="?", mode="latent")
    try:
        r = requests.post(host + probe.path, timeout=60, **cr.multipart_kwargs(probe))
        found = cr.targets_from_error(r.content) if r.status_code == 400 else []
    except requests.RequestException as e:
        log.warning("target discovery failed: %s", e)
        found = []
    if not found and SIDECAR.is_file():
        found = json.loads(SIDECAR.read_text(encoding="utf-8")).get("domains", [])
    return {t: 1.0 for t in found}


MIX: cr.Mix | None = None
_MIX_LOCK = Semaphore()


@events.test_start.add_listener
def _prepare(environment, **_kw):
    # Local runner: build (and log) the mix before users start. Workers build their own in
    # on_start (photos are re-encoded locally, never shipped over the wire); a master runs no users.
    if not isinstance(environment.runner, (WorkerRunner, MasterRunner)) and MIX is None:
        _build_mix(environment)


def _build_mix(environment) -> cr.Mix:
    global MIX
    with _MIX_LOCK:  # users start concurrently (gevent): discover targets once
        if MIX is not None:
            return MIX
        return _make_mix(environment)


def _make_mix(environment) -> cr.Mix:
    global MIX
    opts = environment.parsed_options
    photos = cr.load_photos()
    targets: dict[str, float] = {}
    if opts.model in CLOSET_OPTIONS_MODELS:
        targets = cr.parse_weights(opts.targets) if opts.targets else _discover_targets(environment, photos)
    MIX = cr.Mix(photos, targets, reference_ratio=opts.reference_ratio if opts.model in CLOSET_OPTIONS_MODELS else 0)
    log.info("mix: %d photos %s, targets %s, reference ratio %.2f", len(photos), [p.name for p in photos],
             targets or "(server default)", MIX.reference_ratio)
    return MIX


class ClosetUser(HttpUser):
    wait_time = between(0.5, 1.5)
    _count = 0

    def on_start(self):
        ClosetUser._count += 1
        opts = self.environment.parsed_options
        self.rng = random.Random(opts.seed * 1000 + ClosetUser._count)
        self.mix = MIX or _build_mix(self.environment)

    def _call(self) -> cr.Call:
        opts = self.environment.parsed_options
        photo, options, ref = self.mix.draw(self.rng)
        if opts.model not in CLOSET_OPTIONS_MODELS:
            return cr.plain_call(photo, opts.model)
        build = cr.v2_call if opts.kserve_v2 else cr.closet_call
        return build(photo, opts.model, reference=ref, **options)

    @task
    def swap(self):
        call = self._call()
        with self.client.post(call.path, name=call.name, catch_response=True, timeout=600,
                              **cr.multipart_kwargs(call)) as resp:
            problem = cr.check_response(call, resp.status_code, resp.headers.get("Content-Type", ""),
                                        resp.content or b"")
            if problem:
                resp.failure(f"{call.photo.name}: {problem}")
            else:
                resp.success()


class ClosetShape(LoadTestShape):
    """Dispatches on --shape; `constant` leaves users/spawn rate/run time to -u/-r/-t."""

    use_common_options = True

    def tick(self):
        opts = self.runner.environment.parsed_options
        if opts.shape == "constant":
            if opts.run_time and self.get_run_time() >= opts.run_time:
                return None
            return (opts.num_users or 1), (opts.spawn_rate or 1)
        return shapes.tick(opts.shape, self.get_run_time(), opts.peak_users, opts.shape_seconds)


@events.quitting.add_listener
def _slo_gate(environment, **_kw):
    """Exit non-zero when an SLO is missed, naming it (master or local runner only)."""
    opts = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner) or not opts.slo_file:
        return
    total = environment.stats.total
    checks = slo_gate.judge(slo_gate.load(opts.slo_file), p95_ms=total.get_response_time_percentile(0.95) or 0.0,
                            error_ratio=total.fail_ratio, rps=total.total_rps, requests=total.num_requests)
    for c in checks:
        (log.info if c.ok else log.error)(c.line())
    missed = [c.name for c in checks if not c.ok]
    if opts.slo_junit:
        Path(opts.slo_junit).parent.mkdir(parents=True, exist_ok=True)
        Path(opts.slo_junit).write_text(slo_gate.junit(checks), encoding="utf-8")
    if os.environ.get("CLOSET_SLO_JUNIT_STDOUT"):  # in a pod: the CI job reads the verdicts from the log
        sys.stdout.write(slo_gate.BEGIN + slo_gate.junit(checks) + slo_gate.END + "\n")
    if missed:
        log.error("SLO gate FAILED: missed %s (SLO file %s)", ", ".join(missed), opts.slo_file)
        environment.process_exit_code = 1
    else:
        log.info("SLO gate passed (%s)", opts.slo_file)
        environment.process_exit_code = 0
