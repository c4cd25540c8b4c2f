"""Shared fixtures. `torchserve`: one real TorchServe per test session (see tests/torchserve.py).

Serve tests are marked `@pytest.mark.serve` and take the fixture:

    @pytest.mark.serve
    def test_x(torchserve):
        r = torchserve.predict("segmentation", data=png_bytes)

A model whose MAR is not built is skipped with a reason (ts.require); nothing is collect_ignore'd.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/torchserve.py helpers

import torchserve as ts_helpers  # noqa: E402


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory):
    """A running TorchServe on free loopback ports serving every built MAR (TorchServeSession)."""
    session, reason = ts_helpers.start_session_server(tmp_path_factory.mktemp("torchserve"))
    if session is None:
        pytest.skip(reason)
    try:
        yield session
    finally:
        session.server.stop()
