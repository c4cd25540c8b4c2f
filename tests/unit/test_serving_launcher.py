"""closet_dev.launcher without a server: properties, expected models, load-failure detection."""

from __future__ import annotations

from closet import config as closet_config
from closet_dev import configgen
from closet_dev.launcher import Server, read_properties


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
