"""closet.stages.translate: official pre/post-processing, seeded latent styles, truncation, reference styles, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from closet.config import REPO_ROOT
from closet.models.stargan_v2 import StarGANv2, build_nets, load_with_sidecar
from closet.stages.translate import (
    Latent,
    Reference,
    Translator,
    latent_code,
    postprocess,
    preprocess,
    style_average,
    style_codes,
    translate,
)
from tests.support.images import png


@pytest.fixture(scope="module")
def nets() -> StarGANv2:
    torch.manual_seed(0)
    n = build_nets(img_size=32, num_domains=3, style_dim=16, latent_dim=8, max_conv_dim=32, dim_in=8, hidden_dim=32)
    return StarGANv2(n["generator"], n["mapping_network"], n["style_encoder"], img_size=32, num_domains=3,
                     style_dim=16, latent_dim=8, domains=["a", "b", "c"]).eval()


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_preprocess_official_resize_and_range():
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :, 0] = 255
    x = preprocess(Image.fromarray(rgb), 32)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32  # aspect ignored, like Resize([S, S])
    assert torch.all(x[0] == 1) and torch.all(x[1:] == -1)
    ref = np.asarray(Image.fromarray(rgb).resize((32, 32), Image.BILINEAR), np.float32) / 127.5 - 1
    torch.testing.assert_close(x.permute(1, 2, 0), torch.from_numpy(ref))
    g = preprocess(Image.fromarray(rgb), 32, grayscale=True)  # luminance, replicated to 3 channels
    assert g.shape == (3, 32, 32) and torch.equal(g[0], g[1]) and torch.equal(g[1], g[2])
    assert abs(float(g[0, 0, 0]) - (76 / 127.5 - 1)) < 1e-6  # PIL L of pure red = 76
    assert preprocess(Image.fromarray(rgb), 32, channels=1).shape == (1, 32, 32)


def test_postprocess_official_rounding():
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0, 1 / 255 - 1]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    out = postprocess(x)
    assert out.shape == (1, 1, 6, 3) and out.dtype == np.uint8
    # (x+1)/2 clamped, *255 + 0.5, truncated: 0.5*255+0.5 = 128
    assert out[0, 0, :, 0].tolist() == [0, 0, 128, 255, 255, 1]
    assert postprocess(x, grayscale=True).shape == (1, 1, 6)


def test_latent_code_is_seeded_and_device_independent():
    assert torch.equal(latent_code(7, 16), latent_code(7, 16))
    assert not torch.equal(latent_code(7, 16), latent_code(8, 16))
    assert torch.equal(latent_code(7, 16), torch.randn(16, generator=torch.Generator().manual_seed(7)))


def test_latent_translation_deterministic_and_diverse(nets):
    x = images(2)
    a = translate(nets, x, [1, 2], Latent(3))
    b = translate(nets, x, [1, 2], Latent(3))
    c = translate(nets, x, [1, 2], Latent(4))
    assert a.shape == (2, 3, 32, 32)
    assert torch.equal(a, b)
    assert (a - c).abs().mean() > 1e-4


def test_latent_style_is_mapping_network_of_seeded_z(nets):
    y = torch.tensor([2])
    s = style_codes(nets, y, [Latent(11)])
    with torch.no_grad():
        ref = nets.mapping_network(latent_code(11, nets.latent_dim).unsqueeze(0), y)
    torch.testing.assert_close(s, ref)


def test_truncation_psi(nets):
    y = torch.tensor([0, 0])
    s_avg = style_average(nets, 0)
    s_full = style_codes(nets, y, [Latent(1), Latent(2)])
    s_half = style_codes(nets, y, [Latent(1, psi=0.5), Latent(2, psi=0.5)])
    torch.testing.assert_close(s_half, torch.lerp(s_avg.expand(2, -1), s_full, 0.5))
    assert s_avg is style_average(nets, 0)  # cached: 10,000 z are mapped once per domain


def test_reference_style_uses_target_domain(nets):
    xr = images(1, seed=5)
    s = style_codes(nets, torch.tensor([1]), [Reference(xr[0])])
    with torch.no_grad():
        torch.testing.assert_close(s, nets.style_encoder(xr, torch.tensor([1])))
        assert not torch.allclose(s, nets.style_encoder(xr, torch.tensor([2])))


def test_reduced_precision_autocast_gives_float32_styles_and_a_translation(nets):
    """Under a half-width autocast (a worker's fp16/bf16) the networks answer in half width: the style
    codes still come out float32 and every source kind still translates (bf16 here: any CPU runs it)."""
    x, xr = images(3), images(1, seed=9)[0]
    sources = [Latent(1), Reference(xr), Latent(2, psi=0.7)]
    full = style_codes(nets, torch.tensor([0, 1, 2]), sources)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = style_codes(nets, torch.tensor([0, 1, 2]), sources)
        out = translate(nets, x, [0, 1, 2], sources)
    assert half.dtype == torch.float32 and out.shape == (3, 3, 32, 32) and bool(out.isfinite().all())
    torch.testing.assert_close(half, full, atol=0.05, rtol=0.05)


def test_mixed_batch_equals_single_requests(nets):
    x = images(3)
    xr = images(1, seed=9)[0]
    sources = [Latent(1), Reference(xr), Latent(2, psi=0.7)]
    batch = translate(nets, x, [0, 1, 2], sources)
    for i, src in enumerate(sources):
        one = translate(nets, x[i : i + 1], [i], [src])
        torch.testing.assert_close(batch[i : i + 1], one, atol=1e-5, rtol=1e-5)


def test_translate_validates(nets):
    with pytest.raises(ValueError, match="out of range"):
        translate(nets, images(1), 3, Latent(0))
    with pytest.raises(ValueError, match="style sources"):
        translate(nets, images(2), [0, 1], [Latent(0)])
    with pytest.raises(TypeError):
        translate(nets, images(1), 0, ["not a source"])


def _assert_gray(x):
    assert x.shape[1] == 3 and bool((x[:, 0] == x[:, 1]).all()) and bool((x[:, 1] == x[:, 2]).all())


def test_colour_crop_reaches_a_grayscale_checkpoint_as_equal_channels():
    """The translate stage feeds the Fashion-MNIST demo (sidecar grayscale) luminance only."""

    assets = REPO_ROOT / "assets" / "stargan-fmnist"
    stage = Translator(load_with_sidecar(str(assets / "nets_ema.ckpt"), str(assets / "meta.json")))
    tr = stage.nets
    assert tr.meta.get("grayscale") is True
    seen = {"gen": [], "enc": []}
    hooks = [tr.generator.register_forward_pre_hook(lambda m, a: seen["gen"].append(a[0])),
             tr.style_encoder.register_forward_pre_hook(lambda m, a: seen["enc"].append(a[0]))]
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    crop[..., 0] = 255  # strongly coloured: channels would differ if RGB reached the net
    ref = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    try:
        styles = [stage.style(tr.domains[1], seed=3, max_pixels=10**6, max_side=1000),
                  stage.style(tr.domains[1], reference=png(ref), max_pixels=10**6, max_side=1000)]
        outs = stage([crop, crop], styles)
    finally:
        for h in hooks:
            h.remove()
    assert len(seen["gen"]) == 1 and len(seen["enc"]) == 1
    _assert_gray(seen["gen"][0])
    _assert_gray(seen["enc"][0])
    assert all(o.shape == (32, 32) and o.dtype == np.uint8 for o in outs)  # gray out
