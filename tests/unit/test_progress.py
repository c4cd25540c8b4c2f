"""closet_dev.progress: a tqdm bar with an ETA on a terminal, plain log lines with the ETA elsewhere."""

from __future__ import annotations

import io
import logging

from closet_dev.progress import Progress, track


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_it_logs_plain_lines_with_an_eta(caplog):
    stream = io.StringIO()
    log = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        with Progress(4, "train", unit="step", log=log, every_s=0, stream=stream) as bar:
            for _ in range(3):
                bar.update()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("train: 1/4 (25%) [") and "<" in lines[0]  # elapsed<remaining
    assert lines[-1].startswith("train: 3/4 (75%)")
    assert stream.getvalue() == ""  # nothing drawn, no carriage returns in CI logs


def test_periodic_lines_are_rate_limited(caplog):
    log = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        bar = Progress(1000, "eval", log=log, every_s=3600, stream=io.StringIO())
        for _ in range(1000):
            bar.update()
        bar.close()
    assert [r.getMessage().split(" [")[0] for r in caplog.records] == ["eval: 1000/1000 (100%)"]


def test_on_a_terminal_it_draws_a_bar_and_logs_nothing(caplog):
    term = Terminal()
    log = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        assert list(track(range(5), desc="convert", unit="conv", log=log, every_s=0, stream=term)) == [0, 1, 2, 3, 4]
    assert "\r" in term.getvalue() and "convert: 100%" in term.getvalue() and "5/5" in term.getvalue()
    assert not caplog.records


def test_set_moves_to_an_absolute_count(caplog):
    log = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        with Progress(4, "models READY", unit="model", log=log, every_s=3600, stream=io.StringIO()) as bar:
            bar.set(2)
            bar.set(2)
            bar.set(4)
    assert caplog.records[-1].getMessage().startswith("models READY: 4/4 (100%)")
