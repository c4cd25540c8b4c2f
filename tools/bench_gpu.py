#!/usr/bin/env python
"""The GPU profile (`make bench-gpu`, issue #18): what the networks and the served ensemble do on CUDA.

1. every network at its serving size (real weights where the project has them) and at the official
   checkpoint sizes a user may bring (random weights: the cost, not the output): images/s at batch
   1, 4 and 8 in fp32, tf32, fp16 and bf16 (closet.runtime.autocast, the serving path's context), timed
   with CUDA events, and each reduced precision's relative difference from fp32 on a real input;
2. the served ensemble (an extracted closet archive) on CUDA, fp32, tf32 and fp16: p50 per stage on a
   512x512 photo and a 12 MP phone JPEG, images/s at batch 1/4/8, and what fp16 changes in the
   answer; the same archive on this host's CPU with its default runtimes, for scale;
3. which ONNX Runtime providers the installed onnxruntime has (its CUDA provider is the other
   candidate for the CUDA runtime).

On a machine without CUDA it says so and exits 0, so `make bench` runs everywhere.

Usage: python tools/bench_gpu.py [--model-dir DIR] [--runs 20] [--json out/bench/gpu.json]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from closet import config as closet_config
from closet import runtime
from closet_dev.answers import answer_difference
from closet_dev.floor import p50_seconds
from closet_dev.mar import every_network_in, load_ensemble

ROOT = closet_config.REPO_ROOT

BATCHES = (1, 4, 8)
# fp32 as a worker runs it (IEEE: closet.runtime.ieee_fp32_on_cuda) first: the others are compared with it.
PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
PHONE_SIZE = (4000, 3000)


def cuda_seconds(fn, runs: int, warmup: int = 3) -> float:
    """Median seconds of `fn` on the current CUDA stream, timed with events after `warmup` calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1000)
    return statistics.median(samples)


def photos() -> list[np.ndarray]:
    from closet_dev import pose_photos

    got = pose_photos.photos()
    return [got[n] if got[n].ndim == 3 else np.dstack([got[n]] * 3) for n in ("astronaut", "grace_hopper", "camera")]


def photo_batch(size: int, batch: int, gray: bool = False) -> torch.Tensor:
    """`batch` real photos resized to size x size in [-1, 1] (cycled): timing never runs on zeros."""
    import cv2

    ims = [cv2.resize(p, (size, size), interpolation=cv2.INTER_AREA) for p in photos()]
    x = torch.from_numpy(np.stack([ims[i % len(ims)] for i in range(batch)])).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1).contiguous() if gray else x


# -- 1. networks ------------------------------------------------------------------------
def network_cases(weights: Path) -> dict:
    """name -> (build(), input size, gray input, forward(module, x)); real weights where they exist.
    Built only when asked for: the official-size networks take seconds to initialise."""
    from closet import pose
    from closet.models import schp, stargan_v2, u2net

    fmnist = ROOT / "assets" / "stargan-fmnist"

    def fashion_mnist():
        return stargan_v2.load_with_sidecar(str(fmnist / "nets_ema.ckpt"), str(fmnist / "meta.json"))

    def official_stargan():
        nets = stargan_v2.build_nets(img_size=256, num_domains=5)
        return stargan_v2.StarGANv2(nets["generator"], nets["mapping_network"], nets["style_encoder"], img_size=256,
                                    num_domains=5, style_dim=64, latent_dim=16, domains=[f"d{i}" for i in range(5)])

    def blazepose(index):
        return pose.PoseEstimator.networks(weights / pose.DETECTOR_WEIGHTS, weights / pose.LANDMARK_WEIGHTS)[index]

    cases = {}
    if (weights / "u2netp.pth").is_file():
        cases["u2netp_320 (served)"] = (lambda: u2net.load_checkpoint(weights / "u2netp.pth", "u2netp", optimize=True),
                                        320, False, lambda m, x: m(x)[0])
    if (weights / pose.DETECTOR_WEIGHTS).is_file():
        cases["blazepose_detector_224 (served)"] = (lambda: blazepose(0), 224, False, lambda m, x: m(x)[1])
        cases["blazepose_landmark_256 (served)"] = (lambda: blazepose(1), 256, False, lambda m, x: m(x)[0])
    fmnist_size = json.loads((fmnist / "meta.json").read_text(encoding="utf-8"))["img_size"]
    cases[f"stargan_fmnist_{fmnist_size} (served)"] = (fashion_mnist, fmnist_size, True, _stargan_forward)
    cases["u2net_320 (official size)"] = (lambda: u2net.build("u2net"), 320, False, lambda m, x: m(x)[0])
    cases["stargan_v2_256 (official size)"] = (official_stargan, 256, False, _stargan_forward)
    cases["schp_atr_512 (official size)"] = (lambda: schp.build("atr"), 512, False, lambda m, x: m(x)[0][-1])
    return cases


