"""closet/runtime.py: the runtime and precision each network runs in (config networks), the ONNX
export `make mars` packs, and the precision gate. The runtimes' outputs are compared on real photos."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch
import yaml

from closet import config as closet_config
from closet import runtime
from closet.config import NetworkRuntime
from closet.imageio import encode_image
from closet.runtime import UnsupportedRuntime
from closet.stages.segment import U2NET_ONNX, Segmenter
from closet_dev import mar, pose_photos
from tests.unit.conftest import WEIGHTS

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def real_segmentation_dir(tmp_path_factory):
    """segmentation.mar built from the real U^2-Net-P weights, extracted as a worker sees it."""
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} missing: run `make weights`")
    tmp = tmp_path_factory.mktemp("seg")
    built = mar.build("segmentation", store=tmp / "store", env={"U2NETP_WEIGHTS": str(WEIGHTS), "PATH": ""},
                      stage_dir=tmp / "stage")
    with zipfile.ZipFile(built) as z:
        z.extractall(tmp / "model")
    return tmp / "model"


@pytest.mark.parametrize(("network", "device", "expected"), [
    ("u2net", "cpu", "openvino"), ("blazepose", "cpu", "openvino"),
    ("stargan", "cpu", "openvino"), ("schp", "cpu", "openvino"),
    ("u2net", "cuda", "torch"), ("blazepose", "cuda", "torch"), ("stargan", "cuda", "torch"),
])
def test_auto_picks_the_measured_fastest(network, device, expected):
    assert runtime.resolve(network, NetworkRuntime(), torch.device(device)) == expected


@pytest.mark.parametrize(("network", "choice", "device", "message"), [
    ("stargan", NetworkRuntime("onnxruntime", "bf16"), "cpu", "fp32 only"),
    ("u2net", NetworkRuntime("onnxruntime"), "cuda", "CPU only"),
    ("u2net", NetworkRuntime("openvino"), "cuda", "CPU only"),
    ("schp", NetworkRuntime("openvino"), "cuda", "CPU only"),
    ("blazepose", NetworkRuntime("openvino", "fp16"), "cpu", "fp16 needs CUDA"),
    ("u2net", NetworkRuntime("auto", "fp16"), "cpu", "fp16 needs CUDA"),
    ("stargan", NetworkRuntime("torch", "tf32"), "cpu", "tf32 needs CUDA"),
    ("u2net", NetworkRuntime("onnxruntime", "tf32"), "cpu", "tf32 needs CUDA"),
    ("u2net", NetworkRuntime("tflite"), "cpu", "runtime must be one of"),
    ("u2net", NetworkRuntime("torch", "int8"), "cpu", "precision one of"),
])
def test_what_a_device_cannot_run_is_refused(network, choice, device, message):
    with pytest.raises(UnsupportedRuntime, match=message):
        runtime.resolve(network, choice, torch.device(device))


def test_fp32_on_cuda_is_ieee_not_tf32():
    """Loading an fp32 network on CUDA switches PyTorch's default TF32 convolutions off (on an H200
    they moved U^2-Net-P masks by 19/255, docs/gpu.md); a reduced precision leaves the flags alone."""
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default
    try:
        runtime.resolve("stargan", NetworkRuntime("torch", "fp16"), torch.device("cuda"))
        assert torch.backends.cudnn.allow_tf32
        runtime.resolve("stargan", NetworkRuntime("torch", "fp32"), torch.device("cuda"))
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32 = True


def test_tf32_switches_the_matrix_units_for_its_call_only():
    """tf32 is a per-call mode: an fp32 network in the same worker stays IEEE before and after it."""
    runtime.ieee_fp32_on_cuda()
    try:
        with runtime.autocast("tf32", torch.device("cuda")):
            assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32 = True  # PyTorch's default


def test_bf16_runs_where_the_cpu_has_it_and_is_refused_elsewhere():
    with pytest.raises(UnsupportedRuntime, match="fp32 only"):  # ONNX Runtime's CPU provider
        runtime.resolve("u2net", NetworkRuntime("onnxruntime", "bf16"), CPU)
    for name, supported in (("openvino", runtime.openvino_bf16_supported()), ("torch", runtime.bf16_supported(CPU))):
        choice = NetworkRuntime(name, "bf16")
        if supported:
            assert runtime.resolve("u2net", choice, CPU) == name
        else:
            with pytest.raises(UnsupportedRuntime, match="bf16 is not supported"):
                runtime.resolve("u2net", choice, CPU)
    if runtime.openvino_bf16_supported():
        assert runtime.resolve("u2net", NetworkRuntime("auto", "bf16"), CPU) == "openvino"


def test_without_openvino_auto_takes_onnx_runtime_and_openvino_is_refused(monkeypatch):
    """openvino is a dependency, but a slimmer install that leaves it out still serves."""
    monkeypatch.setattr(runtime, "openvino_installed", lambda: False)
    assert runtime.resolve("u2net", NetworkRuntime(), CPU) == "onnxruntime"
    with pytest.raises(UnsupportedRuntime, match="openvino is not installed"):
        runtime.resolve("blazepose", NetworkRuntime("openvino"), CPU)


def test_an_openvino_session_runs_fp32_unpinned_as_asked():
    """OpenVINO would run bf16 on a CPU that has it unless told f32; workers share the cores, so no
    thread is pinned to one. The session answers as an ONNX Runtime session does."""
    import openvino

    conv = torch.nn.Conv2d(3, 4, 3).eval()
    model = runtime.export_onnx(conv, (3, 8, 8))
    session = runtime.OpenVinoSession(model, "fp32", 1)
    compiled = session.compiled
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32
    assert compiled.get_property("ENABLE_CPU_PINNING") is False
    x = torch.rand(2, 3, 8, 8)
    (out,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        assert np.abs(out - conv(x).numpy()).max() < 1e-5


def test_the_config_names_every_network_with_a_known_runtime():
    cfg = closet_config.load()
    assert set(cfg.networks) == set(closet_config.NETWORKS)
    raw = yaml.safe_load(closet_config.DEFAULT_PATH.read_text())
    raw["networks"]["u2net"] = {"runtime": "tflite", "precision": "fp32"}
    with pytest.raises(closet_config.ConfigError, match="networks.u2net"):
        closet_config.parse(raw)
    del raw["networks"]["u2net"]
    with pytest.raises(closet_config.ConfigError, match="networks"):
        closet_config.parse(raw)


def test_the_archive_packs_the_onnx_export_and_the_worker_opens_it(real_segmentation_dir, monkeypatch):
    assert (real_segmentation_dir / U2NET_ONNX).is_file()
    exported = []
    monkeypatch.setattr(runtime, "export_onnx", lambda *a, **kw: exported.append(a))
    seg = Segmenter.load(real_segmentation_dir, CPU)
    assert seg.runtime == "openvino" and exported == []  # nothing exported at load: the packed file is used


@pytest.mark.parametrize("exported", ["openvino", "onnxruntime"])
def test_the_export_runtimes_give_the_pytorch_masks_on_real_photos(exported, real_segmentation_dir):
    """Within 2 grey levels of 255 anywhere, the same person pixels to 1 in 10,000."""
    fast = Segmenter.load(real_segmentation_dir, CPU, NetworkRuntime(exported))
    eager = Segmenter.load(real_segmentation_dir, CPU, NetworkRuntime("torch"))
    photos = pose_photos.photos()
    for name in ["astronaut", "grace_hopper", "camera", "two_people"]:
        image = photos[name] if photos[name].ndim == 3 else np.dstack([photos[name]] * 3)
        (a,), (b,) = fast([image]), eager([image])
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2, name
        assert ((a >= 128) != (b >= 128)).mean() < 1e-4, name
        assert (a >= 128).mean() > 0.05, name  # a person was found: the comparison means something


@pytest.mark.parametrize("name", ["openvino", "torch"])
def test_reduced_precision_keeps_the_masks_or_is_refused(name, real_segmentation_dir):
    """The precision gate at load: bf16 where the runtime has it on this CPU (masks within IoU 0.95
    of fp32), refused otherwise."""
    choice = NetworkRuntime(name, "bf16")
    if not (runtime.openvino_bf16_supported() if name == "openvino" else runtime.bf16_supported(CPU)):
        with pytest.raises(UnsupportedRuntime, match="bf16"):
            Segmenter.load(real_segmentation_dir, CPU, choice)
        return
    low = Segmenter.load(real_segmentation_dir, CPU, choice)
    full = Segmenter.load(real_segmentation_dir, CPU, NetworkRuntime("torch"))
    image = pose_photos.astronaut()
    (a,), (b,) = low([image]), full([image])
    a, b = a >= 128, b >= 128
    assert (a & b).sum() / (a | b).sum() > 0.95


def test_an_openvino_session_is_compiled_for_one_image_and_runs_a_batch_image_by_image():
    """OpenVINO's fixed-shape graph is faster than the export's any-batch one (docs/speed.md): the
    session compiles batch 1, and a batch of any size (none included) gets each image's answer."""
    conv = torch.nn.Conv2d(3, 4, 3).eval()
    session = runtime.OpenVinoSession(runtime.export_onnx(conv, (3, 8, 8)), "fp32", 1)
    assert [list(p.get_partial_shape().to_shape()) for p in session.compiled.inputs] == [[1, 3, 8, 8]]
    for n in (0, 1, 3):
        x = torch.rand(n, 3, 8, 8)
        (out,) = session.run(None, {"x": x.numpy()})
        assert out.shape == (n, 4, 6, 6) and out.dtype == np.float32
        with torch.no_grad():
            assert np.abs(out - conv(x).numpy()).max(initial=0.0) < 1e-5


