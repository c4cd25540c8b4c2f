"""U^2-Net: official checkpoint layout, converted pretrained weights, official pre/post-processing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from closet import runtime
from closet.checkpoints import strict_load
from closet.config import REPO_ROOT, NetworkRuntime
from closet.models.u2net import U2NET, U2NETP, build, load_checkpoint
from closet.stages.segment import INPUT_SIZE, norm_pred, postprocess, predict_mask, predict_masks, preprocess

log = logging.getLogger(__name__)

ROOT = REPO_ROOT
REFERENCE = ROOT / "tests" / "reference"
WEIGHTS = ROOT / "model-store" / "weights"
ONNX_DIR = ROOT / ".cache" / "onnx"
ONNX_TOL = 1e-3  # max abs diff on output 0 (measured ~2e-5 for u2netp, see docs/segmentation.md)


def _manifest(arch: str) -> list:
    return json.loads((REFERENCE / f"{arch}.json").read_text())["state_dict"]  # [[name, shape, dtype], ...]


def _random_state(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape, dtype in _manifest(arch):
        if dtype.startswith("int"):
            out[name] = torch.randint(0, 1000, shape, generator=g, dtype=getattr(torch, dtype))
        else:
            out[name] = torch.rand(shape, generator=g, dtype=getattr(torch, dtype)) + 0.5  # > 0 for running_var
    return out


def _needs(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path.relative_to(ROOT)} is missing: run `make weights` (or `make weights-u2net`)")
    return path


def _photos() -> dict[str, Image.Image]:
    from matplotlib import cbook
    from skimage import data

    return {
        "astronaut": Image.fromarray(data.astronaut()),
        "grace_hopper": Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"),
    }


@pytest.fixture(scope="module")
def u2netp() -> U2NETP:
    return load_checkpoint(_needs(WEIGHTS / "u2netp.pth"), arch="u2netp")


# -- (a) official checkpoint layout ------------------------------------------------------
@pytest.mark.parametrize("arch, cls", [("u2netp", U2NETP), ("u2net", U2NET)])
def test_manifest_state_dict_loads_strictly_in_official_order(arch, cls):
    manifest = _manifest(arch)
    assert len(manifest) == 798
    net = build(arch)
    assert type(net) is cls
    assert [(k, list(v.shape)) for k, v in net.state_dict().items()] == [(k, s) for k, s, _ in manifest]
    state = _random_state(arch)
    strict_load(net, state, what=f"manifest {arch}")
    loaded = net.state_dict()
    assert list(loaded) == [k for k, _, _ in manifest]
    for k in ("stage1.rebnconvin.conv_s1.weight", "stage6.rebnconv4.bn_s1.running_var", "outconv.bias"):
        assert torch.equal(loaded[k], state[k])


def test_checkpoint_without_num_batches_tracked_loads(tmp_path):
    # Older BatchNorm files lack num_batches_tracked; torch fills them in under strict=True.
    state = {k: v for k, v in _random_state("u2netp").items() if not k.endswith("num_batches_tracked")}
    assert len(state) == 798 - 112
    path = tmp_path / "old.pth"
    torch.save(state, path)
    net = load_checkpoint(path, arch="u2netp")
    assert not net.training
    assert torch.equal(net.state_dict()["side3.weight"], state["side3.weight"])


def test_forward_returns_seven_sigmoid_maps_at_input_size():
    net = build("u2netp").eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 97, 130))  # odd sizes: ceil-mode pooling, size-matched upsampling
    assert len(out) == 7
    for o in out:
        assert o.shape == (2, 1, 97, 130)
        assert float(o.min()) >= 0.0 and float(o.max()) <= 1.0


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="u2netp"):
        build("u2net_lite")


# -- (b) converted weights reproduce the ONNX model ---------------------------------------
def _onnx_vs_torch(arch: str, net, record_property) -> None:
    ort = pytest.importorskip("onnxruntime")
    onnx_path = _needs(ONNX_DIR / f"{arch}.onnx")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for photo, img in _photos().items():
        x = preprocess(img)[None]  # (1, 3, 320, 320)
        ref = sess.run(None, {name: x.numpy()})
        with torch.no_grad():
            out = net(x)
        diffs = [float(np.abs(r - o.numpy()).max()) for r, o in zip(ref, out)]
        log.info("%s %s: max abs diff vs onnxruntime, output 0: %.3e (all: %s)", arch, photo, diffs[0], diffs)
        print(f"{arch} {photo}: max |onnxruntime - torch| output0={diffs[0]:.3e} all={max(diffs):.3e}")
        record_property(f"{arch}_{photo}_onnx_max_abs_diff", diffs[0])
        assert diffs[0] < ONNX_TOL
        assert max(diffs) < ONNX_TOL
        # Not trivially equal because both are constant: the map separates something.
        assert float(ref[0].max() - ref[0].min()) > 0.5


def test_converted_u2netp_matches_onnxruntime_on_photos(u2netp, record_property):
    _onnx_vs_torch("u2netp", u2netp, record_property)


@pytest.mark.slow
def test_converted_u2net_matches_onnxruntime_on_photos(record_property):
    net = load_checkpoint(_needs(WEIGHTS / "u2net.pth"), arch="u2net")
    _onnx_vs_torch("u2net", net, record_property)


def test_converted_batchnorms_are_identity(u2netp):
    bn = u2netp.stage3d.rebnconv2.bn_s1
    assert torch.equal(bn.weight, torch.ones_like(bn.weight))
    assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    x = torch.randn(1, bn.num_features, 5, 5)
    assert torch.allclose(bn(x), x, atol=1e-6)


def test_optimized_model_matches_the_official_one(u2netp):
    fast = load_checkpoint(WEIGHTS / "u2netp.pth", arch="u2netp", optimize=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    x = preprocess(_photos()["grace_hopper"])[None]  # (1, 3, 320, 320)
    with torch.no_grad():
        ref, out = u2netp(x), fast(x)
    # Folding BN into 119 convs reorders float32 rounding; the error is kernel-dependent (1.2e-4 on an
    # AVX2-only EPYC, under 1e-4 elsewhere). A wrong fold is off by 1e-1 or more.
    assert max(float((a - b).abs().max()) for a, b in zip(ref, out)) < 5e-4


# -- (c) the mask covers the person -------------------------------------------------------
# Drawn by hand on skimage's astronaut (512x512): hair, face, suit, and the helmet she holds
# (U^2-Net is a salient-object model, so the helmet belongs to the foreground).
ASTRONAUT_OUTLINE = [
    (160, 40), (200, 15), (255, 15), (295, 45), (302, 100), (285, 130), (272, 148), (295, 160), (305, 200),
    (330, 270), (355, 300), (362, 345), (400, 345), (450, 360), (485, 395), (497, 440), (500, 512), (20, 512),
    (20, 440), (25, 330), (45, 270), (80, 240), (115, 215), (112, 170), (135, 155), (180, 145), (165, 125),
    (152, 100), (155, 60),
]  # fmt: skip
# Background regions with no part of the person: the shuttle model and the top of the flag.
ASTRONAUT_BACKGROUND = [(380, 0, 470, 250), (0, 0, 60, 180)]  # (left, top, right, bottom)


def test_astronaut_mask_covers_the_person(u2netp):
    img = _photos()["astronaut"]
    mask = predict_mask(u2netp, img)
    assert mask.shape == (img.height, img.width) and mask.dtype == np.uint8
    assert mask.min() == 0 and mask.max() == 255  # normPRED stretches to the full range
    expected = Image.new("L", img.size, 0)
    ImageDraw.Draw(expected).polygon(ASTRONAUT_OUTLINE, fill=255)
    exp = np.asarray(expected) > 127
    fg = mask > 127
    iou = (fg & exp).sum() / (fg | exp).sum()
    print(f"astronaut IoU vs hand outline: {iou:.3f}")
    assert iou > 0.9
    for left, top, right, bottom in ASTRONAUT_BACKGROUND:
        assert fg[top:bottom, left:right].mean() < 0.05
    assert fg[300:480, 100:250].mean() > 0.98  # the suit's chest


# -- (d) batching and the official post-processing ----------------------------------------
def test_batched_masks_equal_single_image_masks(u2netp):
    photos = list(_photos().values())
    photos.append(photos[1].transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((300, 410)))
    calls = []
    hook = u2netp.register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    try:
        batched = predict_masks(u2netp, photos, torch.device("cpu"))
    finally:
        hook.remove()
    assert calls == [len(photos)]  # the whole batch in ONE forward pass
    assert len(batched) == len(photos)
    for img, got in zip(photos, batched):
        single = predict_mask(u2netp, img)
        assert got.shape == single.shape == (img.height, img.width)
        # Batched CPU convolutions round differently in the last float bits (~1e-5 on the map),
        # which can move a pixel across a uint8 truncation step: allow 1 grey level on <0.1% of pixels.
        diff = np.abs(got.astype(np.int16) - single)
        assert diff.max() <= 1
        assert (diff > 0).mean() < 1e-3
    assert predict_masks(u2netp, [], "cpu") == []


def test_postprocess_matches_the_official_pil_path():
    rng = np.random.default_rng(3)
    pred = torch.from_numpy(rng.random((1, INPUT_SIZE, INPUT_SIZE), dtype=np.float32) * 0.7 + 0.1)
    ours = postprocess(norm_pred(pred)[0].numpy(), (517, 283))
    # u2net_test.py save_output, literally: normPRED, x255, PIL 'F' -> 'RGB', BILINEAR resize.
    p = pred[0]
    p = ((p - p.min()) / (p.max() - p.min())).numpy()
    official = Image.fromarray(p * 255).convert("RGB").resize((517, 283), resample=Image.BILINEAR)
    official = np.asarray(official)
    assert np.array_equal(official[:, :, 0], official[:, :, 2])
    assert np.array_equal(ours, official[:, :, 0])


def test_preprocess_follows_the_official_steps():
    from skimage.transform import resize

    rng = np.random.default_rng(4)
    arr = (rng.random((240, 400, 3)) * 200).astype(np.uint8)  # dim image: max 199 < 255
    x = preprocess(Image.fromarray(arr))
    assert x.shape == (3, INPUT_SIZE, INPUT_SIZE) and x.dtype == torch.float32
    # data_loader.RescaleT + ToTensorLab(flag=0), written out step by step.
    img = resize(arr, (320, 320), mode="constant", anti_aliasing=False)
    img = img / np.max(img)
    ref = np.stack(
        [(img[:, :, c] - m) / s for c, (m, s) in enumerate(zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))]
    )
    assert np.allclose(x.numpy(), ref, atol=1e-6)
    # Divide by the image max (199/255 here), not 255: after undoing mean/std the maximum is 1.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    assert abs(float((x * std + mean).max()) - 1.0) < 1e-5
    # No anti-aliasing (scikit-image 0.14): a one-pixel checkerboard keeps its contrast after downsampling.
    # At a factor of 3 the half-pixel sample points hit pixel centres, so the checkerboard survives
    # unblurred (normalised std ~2.2); a Gaussian pre-filter (sigma 1) would flatten it towards grey.
    checker = ((np.indices((960, 960)).sum(0) % 2) * 255).astype(np.uint8)
    assert float(preprocess(Image.fromarray(checker).convert("RGB")).std()) > 1.5


def test_grayscale_uses_the_red_statistics_on_all_channels():
    gray = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (64, 1)), mode="L")
    x = preprocess(gray)
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    assert abs(float(x.max()) - (1 - 0.485) / 0.229) < 1e-5


def test_constant_image_gives_an_empty_mask_not_nan(u2netp):
    black = Image.new("RGB", (64, 48))
    mask = predict_mask(u2netp, black)
    assert mask.shape == (48, 64) and mask.dtype == np.uint8


@pytest.mark.gpu
def test_cuda_reduced_precisions_keep_the_person(u2netp):
    """Each opt-in CUDA precision, through the serving wrapper, keeps the masks of IEEE fp32 (an H200
    read IoU 0.997 and up for fp16, 0.98 for bf16: docs/gpu.md)."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    dev = torch.device("cuda")
    runtime.resolve("u2net", NetworkRuntime("torch", "fp32"), dev)
    net = load_checkpoint(WEIGHTS / "u2netp.pth", arch="u2netp", optimize=True).to(dev)
    photos = list(_photos().values())
    full = predict_masks(runtime.TorchNetwork(net, "fp32", dev), photos, dev)
    for precision, bound in (("tf32", 0.99), ("fp16", 0.99), ("bf16", 0.95)):
        for a, b in zip(full, predict_masks(runtime.TorchNetwork(net, precision, dev), photos, dev)):
            a, b = a >= 128, b >= 128
            assert a.mean() > 0.05 and (a & b).sum() / (a | b).sum() > bound, precision


@pytest.mark.gpu
def test_cuda_masks_match_cpu(u2netp):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    photos = list(_photos().values())
    cpu = predict_masks(u2netp, photos, "cpu")
    runtime.resolve("u2net", NetworkRuntime("torch", "fp32"), "cuda")  # as a worker's load: fp32 is IEEE, not TF32
    net = load_checkpoint(WEIGHTS / "u2netp.pth", arch="u2netp").to("cuda")
    gpu = predict_masks(net, photos, torch.device("cuda"))
    for a, b in zip(cpu, gpu):
        diff = np.abs(a.astype(np.int16) - b)
        assert diff.max() <= 2 and (diff > 0).mean() < 1e-2  # cuDNN's summation order, not a different model
