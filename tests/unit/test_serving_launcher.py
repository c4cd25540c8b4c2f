"""closet_dev.launcher without a server: properties, expected models, load-failure detection."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from closet import config as closet_config
from closet_dev import configgen
from closet_dev.launcher import SERVING_ENV, Server, read_properties


def make_server(tmp_path, load_models: str | None = None) -> Server:
    text = configgen.render_properties(closet_config.load(), "local", model_store=str(tmp_path / "store"))
    if load_models is not None:
        text = text.replace(text.split("load_models=")[1].split("\n")[0], load_models)
    (tmp_path / "store").mkdir()
    (tmp_path / "c.properties").write_text(text)
    return Server.from_properties(tmp_path / "c.properties", tmp_path / "store", tmp_path / "logs")


def test_reads_addresses_from_the_rendered_properties(tmp_path):
    srv = make_server(tmp_path)
    s = closet_config.load().server
    assert srv.inference_url == f"http://127.0.0.1:{s.inference_port}"
    assert srv.management_url == f"http://127.0.0.1:{s.management_port}"
    assert read_properties(tmp_path / "c.properties")["metrics_mode"] == "prometheus"


def test_expected_models_are_built_and_listed(tmp_path):
    srv = make_server(tmp_path)
    name = closet_config.MODEL_NAMES[0]
    (tmp_path / "store" / f"{name}.mar").write_bytes(b"")
    (tmp_path / "store" / "stray.mar").write_bytes(b"")  # built but not in load_models
    (tmp_path / "store" / "weights").mkdir()
    assert srv.expected_models() == [name]


def test_load_all_means_every_mar(tmp_path):
    srv = make_server(tmp_path, load_models="all")
    (tmp_path / "store" / "a.mar").write_bytes(b"")
    assert srv.expected_models() == ["a"]


def test_failed_models_counts_distinct_failures_after_start(tmp_path):
    srv = make_server(tmp_path)
    srv.log_dir.mkdir()
    log = srv.log_dir / "ts_log.log"
    old = "2026-01-01T00:00:00,000 [WARN ] W-1 BatchAggregator - Load model failed: parsing, error: Worker died.\n"
    log.write_text(old * 3)
    srv._log_offset = log.stat().st_size  # what start() records: earlier runs do not count
    line = "2026-01-01T00:00:0{i},000 [WARN ] W-1 BatchAggregator - Load model failed: {m}, error: Worker died.\n"
    with open(log, "a") as f:
        f.write(line.format(i=1, m="parsing") * 2)  # log4j duplicates: one failure
        f.flush()
        assert srv.failed_models() == {}
        f.write(line.format(i=2, m="parsing"))
        f.write(line.format(i=3, m="closet"))
    failed = srv.failed_models()
    assert list(failed) == ["parsing"] and "2 times" in failed["parsing"]


@pytest.mark.parametrize("given,want,starts_", [
    ({}, "PASSIVE", 2), ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE", 2),
    ({**SERVING_ENV, "OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE", 1)])
def test_a_bench_starts_again_under_the_serving_env_unless_the_caller_chose(tmp_path, given, want, starts_):
    """under_serving_env: a bench whose environment lacks part of SERVING_ENV runs again with it
    (once: the second start finds it set), so its in-process numbers run under the workers' OpenMP
    and malloc policies; a value the caller set wins, as it does for the servers."""
    starts = tmp_path / "starts"
    script = tmp_path / "bench.py"
    script.write_text(
        "import os, pathlib\n"
        "from closet_dev.launcher import under_serving_env\n"
        f"p = pathlib.Path({str(starts)!r}); p.write_text(p.read_text() + 'x' if p.exists() else 'x')\n"
        "under_serving_env()\n"
        "print(os.environ['OMP_WAIT_POLICY'], os.environ['MALLOC_MMAP_THRESHOLD_'])\n")
    env = {k: v for k, v in os.environ.items() if k not in SERVING_ENV}
    env["PYTHONPATH"] = str(closet_config.REPO_ROOT)
    env.update(given)
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [want, SERVING_ENV["MALLOC_MMAP_THRESHOLD_"]]
    assert starts.read_text() == "x" * starts_


@pytest.mark.parametrize("serving", [True, False])
def test_the_serving_env_keeps_a_photo_sized_array_off_fresh_mappings(serving):
    """glibc honours SERVING_ENV's malloc thresholds: a 48 MB array (a 4000x4000 RGB photo) comes
    from the heap, whose pages stay mapped between requests, not from a mapping of its own made
    (and page-faulted) afresh each time, as it is under glibc's defaults."""
    script = (
        "import numpy as np\n"
        "def big():\n"
        "    return {line.split()[0] for line in open('/proc/self/maps')\n"
        "            if len(line.split()) == 5 and (lambda a, b: int(b, 16) - int(a, 16))(*line.split()[0].split('-')) >= 40e6}\n"
        "before = big(); photo = np.ones((4000, 4000, 3), np.uint8); print(len(big() - before))\n")
    env = {k: v for k, v in os.environ.items() if k not in SERVING_ENV}
    if serving:
        env.update(SERVING_ENV)
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("0" if serving else "1")