def test_an_onnx_session_is_served_without_spinning_and_with_its_arena():
    """onnx_session's defaults are what workers run (threads sleep between calls; the memory arena
    keeps its activations); `make bench-u2net` times the two alternatives through the same function."""
    conv = torch.nn.Conv2d(3, 4, 3).eval()
    model = runtime.export_onnx(conv, (3, 8, 8))
    for kw, spinning, arena in (({}, "0", True), ({"spinning": True}, "1", True), ({"arena": False}, "0", False)):
        options = runtime.onnx_session(model, 1, **kw).get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == spinning
        assert options.enable_cpu_mem_arena is arena


def test_an_openvino_session_answers_threads_side_by_side():
    """KServe's batcher runs `min_workers` batches on threads at once, through one session: each
    call gets its own input's answer (one shared infer request would refuse or mix them)."""
    from concurrent.futures import ThreadPoolExecutor

    conv = torch.nn.Conv2d(3, 4, 3).eval()
    session = runtime.OpenVinoSession(runtime.export_onnx(conv, (3, 32, 32)), "fp32", 1)
    xs = [torch.rand(1, 3, 32, 32) for _ in range(16)]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda x: session.run(None, {"x": x.numpy()})[0], xs * 4))
    with torch.no_grad():
        for x, out in zip(xs * 4, outs):
            assert np.abs(out - conv(x).numpy()).max() < 1e-5


