"""The compute floor of a request: the FLOPs its networks run, over the CPU's measured conv peak.

`make bench-ensemble` divides the HTTP p50 by it (docs/speed.md). The peak is a probe, not a
datasheet number: a 3x3 conv 64->64 on 160x160 in channels_last, the best case of the networks'
own layers, on the threads torch uses. The FLOPs are counted by torch.utils.flop_counter on one
real request through the served ensemble with every network in PyTorch (ONNX Runtime runs the
same graphs, but the counter sees only PyTorch).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

PROBE_CHANNELS, PROBE_SIDE = 64, 160


def conv_peak_flops(runs: int = 21) -> float:
    """FLOP/s of the probe conv, best of `runs` (the peak: noise on a shared machine only slows it)."""
    conv = torch.nn.Conv2d(PROBE_CHANNELS, PROBE_CHANNELS, 3, padding=1, bias=False).eval()
    conv = conv.to(memory_format=torch.channels_last)
    x = torch.randn(1, PROBE_CHANNELS, PROBE_SIDE, PROBE_SIDE).contiguous(memory_format=torch.channels_last)
    flops = 2 * PROBE_CHANNELS * PROBE_CHANNELS * 9 * PROBE_SIDE * PROBE_SIDE
    samples = []
    with torch.inference_mode():
        for _ in range(3):
            conv(x)
        for _ in range(runs):
            t = time.perf_counter()
            conv(x)
            samples.append(time.perf_counter() - t)
    return flops / min(samples)


def request_flops(mar: str | Path, request) -> dict[str, float]:
    """FLOPs of one ensemble request, per network module class ("total" too), all networks in PyTorch."""
    from closet_dev.mar import every_network_in, load_ensemble

    with every_network_in("fp32"):
        ens = load_ensemble(mar)
    counter = FlopCounterMode(display=False)
    with counter:
        ens.run([request])
    per_module = {name: float(sum(counts.values())) for name, counts in counter.get_flop_counts().items()
                  if name != "Global" and "." not in name}
    return {**per_module, "total": float(counter.get_total_flops())}


def official_models(runs: int = 3) -> dict[str, dict[str, float | str]]:
    """FLOPs and p50 seconds at batch 1 of the official-size networks a user may bring (random
    weights: the cost, not the output): StarGAN v2's generator at 256 px, SCHP (ATR) at 512 px, in
    PyTorch fp32 and in what `auto` runs on this device (the export `make mars` packs)."""
    from closet import runtime
    from closet.config import NetworkRuntime
    from closet.models import schp, stargan_v2

    nets = stargan_v2.build_nets(img_size=256, num_domains=5)
    generator, mapping = nets["generator"].eval(), nets["mapping_network"].eval()
    x, y = torch.randn(1, 3, 256, 256), torch.zeros(1, dtype=torch.long)
    with torch.inference_mode():
        style = mapping(torch.randn(1, 16), y)
    parser, photo = schp.FusionLogits(schp.build("atr")).eval(), torch.randn(1, 3, 512, 512)
    cases = {"stargan_v2_generator_256": ("stargan", generator, (x, style), ("x", "s")),
             "schp_atr_512": ("schp", parser, (photo,), ("x",))}
    out = {}
    for name, (network, net, inputs, names) in cases.items():
        with torch.inference_mode():
            counter = FlopCounterMode(display=False)
            with counter:
                net(*inputs)
            out[name] = {"flops": float(counter.get_total_flops()),
                         "p50_s": p50_seconds(lambda net=net, inputs=inputs: net(*inputs), runs)}
        served = runtime.resolve(network, NetworkRuntime(), torch.device("cpu"))
        if served in runtime.EXPORT_RUNTIMES:
            session = runtime.OnnxNetwork(runtime.export_session(served, runtime.export_onnx(
                net, *(t.shape[1:] for t in inputs), names=names)), names)
            out[name] |= {"runtime": served,
                          "served_p50_s": p50_seconds(lambda session=session, inputs=inputs: session(*inputs), runs)}
    return out


def p50_seconds(fn, runs: int) -> float:
    """Median wall time of `runs` calls of `fn`, after one untimed call (first-call allocations)."""
    fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)
