#!/usr/bin/env python
"""OpenVINO against the served ONNX Runtime (`make bench-openvino`): the U^2-Net-P export packed in
model-store/closet.mar, on the package photos at 320 px, each runtime on the served thread count,
the calls alternating so that a drift of the box falls on both; OpenVINO as served (compiled for one
image, a batch run image by image) and the export's own any-batch graph beside it, one photo and a
batch of four. It prints the p50 and the best time
of each, and the person mask IoU of OpenVINO f32 and bf16 against ONNX Runtime's. Then the other
networks' exports in fp32, PyTorch against both runtimes, alternating too: the demo's StarGAN v2
generator (packed in the archive, batch 1 and the 5 targets of one photo), and at the official
sizes a user brings (random weights): the generator and the style encoder at 256 px, SCHP (ATR) at
512 px.

The issue (#18) asked for the fastest maintained CPU runtime by measurement: this is the one that
made OpenVINO `auto`'s choice on CPU (closet/runtime.py); docs/speed.md keeps what it read.

Usage: python tools/bench_openvino.py [--runs 25] [--mar model-store/closet.mar] [--json out/bench/openvino.json]
       [--official-scale 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from closet import runtime
from closet.runtime import onnx_session
from closet.stages.segment import U2NET_ONNX, is_person, norm_pred, postprocess, preprocess
from closet_dev import pose_photos
from closet_dev.answers import iou

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut", "grace_hopper", "camera")


def openvino_model(onnx: bytes, precision: str, threads: int, name: str, any_batch: bool = False):
    """The export as closet serves it in OpenVINO at `precision` ("fp32" or "bf16"), or None when
    the CPU has no bf16; `any_batch`: the export's own any-batch graph instead of the served one-image one."""
    if precision == "bf16" and not runtime.openvino_bf16_supported():
        return None
    session = runtime.OpenVinoSession(onnx, precision, threads, any_batch=any_batch)
    return lambda x: session.run(None, {name: x})[0]


def person(saliency: np.ndarray) -> np.ndarray:
    """The person mask at 320 px as the stage makes it from U^2-Net's fused output."""
    prob = norm_pred(torch.from_numpy(saliency[:, 0])).numpy()[0]
    return is_person(postprocess(prob, prob.shape[::-1]))