def _stargan_forward(nets, x):
    """Mapping network on a fixed z, then the generator: one latent-mode translation."""
    n = x.shape[0]
    z = torch.randn(n, nets.latent_dim, generator=torch.Generator().manual_seed(0)).to(x.device)
    y = torch.zeros(n, dtype=torch.long, device=x.device)
    return nets.generator(x, nets.mapping_network(z, y))


def bench_networks(weights: Path, runs: int, dev: torch.device, only: str = "") -> dict:
    timed = cuda_seconds if dev.type == "cuda" else p50_seconds
    if dev.type == "cuda":
        runtime.ieee_fp32_on_cuda()
    out = {}
    for name, (build, size, gray, forward) in network_cases(weights).items():
        if only not in name:
            continue
        torch.manual_seed(0)  # the random official-size weights
        module = build().eval().to(dev)
        row: dict = {"input": size}
        ref = None
        for precision in PRECISIONS:
            if precision in ("fp16", "tf32") and dev.type != "cuda":
                continue
            with torch.inference_mode(), runtime.autocast(precision, dev):
                x1 = photo_batch(size, 1, gray).to(dev)
                y = forward(module, x1).float()
                if ref is None:
                    ref = y
                else:
                    row[f"{precision}_rel_diff"] = float((y - ref).norm() / ref.norm())
                for b in BATCHES:
                    xb = photo_batch(size, b, gray).to(dev)
                    s = timed(functools.partial(forward, module, xb), runs)
                    row[f"{precision}_b{b}_img_s"] = b / s
        out[name] = row
        print(f"  {name}: " + ", ".join(f"{p} b1/4/8 " + "/".join(f"{row[f'{p}_b{b}_img_s']:.0f}" for b in BATCHES)
                                        for p in PRECISIONS if f"{p}_b1_img_s" in row) + " img/s; against fp32 "
              + ", ".join(f"{p} {row[f'{p}_rel_diff']:.1e}" for p in PRECISIONS if f"{p}_rel_diff" in row), flush=True)
        module.to("cpu")
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return out


# -- 2. the served ensemble --------------------------------------------------------------
def encoded(image: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **kw)
    return buf.getvalue()


def stage_p50(ens, req, runs: int) -> dict:
    stages: dict[str, list[float]] = {}
    totals = []
    cur: dict[str, float] = {}

    @contextlib.contextmanager
    def timer(stage):
        t = time.perf_counter()
        yield
        cur[stage] = time.perf_counter() - t

    for i in range(runs + 1):
        cur.clear()
        t0 = time.perf_counter()
        ens.run([req], timer)
        if i:  # the first run warms this request size up
            totals.append(time.perf_counter() - t0)
            for k, v in cur.items():
                stages.setdefault(k, []).append(v)
    return {"total": statistics.median(totals), **{k: statistics.median(v) for k, v in stages.items()}}


