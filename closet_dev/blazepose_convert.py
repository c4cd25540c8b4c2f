"""Convert MediaPipe's BlazePose TFLite graphs into state dicts for closet.models.blazepose.

    python -m closet_dev.blazepose_convert --model detector --tflite .cache/blazepose/pose_detection.tflite \\
        --out model-store/weights/blazepose_detector.pth
    python -m closet_dev.blazepose_convert --model landmark --tflite .cache/blazepose/pose_landmark_full.tflite \\
        --out model-store/weights/blazepose_landmark_full.pth [--print-mapping]

How the weights are read: the graphs keep their float16 weights behind DEQUANTIZE ops (and
38 of the detector's as sparse tensors behind DENSIFY). LiteRT's interpreter, with the
default delegates off and `experimental_preserve_all_tensors`, leaves every DEQUANTIZE
output as a dense float32 array after one invoke(); those arrays are the conv weights.

The tflite-tensor -> state-dict-key mapping: every CONV_2D and DEPTHWISE_CONV_2D of the
graph (in the graph's execution order) is paired with the first not yet paired Conv2d of
the module, in the order the module's forward() calls them, that has the same signature:
(depthwise or not, in channels, out channels, kernel, stride, output height, width). The
weight (tflite input 1; OHWI for CONV_2D, 1HWC for DEPTHWISE_CONV_2D) becomes `<key>.weight`
transposed to OIHW, the bias (input 2) `<key>.bias`. `--print-mapping` prints the table.
Values are stored as float16 when that is exact (it is for these graphs) and load into the
float32 modules unchanged.

The converter refuses to write unless the port matches LiteRT on a real photo
(skimage's astronaut) within `TOLERANCE`, output by output; it writes atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from closet.models.blazepose import BlazePoseDetector, BlazePoseLandmark

log = logging.getLogger("blazepose_convert")

# Max abs difference port vs LiteRT allowed per output, relative to max(1, max |LiteRT output|).
# Observed on the astronaut: about 1e-5 (float32 summation order); 1e-3 catches any wrong pairing.
TOLERANCE = 1e-3

MODELS = {"detector": BlazePoseDetector, "landmark": BlazePoseLandmark}


class ConversionError(RuntimeError):
    """The graph does not pair up with the module, or the port does not match LiteRT."""


@dataclass(frozen=True)
class TfliteConv:
    """One convolution op of a TFLite graph."""

    op_index: int
    depthwise: bool
    weight_tensor: int
    bias_tensor: int
    weight_name: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: int
    out_hw: tuple[int, int]

    @property
    def signature(self) -> tuple:
        return (self.depthwise, self.in_channels, self.out_channels, self.kernel, self.stride, self.out_hw)


def new_interpreter(tflite_path: str | os.PathLike, preserve_all_tensors: bool = False):
    """A LiteRT interpreter on `tflite_path`, tensors allocated, XNNPACK (the default delegate) off.

    XNNPACK would fuse the DEQUANTIZE ops away; without it every intermediate tensor is real.
    """
    from ai_edge_litert import interpreter as litert

    it = litert.Interpreter(
        model_path=os.fspath(tflite_path),
        experimental_preserve_all_tensors=preserve_all_tensors,
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        num_threads=1,
    )
    it.allocate_tensors()
    return it


def graph_convs(tflite_path: str | os.PathLike) -> list[TfliteConv]:
    """Every CONV_2D / DEPTHWISE_CONV_2D of the graph, in execution order (flatbuffer parse)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(Path(tflite_path).read_bytes(), 0)
    graph = model.subgraphs[0]
    convs = []
    for i, op in enumerate(graph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin not in (schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.DEPTHWISE_CONV_2D):
            continue
        depthwise = builtin == schema.BuiltinOperator.DEPTHWISE_CONV_2D
        opts = op.builtinOptions
        if opts.strideW != opts.strideH or opts.dilationWFactor != 1 or opts.dilationHFactor != 1:
            raise ConversionError(f"op {i}: unsupported stride/dilation")
        w = graph.tensors[op.inputs[1]]
        out = graph.tensors[op.outputs[0]]
        wshape = tuple(int(d) for d in w.shape)  # OHWI, or 1HWC for depthwise
        in_channels = wshape[3] if not depthwise else wshape[3]
        out_channels = wshape[0] if not depthwise else wshape[3]
        if depthwise and opts.depthMultiplier != 1:
            raise ConversionError(f"op {i}: depth multiplier {opts.depthMultiplier}")
        convs.append(
            TfliteConv(
                op_index=i,
                depthwise=depthwise,
                weight_tensor=int(op.inputs[1]),
                bias_tensor=int(op.inputs[2]),
                weight_name=w.name.decode(),
                in_channels=in_channels,
                out_channels=out_channels,
                kernel=(wshape[1], wshape[2]),
                stride=int(opts.strideW),
                out_hw=(int(out.shape[1]), int(out.shape[2])),
            )
        )
    return convs


def dense_weights(tflite_path: str | os.PathLike, tensors: list[int]) -> dict[int, np.ndarray]:
    """float32 values of `tensors` (DEQUANTIZE/DENSIFY outputs) after one invoke on zeros."""
    it = new_interpreter(tflite_path, preserve_all_tensors=True)
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
    it.invoke()
    return {t: np.array(it.get_tensor(t), dtype=np.float32) for t in tensors}


def module_convs(net: nn.Module, input_size: int) -> list[tuple[str, nn.Conv2d, tuple]]:
    """(key, module, signature) of every Conv2d in the order forward() calls them."""
    names = {m: n for n, m in net.named_modules()}
    calls: list[tuple[str, nn.Conv2d, tuple]] = []

    def hook(mod: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        depthwise = mod.groups > 1
        if depthwise and mod.groups != mod.in_channels:
            raise ConversionError(f"{names[mod]}: grouped but not depthwise")
        sig = (
            depthwise,
            mod.in_channels,
            mod.out_channels,
            tuple(mod.kernel_size),
            mod.stride[0],
            tuple(out.shape[2:]),
        )
        calls.append((names[mod], mod, sig))

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in hooks:
            h.remove()
    keys = [k for k, _, _ in calls]
    if len(set(keys)) != len(keys):
        raise ConversionError("a Conv2d was called twice in one forward pass")
    return calls


def pair_convs(graph: list[TfliteConv], calls: list[tuple[str, nn.Conv2d, tuple]]) -> list[tuple[TfliteConv, str]]:
    """Pair each graph conv with the first unpaired module conv of the same signature."""
    if len(graph) != len(calls):
        raise ConversionError(f"graph has {len(graph)} convolutions, module calls {len(calls)}")
    unpaired = list(calls)
    pairs = []
    for conv in graph:
        match = next((c for c in unpaired if c[2] == conv.signature), None)
        if match is None:
            raise ConversionError(f"graph op {conv.op_index} ({conv.weight_name}, {conv.signature}) has no module conv")
        unpaired.remove(match)
        pairs.append((conv, match[0]))
    return pairs


def to_torch_weight(conv: TfliteConv, w: np.ndarray) -> np.ndarray:
    """NHWC-graph kernel -> OIHW (depthwise: C x 1 x kH x kW)."""
    return w.transpose(3, 0, 1, 2) if conv.depthwise else w.transpose(0, 3, 1, 2)


def _compact(a: np.ndarray) -> torch.Tensor:
    """float16 when that loses nothing (the graphs' weights are float16 constants), else float32."""
    half = a.astype(np.float16)
    return torch.from_numpy(half if np.array_equal(half.astype(np.float32), a) else a.astype(np.float32))


def convert(model: str, tflite_path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], list[tuple[TfliteConv, str]]]:
    """The state dict for `model` ('detector' or 'landmark') from its .tflite, and the pairing."""
    net = MODELS[model]()
    size = input_size(tflite_path)
    graph = graph_convs(tflite_path)
    pairs = pair_convs(graph, module_convs(net, size))
    values = dense_weights(tflite_path, [t for c in graph for t in (c.weight_tensor, c.bias_tensor)])
    state = {}
    for conv, key in pairs:
        state[f"{key}.weight"] = _compact(to_torch_weight(conv, values[conv.weight_tensor]))
        state[f"{key}.bias"] = _compact(values[conv.bias_tensor])
    expected = net.state_dict()
    if set(state) != set(expected):
        raise ConversionError(f"keys differ from the module: {sorted(set(state) ^ set(expected))[:4]}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise ConversionError(f"{k}: graph {tuple(v.shape)} vs module {tuple(expected[k].shape)}")
    return state, pairs


def input_size(tflite_path: str | os.PathLike) -> int:
    it = new_interpreter(tflite_path)
    n, h, w, c = (int(d) for d in it.get_input_details()[0]["shape"])
    if (n, c) != (1, 3) or h != w:
        raise ConversionError(f"unexpected input shape {(n, h, w, c)}")
    return h


def litert_outputs(tflite_path: str | os.PathLike, x_nhwc: np.ndarray) -> list[np.ndarray]:
    """The graph's outputs, in output order, for one NHWC input."""
    it = new_interpreter(tflite_path)
    it.set_tensor(it.get_input_details()[0]["index"], x_nhwc.astype(np.float32))
    it.invoke()
    return [np.array(it.get_tensor(d["index"])) for d in it.get_output_details()]


def port_outputs(net: nn.Module, x_nhwc: np.ndarray) -> list[np.ndarray]:
    """The port's outputs in the graph's output order and NHWC layout."""
    with torch.inference_mode():
        out = net.eval()(torch.from_numpy(x_nhwc).permute(0, 3, 1, 2))
    if isinstance(net, BlazePoseDetector):
        scores, boxes = out
        return [boxes.numpy(), scores.numpy()]
    return [
        out.landmarks.numpy(),
        out.presence.numpy(),
        out.segmentation.permute(0, 2, 3, 1).numpy(),
        out.heatmap.permute(0, 2, 3, 1).numpy(),
        out.world.numpy(),
    ]


def test_input(model: str) -> np.ndarray:
    """A real photo as the network sees it: the astronaut letterboxed (detector) or resized (landmark)."""
    import cv2
    import skimage.data

    from closet import pose

    photo = skimage.data.astronaut()  # 512x512 RGB uint8
    if model == "detector":
        return pose.detector_input(photo)[0][None]  # (1, 224, 224, 3)
    crop = cv2.resize(photo, (256, 256), interpolation=cv2.INTER_AREA)
    return (crop.astype(np.float32) / 255.0)[None]  # (1, 256, 256, 3)


def compare(net: nn.Module, model: str, tflite_path: str | os.PathLike) -> list[float]:
    """Relative max abs difference port vs LiteRT, per graph output, on the test photo."""
    x = test_input(model)
    ref = litert_outputs(tflite_path, x)
    got = port_outputs(net, x)
    diffs = []
    for r, g in zip(ref, got):
        if r.shape != g.shape:
            raise ConversionError(f"output shape {g.shape} vs LiteRT {r.shape}")
        diffs.append(float(np.abs(r - g).max() / max(1.0, float(np.abs(r).max()))))
    return diffs


def sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(MODELS), required=True)
    p.add_argument("--tflite", required=True, help="pose_detection.tflite or pose_landmark_full.tflite")
    p.add_argument("--out", help="state dict to write (.pth)")
    p.add_argument("--print-mapping", action="store_true", help="print state-dict key <- tflite tensor")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    state, pairs = convert(args.model, args.tflite)
    if args.print_mapping:
        for conv, key in pairs:
            kind = "DEPTHWISE_CONV_2D" if conv.depthwise else "CONV_2D"
            sys.stdout.write(f"{key:40s} <- op {conv.op_index:3d} {kind:17s} {conv.weight_name}\n")
    net = MODELS[args.model]()
    net.load_state_dict(state, strict=True)
    diffs = compare(net, args.model, args.tflite)
    log.info(
        "%s: %d convolutions; port vs LiteRT max abs diff per output (relative): %s",
        args.model,
        len(pairs),
        ", ".join(f"{d:.2e}" for d in diffs),
    )
    if max(diffs) > TOLERANCE:
        raise ConversionError(f"port does not match LiteRT: {max(diffs):.3e} > {TOLERANCE}; nothing written")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the weights are not secret
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        log.info(
            "wrote %s (%d tensors, %.1f MB) from %s (sha256 %s)",
            out,
            len(state),
            out.stat().st_size / 1e6,
            args.tflite,
            sha256(args.tflite)[:12],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