def other_networks(mar: str, runs: int, scale: float = 1.0) -> dict:
    """p50 seconds of each network in PyTorch, ONNX Runtime and OpenVINO f32 (their largest output
    difference from PyTorch too), the calls alternating; the official ones at `scale` times their
    sizes (a test checks the bench at a quarter, in a quarter of its time)."""
    from closet.models import schp, stargan_v2
    from closet.stages.translate import EXPORTS, STARGAN_CKPT, STARGAN_META

    torch.manual_seed(0)
    generator_onnx, generator_inputs, _ = EXPORTS["generator"]
    _, encoder_inputs, _ = EXPORTS["style_encoder"]
    with zipfile.ZipFile(mar) as z:
        demo_onnx = z.read(generator_onnx)
    demo = stargan_v2.load_with_sidecar(str(ROOT / STARGAN_CKPT.default), str(ROOT / STARGAN_META.default))
    side, schp_side = int(256 * scale), int(512 * scale)
    official = stargan_v2.build_nets(img_size=side, num_domains=5)
    parser = schp.FusionLogits(schp.build("atr")).eval()

    def gen_inputs(n: int, channels: int, size: int):  # the demo's style code is the official 64 wide
        return torch.rand(n, channels, size, size) * 2 - 1, torch.randn(n, int(demo.style_dim))

    cases = {  # name: (module, inputs, input names, the export: packed bytes, or None to export now)
        "demo generator 32 px, batch 1": (demo.generator, gen_inputs(1, 3, 32), generator_inputs, demo_onnx),
        "demo generator 32 px, batch 5": (demo.generator, gen_inputs(5, 3, 32), generator_inputs, demo_onnx),
        f"generator {side} px": (official["generator"].eval(), gen_inputs(1, 3, side), generator_inputs, None),
        f"style encoder {side} px": (official["style_encoder"].eval(), (torch.rand(1, 3, side, side) * 2 - 1,
                                     torch.tensor([2])), encoder_inputs, None),
        f"SCHP (ATR) {schp_side} px": (parser, (torch.randn(1, 3, schp_side, schp_side),), ("x",), None),
    }
    out = {}
    for name, (net, inputs, names, onnx) in cases.items():
        onnx = onnx or runtime.export_onnx(net, *inputs, names=names)  # batch 1: the inputs are the examples
        sessions = {rt: runtime.OnnxNetwork(runtime.export_session(rt, onnx), names) for rt in runtime.EXPORT_RUNTIMES}
        calls = {"torch": lambda net=net, inputs=inputs: net(*inputs)} | {
            rt: (lambda s=s, inputs=inputs: s(*inputs)[0]) for rt, s in sessions.items()}
        with torch.inference_mode():
            want = net(*inputs)
            result = {rt: {"largest_difference": float((call() - want).abs().max()), "samples": []}
                      for rt, call in calls.items()}
            for _ in range(runs):
                for rt, call in calls.items():
                    t0 = time.perf_counter()
                    call()
                    result[rt]["samples"].append(time.perf_counter() - t0)
        for r in result.values():
            r["p50_s"] = statistics.median(r.pop("samples"))
        out[name] = result
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=25)
    ap.add_argument("--mar", default=str(ROOT / "model-store" / "closet.mar"))
    ap.add_argument("--json", default=str(ROOT / "out" / "bench" / "openvino.json"))
    ap.add_argument("--official-scale", type=float, default=1.0,
                    help="the official-size networks at this times their sizes (256 and 512 px at 1)")
    args = ap.parse_args(argv)

    with zipfile.ZipFile(args.mar) as z:
        onnx = z.read(U2NET_ONNX)
    threads = torch.get_num_threads()
    served = onnx_session(onnx, threads)
    name = served.get_inputs()[0].name
    runtimes = {"onnxruntime f32": lambda x: served.run(None, {name: x})[0]}
    for key, precision, any_batch in (("f32", "fp32", False), ("f32 any batch", "fp32", True),
                                      ("bf16", "bf16", False), ("bf16 any batch", "bf16", True)):
        model = openvino_model(onnx, precision, threads, name, any_batch)
        if model is not None:
            runtimes[f"openvino {key}"] = model

    scenes = pose_photos.photos()
    photos = [preprocess(scenes[p]).numpy()[None] for p in PHOTOS]
    reference = [runtimes["onnxruntime f32"](x) for x in photos]
    result: dict = {"threads": threads, "runtimes": {}}
    for key, run in runtimes.items():
        outputs = [run(x) for x in photos]
        result["runtimes"][key] = {
            "mask_iou": {p: round(iou(person(o), person(r)), 4) for p, o, r in zip(PHOTOS, outputs, reference)},
            "largest_difference": float(max(np.abs(o - r).max() for o, r in zip(outputs, reference))),
            "samples": []}
    for i in range(args.runs):  # alternating, one photo a round
        x = photos[i % len(photos)]
        for key, run in runtimes.items():
            t0 = time.perf_counter()
            run(x)
            result["runtimes"][key]["samples"].append(time.perf_counter() - t0)

    print(f"U^2-Net-P export ({U2NET_ONNX} in {Path(args.mar).name}) at 320 px, {threads} threads, "
          f"{args.runs} alternating calls:")
    for key, r in result["runtimes"].items():
        samples = r.pop("samples")
        r["p50_s"], r["best_s"] = statistics.median(samples), min(samples)
        ious = ", ".join(f"{p} {v:.4f}" for p, v in r["mask_iou"].items())
        print(f"  {key:22s} p50 {r['p50_s']:.3f} s, best {r['best_s']:.3f} s; mask IoU against "
              f"onnxruntime: {ious}; largest output difference {r['largest_difference']:.2g}")
    if "openvino bf16" not in runtimes:
        print("  openvino bf16: this CPU has no bf16")
    # A batch of four as TorchServe hands one over: served image by image, or the export's graph in one call.
    four = np.concatenate([photos[i % len(photos)] for i in range(4)])
    batched = {key: runtimes[key] for key in ("openvino f32", "openvino f32 any batch")}
    outputs = {key: run(four) for key, run in batched.items()}
    samples: dict[str, list[float]] = {key: [] for key in batched}
    for _ in range(max(3, args.runs // 5)):
        for key, run in batched.items():
            t0 = time.perf_counter()
            run(four)
            samples[key].append(time.perf_counter() - t0)
    result["batch_of_four"] = {key: {"p50_s": statistics.median(v)} for key, v in samples.items()}
    result["batch_of_four"]["largest_difference"] = float(np.abs(outputs["openvino f32"] - outputs["openvino f32 any batch"]).max())
    print("A batch of four photos (p50): " + ", ".join(f"{key} {v['p50_s']:.3f} s" for key, v in result["batch_of_four"].items()
                                                      if isinstance(v, dict))
          + f"; largest output difference {result['batch_of_four']['largest_difference']:.2g}")
    result["networks"] = other_networks(args.mar, max(3, args.runs // 5), args.official_scale)
    print("The other networks in fp32 (p50; largest output difference from PyTorch):")
    for name, r in result["networks"].items():
        print(f"  {name:30s} " + ", ".join(f"{rt} {v['p50_s'] * 1e3:.1f} ms ({v['largest_difference']:.1g})"
                                           for rt, v in r.items()))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
