"""How a network runs: which inference runtime, at which precision (config/closet.yaml `networks`).

Runtimes:
  onnxruntime  the PyTorch module exported to ONNX (at `make mars`, packed in the archive; in memory
               for a folder that is not an archive) and run by ONNX Runtime's CPU provider.
  openvino     the same ONNX export compiled by OpenVINO for the CPU, in fp32 or bf16.
  torch        the module itself, in autocast for a reduced precision; the runtime on CUDA.
  auto         the fastest measured on the device (`make bench-openvino`, `make bench-ensemble`,
               docs/speed.md): on CPU, openvino where it is installed (it is a closet dependency),
               else onnxruntime (fp32) or torch (bf16); torch on CUDA. Every network has an
               export: StarGAN v2's generator and style encoder (its mapping network, an MLP, stays
               in PyTorch), SCHP's fusion logits.

Precisions: fp32 (default; IEEE fp32 on CUDA too); tf32 (CUDA's matrix units on fp32 tensors, compute
capability 8.0+), bf16 (a CPU with bf16 kernels, or CUDA) and fp16 (CUDA) are opt-in, in PyTorch
through torch.autocast, in OpenVINO as its inference precision. They change the outputs, so a device
without them is refused at load, never silently run in fp32; `make bench-precision` reports what they
change on real photos.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from closet.config import PRECISIONS, RUNTIMES, NetworkRuntime

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# The runtimes that run that export, on the CPU.
EXPORT_RUNTIMES = ("onnxruntime", "openvino")
ONNX_OPSET = 17


class UnsupportedRuntime(ValueError):
    """A runtime or precision this device (or this network) cannot run."""


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def openvino_bf16_supported() -> bool:
    import openvino

    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def fastest(network: str, precision: str, device: torch.device) -> str:
    """What `auto` means for `network` at `precision` on `device`. On an AVX-512 CPU OpenVINO ran
    U^2-Net-P in 0.105 s against ONNX Runtime's 0.116 s in fp32, and in 0.058 s against PyTorch's
    0.084 s in bf16; the issue's box measured it ahead too, and it runs StarGAN v2's generator and
    SCHP in about two thirds of PyTorch's time (docs/speed.md)."""
    if device.type != "cpu":
        return "torch"
    if openvino_installed() and precision in ("fp32", "bf16"):
        return "openvino"
    return "onnxruntime" if precision == "fp32" else "torch"


def resolve(network: str, choice: NetworkRuntime, device: torch.device | str) -> str:
    """The runtime `network` runs in on `device`; raises UnsupportedRuntime for what it cannot run."""
    device = torch.device(device)
    if choice.runtime not in RUNTIMES or choice.precision not in PRECISIONS:
        raise UnsupportedRuntime(f"{network}: runtime must be one of {RUNTIMES} and precision one of {PRECISIONS}, "
                                 f"got {choice}")
    if choice.precision in ("fp16", "tf32") and device.type != "cuda":
        raise UnsupportedRuntime(f"{network}: precision {choice.precision} needs CUDA; this is {device.type}")
    if choice.precision == "tf32" and torch.cuda.get_device_capability(device) < (8, 0):
        raise UnsupportedRuntime(f"{network}: precision tf32 needs compute capability 8.0 or later (Ampere)")
    runtime = fastest(network, choice.precision, device) if choice.runtime == "auto" else choice.runtime
    if runtime in EXPORT_RUNTIMES:
        _check_export_runtime(network, runtime, choice.precision, device)
    elif choice.precision == "bf16" and not bf16_supported(device):
        raise UnsupportedRuntime(f"{network}: precision bf16 is not supported on this {device.type} "
                                 "(oneDNN reports no bf16 kernels: the CPU lacks AVX-512 BF16 or AMX)")
    if device.type == "cuda" and choice.precision == "fp32":
        ieee_fp32_on_cuda()
    return runtime