def _garment_crops() -> list[np.ndarray]:
    """Real photos' upper bodies, as the translator takes a crop (any size: it resizes)."""
    photos = pose_photos.photos()
    colour = [p if p.ndim == 3 else np.dstack([p] * 3) for p in (photos[n] for n in ("astronaut", "grace_hopper", "camera"))]
    return [np.ascontiguousarray(p[p.shape[0] // 3:, p.shape[1] // 6: -p.shape[1] // 6]) for p in colour]


@pytest.fixture(scope="module")
def translator_dirs(tmp_path_factory):
    """The shipped demo translator (32 px gray) and a full-colour official-size one (256 px, seeded)."""
    import shutil

    from closet.stages.translate import STARGAN_CKPT, STARGAN_META
    from tests.support.reference import official_stargan_checkpoint

    demo = tmp_path_factory.mktemp("demo")
    shutil.copy(STARGAN_CKPT.default, demo / STARGAN_CKPT.name)
    shutil.copy(STARGAN_META.default, demo / STARGAN_META.name)
    return {"demo": demo, "official": official_stargan_checkpoint(tmp_path_factory.mktemp("official"), seed=4)}


@pytest.mark.parametrize("exported", ["openvino", "onnxruntime"])
def test_the_generators_export_draws_what_pytorch_draws(exported, translator_dirs):
    """StarGAN v2's generator and style encoder in either export runtime, on real photos and both
    style modes: the drawings within 1 level of 255 (the demo's) and 2 (the official size's)."""
    from closet.stages.translate import Translator

    crops = _garment_crops()
    for kind, folder in translator_dirs.items():
        fast = Translator.load(folder, CPU, NetworkRuntime(exported))
        eager = Translator.load(folder, CPU, NetworkRuntime("torch"))
        assert set(fast.exports) == {"generator", "style_encoder"} and eager.exports == {}
        limits = {"max_pixels": 10**8, "max_side": 10**5}
        styles = [eager.style(eager.domains[i % 2], seed=i, **limits) for i in range(len(crops))]
        # two references in one batch, to two domains: the export's style rows are picked per row
        styles[1:] = [eager.style(eager.domains[i], reference=encode_image(crops[i], "png")[0], **limits) for i in (0, 1)]
        a, b = fast(crops, styles), eager(crops, styles)
        assert max(np.abs(x.astype(int) - y.astype(int)).max() for x, y in zip(a, b)) <= (1 if kind == "demo" else 2), kind
        assert np.std(b[0].astype(float)) > 1.0, kind  # a drawing, not a flat field: the comparison means something


@pytest.mark.parametrize("exported", ["openvino", "onnxruntime"])
def test_the_schp_export_parses_as_pytorch_does(exported, tmp_path):
    """SCHP exported as make mars packs it (an official-layout LIP file: PyTorch's seeded init, the
    classifier's bias zero so that the classes' logits vary over the photo, not by their bias): on
    real photos its fusion logits within 1e-3 of their spread over the photo (measured: 2e-8 of
    5e-4), and the label maps the same."""
    from closet import parsing
    from closet.models import schp
    from closet.stages.parse import schp_logits

    torch.manual_seed(6)
    net = schp.build("lip")
    torch.nn.init.zeros_(net.fushion[3].bias)
    torch.save({"state_dict": {schp.CHECKPOINT_PREFIX + k: v for k, v in net.state_dict().items()}}, tmp_path / "schp.pth")
    net = schp_logits(tmp_path / "schp.pth", "lip").eval()
    size = parsing.INPUT_SIZE["lip"]
    session = runtime.OnnxNetwork(runtime.export_session(exported, runtime.export_onnx(net, (3, size, size))))
    x = torch.stack([parsing.preprocess(c, size)[0] for c in _garment_crops()[:2]])
    with torch.inference_mode():
        want = net(x)
    (got,) = session(x)
    assert got.shape == want.shape == (2, schp.NUM_CLASSES["lip"], (size + 3) // 4, (size + 3) // 4)
    spread = float(want.std(dim=(2, 3)).min())
    assert spread > 0 and (got - want).abs().max() <= 1e-3 * spread
    labels = want.argmax(1)
    assert labels.unique().numel() >= 3 and bool((got.argmax(1) == labels).all())