def bench_ensemble(model_dir: Path | None, runs: int, cpu_threads: int, dev: torch.device) -> dict:
    """The served ensemble (model_dir: an extracted closet archive; None: model-store/closet.mar)."""
    from closet.ensemble import Output, Request

    astronaut = photos()[0]
    photo = encoded(astronaut, "PNG")
    phone = encoded(np.asarray(Image.fromarray(astronaut).resize(PHONE_SIZE, Image.BICUBIC)), "JPEG", quality=90)
    res: dict = {}
    answers = {}
    for device, precision in ((dev.type, "fp32"), (dev.type, "tf32"), (dev.type, "fp16"), ("cpu", None)):
        if precision in ("fp16", "tf32") and device != "cuda":
            continue
        key = f"{device}-{precision or 'default'}"
        if device == "cpu":
            torch.set_num_threads(cpu_threads)
        t = time.perf_counter()
        with every_network_in(precision) if precision else contextlib.nullcontext():  # None: as shipped
            ens = load_ensemble(device=device, model_dir=model_dir)
        domains = ens.translator.domains
        target = "coat" if "coat" in domains else domains[0]
        req = Request(image=photo, target=target, want_json=False)
        row: dict = {"load_s": time.perf_counter() - t, "target": target}
        row["512"] = stage_p50(ens, req, runs)
        row["12mp"] = stage_p50(ens, Request(image=phone, target=target), max(2, runs // 4))
        for b in BATCHES if device == dev.type else (1,):
            s = p50_seconds(functools.partial(ens.run, [req] * b), max(3, runs // 4))
            row[f"b{b}_img_s"] = b / s
        out = ens.run([req])[0]
        assert isinstance(out, Output), out
        answers[key] = out
        res[key] = row
        print(f"  ensemble {key}: 512x512 p50 {row['512']['total'] * 1000:.1f} ms ("
              + ", ".join(f"{k} {v * 1000:.1f}" for k, v in row["512"].items() if k != "total")
              + f"), 12 MP {row['12mp']['total']:.2f} s, "
              + " ".join(f"b{b} {row[f'b{b}_img_s']:.1f}" for b in BATCHES if f"b{b}_img_s" in row)
              + " img/s", flush=True)
        del ens
        if device == "cuda":
            torch.cuda.empty_cache()
    fp32 = answers[f"{dev.type}-fp32"]
    for precision in ("tf32", "fp16"):
        if f"cuda-{precision}" in answers:
            res[f"{precision}_vs_fp32"] = answer_difference(fp32, answers[f"cuda-{precision}"])
    res[f"{dev.type}_fp32_vs_cpu_default"] = answer_difference(answers["cpu-default"], fp32)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, help="an extracted closet archive (default: model-store/closet.mar)")
    ap.add_argument("--weights", type=Path, default=ROOT / "model-store" / "weights")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--cpu-threads", type=int, default=min(16, os.cpu_count() or 1))
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to try this script where no GPU is")
    ap.add_argument("--networks", default="", help="only the networks whose name holds this")
    ap.add_argument("--sections", default="networks,ensemble", help="which of networks, ensemble to run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("bench-gpu: no CUDA device here; nothing measured (the GPU profile needs a lent GPU)")
        return 0
    import onnxruntime

    res: dict = {"device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
                 "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                 "tf32_conv": torch.backends.cudnn.allow_tf32, "onnxruntime": onnxruntime.__version__,
                 "onnxruntime_providers": onnxruntime.get_available_providers()}
    print(f"bench-gpu on {res['device']} (torch {res['torch']}, CUDA {res['cuda']}, cuDNN {res['cudnn']}); "
          f"onnxruntime {res['onnxruntime']} providers {res['onnxruntime_providers']}", flush=True)
    errors = {}
    if "networks" in args.sections:
        print("networks, images/s (CUDA events, median of %d):" % args.runs, flush=True)
        try:
            res["networks"] = bench_networks(args.weights, args.runs, dev, args.networks)
        except Exception:  # noqa: BLE001 - one section's failure is reported, the others still run
            errors["networks"] = traceback.format_exc()
            print(errors["networks"], flush=True)
    if "ensemble" in args.sections:
        print("served ensemble:", flush=True)
        try:
            res["ensemble"] = bench_ensemble(args.model_dir, max(4, args.runs // 2), args.cpu_threads, dev)
            for k in [k for k in res["ensemble"] if "_vs_" in k]:
                print(f"  {k}: " + ", ".join(f"{n} {v:.4f}" for n, v in res["ensemble"][k].items()), flush=True)
        except Exception:  # noqa: BLE001
            errors["ensemble"] = traceback.format_exc()
            print(errors["ensemble"], flush=True)
    res["errors"] = errors
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