def _check_export_runtime(network: str, runtime: str, precision: str, device: torch.device) -> None:
    if device.type != "cpu":
        raise UnsupportedRuntime(f"{network}: the {runtime} runtime runs on the CPU only")
    if runtime == "onnxruntime" and precision != "fp32":
        raise UnsupportedRuntime(f"{network}: onnxruntime runs fp32 only; use runtime openvino or torch for {precision}")
    if runtime == "openvino":
        if not openvino_installed():
            raise UnsupportedRuntime(f"{network}: runtime openvino is not installed (pip install openvino, "
                                     "as requirements.lock pins it)")
        if precision == "bf16" and not openvino_bf16_supported():
            raise UnsupportedRuntime(f"{network}: precision bf16 is not supported on this cpu "
                                     "(OpenVINO reports no BF16: the CPU lacks AVX-512 BF16 or AMX)")


def _set_tf32(convolutions: bool, matmuls: bool) -> tuple[bool, bool]:
    """Switch TF32 for cuDNN convolutions and for matmuls; returns the two switches as they were."""
    with warnings.catch_warnings():  # newer PyTorch steers to its fp32_precision names; these still hold
        warnings.simplefilter("ignore")
        before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = convolutions, matmuls
    return before


def ieee_fp32_on_cuda() -> None:
    """fp32 means IEEE fp32 on CUDA too. PyTorch runs cuDNN convolutions in TF32 (a 10-bit mantissa)
    by default: on an H200 that moved U^2-Net-P masks by up to 19/255 and BlazePose keypoints by up to
    9 px against the CPU (docs/gpu.md). Process-wide; tf32, fp16 and bf16 set their own mode per call."""
    _set_tf32(False, False)


@contextlib.contextmanager
def _tf32():
    before = _set_tf32(True, True)
    try:
        yield
    finally:
        _set_tf32(*before)


def autocast(precision: str, device: torch.device):
    """The context a torch forward pass runs in for `precision` (fp32: none; tf32: the matrix units
    switched to TF32 for the call only, so an fp32 network in the same worker stays IEEE)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "tf32":
        return _tf32()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def export_onnx(net: torch.nn.Module, *inputs: tuple[int, ...] | torch.Tensor, names: tuple[str, ...] = ("x",)) -> bytes:
    """`net` (eval mode) as an ONNX model with inputs `names`: each a float shape with the batch
    dimension left out, or an example tensor of batch 1 (an index input must be one); the batch
    stays free."""
    net = copy.deepcopy(net).float().cpu().to(memory_format=torch.contiguous_format).eval()
    examples = tuple(torch.zeros(1, *x) if isinstance(x, tuple) else x for x in inputs)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's notes on the padding arithmetic (fixed input size)
        warnings.simplefilter("ignore")
        torch.onnx.export(net, examples, buf, dynamo=False, opset_version=ONNX_OPSET, input_names=list(names),
                          dynamic_axes={name: {0: "batch"} for name in names})
    return buf.getvalue()


def onnx_session(model: bytes | str | Path, threads: int | None = None, *, spinning: bool = False,
                 arena: bool = True):
    """An ONNX Runtime CPU session of `model` (bytes or a file), `threads` as torch uses (default: the
    same). Served as the defaults say; `make bench-u2net` measures the other two settings."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    # No busy-waiting between calls, as OMP_WAIT_POLICY=PASSIVE does for torch (closet_dev.launcher):
    # spinning is 4-10% faster alone, but takes the cores from the host pool.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    # The CPU arena keeps the largest activations served (U^2-Net-P: ~250 MiB per image of a batch);
    # without it each run allocates afresh, 30-40% slower (docs/reliability-security.md#memory).
    options.enable_cpu_mem_arena = arena
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


