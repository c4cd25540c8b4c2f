"""SCHP network: official checkpoint layout, strict loading, InPlace-ABN semantics, parse()."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from closet import parsing, runtime
from closet.checkpoints import CheckpointError
from closet.config import NetworkRuntime
from closet.models import schp
from tests.support.reference import manifest
from tests.support.reference import official_schp_checkpoint as official_checkpoint


@pytest.mark.parametrize("dataset", ["atr", "lip", "pascal"])
def test_keys_shapes_and_order_equal_the_manifest(dataset):
    ref = manifest(dataset)
    net = schp.build(dataset)
    got = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in net.state_dict().items()]
    assert got == ref["state_dict"]
    assert len(got) == ref["num_state_dict_entries"] == 603
    assert sum(p.numel() for p in net.parameters()) == ref["num_params"]
    assert not any(k.endswith("num_batches_tracked") for k in net.state_dict())


@pytest.mark.parametrize("dataset", ["atr", "lip"])
def test_official_layout_loads_strict(tmp_path, dataset):
    path = tmp_path / f"exp-schp-{dataset}.pth"
    sd = official_checkpoint(dataset, path)
    net = schp.load_checkpoint(path, dataset)
    assert not net.training
    loaded = net.state_dict()
    assert list(loaded) == [k[len("module."):] for k in sd]
    for k, v in sd.items():
        assert torch.equal(loaded[k[len("module."):]], v), k


def test_wrong_dataset_is_refused_with_the_key(tmp_path):
    path = tmp_path / "lip.pth"
    official_checkpoint("lip", path)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        schp.load_checkpoint(path, "atr")


def test_bare_state_dict_loads_and_junk_is_named(tmp_path):
    net = schp.build("pascal")
    torch.save(net.state_dict(), tmp_path / "bare.pth")
    assert schp.load_checkpoint(tmp_path / "bare.pth", "pascal").num_classes == 7
    torch.save({"state_dict": {"module.conv1.weight": "not a tensor"}}, tmp_path / "junk.pth")
    with pytest.raises(CheckpointError, match="not a tensor"):
        schp.load_checkpoint(tmp_path / "junk.pth", "pascal")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable torch file"):
        schp.load_checkpoint(tmp_path / "text.pth", "pascal")


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"

    class Evil:  # any non-tensor global: weights_only must refuse it
        def __reduce__(self):
            return (print, ("pwned",))

    with open(path, "wb") as f:
        pickle.dump({"state_dict": Evil()}, f)
    with pytest.raises(CheckpointError):
        schp.load_checkpoint(path, "atr")


def test_inplace_abn_uses_abs_weight_plus_eps():
    torch.manual_seed(0)
    abn = schp.InPlaceABN(4, activation="none").eval()
    assert list(abn.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    with torch.no_grad():
        abn.weight.copy_(torch.tensor([-2.0, -0.5, 0.0, 1.5]))
        abn.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        abn.running_mean.copy_(torch.tensor([0.5, -1.0, 0.0, 2.0]))
        abn.running_var.copy_(torch.tensor([4.0, 0.25, 1.0, 9.0]))
    x = torch.randn(2, 4, 3, 3)
    shape = (1, 4, 1, 1)
    expected = (x - abn.running_mean.view(shape)) / torch.sqrt(abn.running_var.view(shape) + 1e-5)
    expected = expected * (abn.weight.abs().view(shape) + 1e-5) + abn.bias.view(shape)
    torch.testing.assert_close(abn(x), expected, rtol=1e-5, atol=1e-6)
    # nn.BatchNorm2d with the same tensors would use the signed weight: not the same function.
    bn = torch.nn.BatchNorm2d(4).eval()
    bn.load_state_dict(abn.state_dict(), strict=False)
    assert not torch.allclose(bn(x), abn(x))

    leaky = schp.InPlaceABN(4).eval()
    leaky.load_state_dict(abn.state_dict())
    torch.testing.assert_close(leaky(x), torch.nn.functional.leaky_relu(expected, 0.01), rtol=1e-5, atol=1e-6)


def test_thirteen_head_norms_are_leaky_the_rest_plain():
    net = schp.build("atr")
    norms = {n: m for n, m in net.named_modules() if isinstance(m, schp.InPlaceABN)}
    leaky = sorted(n for n, m in norms.items() if m.activation == "leaky_relu")
    assert len(norms) == 119
    assert len(leaky) == 13
    assert set(leaky) >= {"fushion.1", "decoder.conv3.3", "context_encoding.bottleneck.1", "edge.conv3.1"}
    assert all(not n.startswith(("layer", "bn")) for n in leaky)


def test_forward_returns_the_official_nesting():
    net = schp.build("pascal").eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 128, 128))
    assert [len(out[0]), len(out[1])] == [2, 1]
    assert out[0][0].shape == out[0][1].shape == (1, 7, 32, 32)
    assert out[1][0].shape == (1, 2, 32, 32)


# -- official pre/post-processing ---------------------------------------------
def _official_affine(center, scale, output_size, inv=False):
    """utils/transforms.py get_affine_transform (rot 0, shift 0), as described in the manifest."""
    src_w = scale[0]
    dst_w, dst_h = output_size[1], output_size[0]
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + np.array([0, src_w * -0.5], np.float32)
    dst[0] = [(dst_w - 1) * 0.5, (dst_h - 1) * 0.5]
    dst[1] = dst[0] + np.array([0, (dst_w - 1) * -0.5], np.float32)

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]], np.float32)

    src[2] = third(src[0], src[1])
    dst[2] = third(dst[0], dst[1])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


@pytest.mark.parametrize("w,h,size", [(512, 512, 512), (640, 360, 512), (300, 700, 473), (1, 5, 473)])
def test_letterbox_affine_matches_the_official(w, h, size):
    bw, bh = w - 1, h - 1
    center = np.array([bw * 0.5, bh * 0.5], np.float32)
    m = max(bw, bh)
    ours = parsing.letterbox_affine(w, h, size)
    if m == 0:
        return
    official = _official_affine(center, np.array([m, m], np.float32), (size, size))
    np.testing.assert_allclose(ours, official, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(
        cv2.invertAffineTransform(ours),
        _official_affine(center, np.array([m, m], np.float32), (size, size), inv=True),
        rtol=1e-5, atol=1e-3,
    )


def test_postprocess_equals_official_transform_logits_then_argmax():
    rng = np.random.default_rng(1)
    w, h, size, c = 97, 61, 64, 18
    trans = parsing.letterbox_affine(w, h, size)
    logits = rng.normal(size=(c, size, size)).astype(np.float32)
    inv = cv2.invertAffineTransform(trans)
    stacked = np.stack(
        [cv2.warpAffine(logits[i], inv, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
         for i in range(c)], axis=2)  # (h, w, C) as transform_logits returns
    np.testing.assert_array_equal(parsing.postprocess(logits, trans, w, h), np.argmax(stacked, axis=2))


def test_preprocess_is_bgr_letterboxed_and_normalised():
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    x, trans = parsing.preprocess(rgb, 40)
    assert x.shape == (3, 40, 40)
    centre = x[:, 20, 20]
    # BGR order: channel 2 holds red.
    torch.testing.assert_close(centre, torch.tensor([(0 - 0.406) / 0.225, (0 - 0.456) / 0.224, (1 - 0.485) / 0.229]))
    # The letterbox border (top rows) is black before normalisation.
    torch.testing.assert_close(x[:, 0, 0], torch.tensor([-0.406 / 0.225, -0.456 / 0.224, -0.485 / 0.229]))
    assert trans[0, 0] == pytest.approx(39 / 39)


@pytest.fixture(scope="module")
def random_atr():
    torch.manual_seed(0)
    return schp.build("atr").eval()


def test_parse_on_a_real_photo_with_random_weights(random_atr):
    photo = skimage.data.astronaut()[:, 40:440]  # 512 x 400: not square, exercises the letterbox
    labels = parsing.parse(random_atr, photo, "atr")
    assert labels.shape == photo.shape[:2]
    assert labels.dtype == np.uint8
    assert labels.max() < len(parsing.ATR_LABELS)
    assert len(np.unique(labels)) > 1  # random logits still vary over the image


def test_parse_batch_equals_one_at_a_time(random_atr):
    # One forward pass for the batch gives the same maps (up to float ties) as one image at a time.
    # A 128 px input keeps this cheap; the pre/post-processing is the same code at any size.
    photo, other = skimage.data.astronaut()[:, 40:440], skimage.data.chelsea()
    batch = parsing.parse_batch(random_atr, [photo, other], "atr", size=128)
    assert [b.shape for b in batch] == [photo.shape[:2], other.shape[:2]]
    assert (batch[0] == parsing.parse(random_atr, photo, "atr", size=128)).mean() > 0.999
    assert (batch[1] == parsing.parse(random_atr, other, "atr", size=128)).mean() > 0.999


@pytest.mark.gpu
def test_parse_batch_on_cuda_matches_cpu(random_atr):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    photo = skimage.data.astronaut()
    cpu = parsing.parse_batch(random_atr, [photo], "atr")[0]
    gpu_net = schp.build("atr").eval()
    gpu_net.load_state_dict(random_atr.state_dict())
    runtime.resolve("schp", NetworkRuntime("torch", "fp32"), "cuda")  # as a worker's load: fp32 is IEEE, not TF32
    gpu = parsing.parse_batch(gpu_net.to("cuda"), [photo, photo], "atr", "cuda")
    # Random weights leave near-tied logits, whose argmax a last-bit difference flips: agreement, not identity.
    assert (gpu[0] == cpu).mean() > 0.99 and (gpu[0] == gpu[1]).mean() > 0.999


@pytest.mark.parametrize(("n", "k"), [(32, 3), (32, 6), (30, 6), (64, 3), (7, 2), (6, 6), (5, 1)])
def test_the_exports_bin_average_is_adaptive_average_pooling(n, k):
    """What the ONNX export runs for the PSP's pooling (its 3x3 and 6x6 bins do not divide a 32x32 map)."""
    x = torch.randn(2, 3, n, n + 1)
    want = torch.nn.functional.adaptive_avg_pool2d(x, (k, k))
    assert torch.allclose(schp.bin_average(x, (k, k)), want, atol=1e-6)
