"""closet_dev.floor: the official-size networks `make bench-ensemble` reports, in PyTorch and in what
`auto` runs (their export)."""

from __future__ import annotations

import pytest
import torch

from closet import runtime
from closet.config import NetworkRuntime
from closet_dev import floor


def test_the_official_size_networks_are_counted_and_timed_in_both_runtimes():
    got = floor.official_models(runs=1)
    # the issue's counts: StarGAN v2's generator at 256 px 97 GFLOP, SCHP at 512 px 175 GFLOP
    assert got["stargan_v2_generator_256"]["flops"] / 1e9 == pytest.approx(97, rel=0.05)
    assert got["schp_atr_512"]["flops"] / 1e9 == pytest.approx(175, rel=0.05)
    for network, m in zip(("stargan", "schp"), got.values()):
        assert m["p50_s"] > 0
        assert m["runtime"] == runtime.resolve(network, NetworkRuntime(), torch.device("cpu"))
        assert m["served_p50_s"] > 0