class OpenVinoSession:
    """The ONNX export compiled by OpenVINO for the CPU, called as an ONNX Runtime session is:
    `run(None, {name: array, ...})` (the inputs in the export's order) gives the list of output
    arrays, from any number of threads at once (KServe's batcher runs `min_workers` batches side by
    side; an infer request serves one call at a time, so each thread has its own).

    Compiled for one image, and a batch runs image by image: on the CPU a batch costs what its
    images do one by one (docs/speed.md), and OpenVINO's graph of a fixed shape runs faster than
    the export's any-batch one (`make bench-openvino`, U^2-Net-P at 320 px: 0.165 against 0.174 s an
    image, and a batch of four image by image 0.664 against 0.702 s in one call), with the same
    outputs; a batch holds one image's activations at a time (docs/reliability-security.md#memory)."""

    def __init__(self, model: bytes | str | Path, precision: str = "fp32", threads: int | None = None,
                 any_batch: bool = False):
        """`any_batch`: the export's own graph, a batch in one call (`make bench-openvino` times it)."""
        import openvino

        core = openvino.Core()
        onnx = model if isinstance(model, bytes) else Path(model).read_bytes()
        model = core.read_model(onnx, b"")
        if not any_batch:
            model.reshape({port: openvino.PartialShape([openvino.Dimension(1), *list(port.get_partial_shape())[1:]])
                           for port in model.inputs})
        self.any_batch = any_batch
        compiled = core.compile_model(model, "CPU", {
            # f32 stated: OpenVINO runs bf16 by default on a CPU that has it, which moves the masks.
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "INFERENCE_NUM_THREADS": threads or torch.get_num_threads(),
            "PERFORMANCE_HINT": "LATENCY",
            # Several workers share the cores; threads pinned to them would fight the others' pools.
            "ENABLE_CPU_PINNING": False,
        })
        self.compiled = compiled
        self.outputs = compiled.outputs
        self._local = threading.local()

    def run(self, _output_names, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        inputs = list(feeds.values())
        calls = [inputs] if self.any_batch else [[x[i:i + 1] for x in inputs] for i in range(len(inputs[0]))]
        results = [request.infer(call) for call in calls]  # each copies its outputs out of the request's buffers
        if not results:  # an empty batch
            return [np.zeros((0, *o.get_partial_shape().get_min_shape()[1:]), o.get_element_type().to_dtype())
                    for o in self.outputs]
        return [results[0][o] if len(results) == 1 else np.concatenate([r[o] for r in results]) for o in self.outputs]


def export_session(runtime: str, model: bytes | str | Path, precision: str = "fp32"):
    """A session of the ONNX export in `runtime` (one of EXPORT_RUNTIMES), as resolve() chose it."""
    if runtime == "openvino":
        return OpenVinoSession(model, precision)
    return onnx_session(model)


def packed_or_exported(model_dir: str | Path, name: str, net: torch.nn.Module | Callable[[], torch.nn.Module],
                       *inputs: tuple[int, ...] | torch.Tensor, names: tuple[str, ...] = ("x",)):
    """The ONNX model `make mars` packed as `name` in an archive, else `net` exported now (a folder
    that is not an archive, e.g. model-store/weights). `net` may be a function that builds it, so
    that a worker whose archive packs the export never builds the PyTorch module."""
    packed = Path(model_dir) / name
    if packed.is_file():
        return packed
    return export_onnx(net if isinstance(net, torch.nn.Module) else net(), *inputs, names=names)


class OnnxNetwork:
    """A session of the ONNX export (either runtime) called like the module it was exported from:
    tensors in (the export's `names`, in order), a tuple of tensors out."""

    def __init__(self, session, names: tuple[str, ...] = ("x",)):
        self.session = session
        self.names = names

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feeds = {name: (x.float() if x.is_floating_point() else x).detach().cpu().contiguous().numpy()
                 for name, x in zip(self.names, inputs, strict=True)}  # fp32, or an index input as it is
        return tuple(torch.from_numpy(o) for o in self.session.run(None, feeds))


class TorchNetwork:
    """A module called in its precision's autocast."""

    def __init__(self, module: torch.nn.Module, precision: str, device: torch.device):
        self.module, self.precision, self.device = module, precision, device

    def __call__(self, x: torch.Tensor):
        with autocast(self.precision, self.device):
            return self.module(x.to(self.device))
