"""StarGAN v2 networks: official checkpoint layout (manifests), strict loading, refusals, block maths."""

from __future__ import annotations

import json
import math

import pytest
import torch

from closet.config import REPO_ROOT
from closet.models.stargan_v2 import (
    AdainResBlk,
    Generator,
    MappingNetwork,
    ResBlk,
    StarGANLoadError,
    StyleEncoder,
    load_checkpoint,
    load_with_sidecar,
)

REF = REPO_ROOT / "tests" / "reference"
ASSETS = REPO_ROOT / "assets" / "stargan-fmnist"


def manifest(name: str) -> dict:
    return json.loads((REF / f"stargan_v2_{name}.json").read_text())


def state_from_manifest(name: str) -> dict[str, torch.Tensor]:
    """A state dict with the manifest's names, order and shapes; each tensor filled with its index."""
    return {k: torch.full(shape, float(i)) for i, (k, shape, _) in enumerate(manifest(name)["state_dict"])}


@pytest.fixture(scope="module")
def official_ckpt(tmp_path_factory):
    """Synthetic official-layout 000001_nets_ema.ckpt files at 256 px for k=2 and k=3."""
    out = {}
    gen = state_from_manifest("generator_256")
    for k in (2, 3):
        path = tmp_path_factory.mktemp(f"k{k}") / "100000_nets_ema.ckpt"
        torch.save({
            "generator": gen,
            "mapping_network": state_from_manifest(f"mapping_network_k{k}"),
            "style_encoder": state_from_manifest(f"style_encoder_256_k{k}"),
        }, path)
        out[k] = path
    return out


@pytest.mark.parametrize("name,module", [
    ("generator_256", lambda: Generator(img_size=256, style_dim=64, max_conv_dim=512, w_hpf=0)),
    ("mapping_network_k2", lambda: MappingNetwork(latent_dim=16, style_dim=64, num_domains=2)),
    ("mapping_network_k3", lambda: MappingNetwork(latent_dim=16, style_dim=64, num_domains=3)),
    ("style_encoder_256_k2", lambda: StyleEncoder(img_size=256, style_dim=64, num_domains=2, max_conv_dim=512)),
    ("style_encoder_256_k3", lambda: StyleEncoder(img_size=256, style_dim=64, num_domains=3, max_conv_dim=512)),
])
def test_state_dict_matches_manifest(name, module):
    m = manifest(name)
    args = m["constructor"]["args"]
    net = module()
    got = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    assert got == [(k, shape) for k, shape, _ in m["state_dict"]]  # names, order and shapes
    assert sum(p.numel() for p in net.parameters()) == m["num_params"]
    assert args  # constructor args in the manifest are the ones used above


@pytest.mark.parametrize("k", [2, 3])
def test_official_layout_loads_strict(official_ckpt, k):
    nets = load_checkpoint(official_ckpt[k], img_size=256, num_domains=k, style_dim=64, latent_dim=16, w_hpf=0)
    for name, man in (("generator", "generator_256"), ("mapping_network", f"mapping_network_k{k}"),
                      ("style_encoder", f"style_encoder_256_k{k}")):
        sd = getattr(nets, name).state_dict()
        entries = manifest(man)["state_dict"]
        assert list(sd) == [e[0] for e in entries]
        for i, (key, _, _) in enumerate(entries):  # every tensor arrived in its own slot
            assert float(sd[key].flatten()[0]) == float(i), key
    y = torch.tensor([k - 1])
    assert nets.mapping_network(torch.zeros(1, 16), y).shape == (1, 64)


def test_domain_count_mismatch_refused(official_ckpt):
    with pytest.raises(StarGANLoadError, match="has 3 domains but 2 were requested"):
        load_checkpoint(official_ckpt[3], img_size=256, num_domains=2)


def test_img_size_mismatch_refused(official_ckpt):
    with pytest.raises(StarGANLoadError, match="img_size=256.*img_size=128"):
        load_checkpoint(official_ckpt[2], img_size=128, num_domains=2)


def test_w_hpf_checkpoints_refused(official_ckpt, tmp_path):
    ckpt = torch.load(official_ckpt[2], weights_only=True)
    with pytest.raises(StarGANLoadError, match="w_hpf=1 is not supported"):
        load_checkpoint(official_ckpt[2], img_size=256, num_domains=2, w_hpf=1)
    fan = tmp_path / "fan.ckpt"
    torch.save({**ckpt, "fan": {"conv1.weight": torch.zeros(1)}}, fan)
    with pytest.raises(StarGANLoadError, match="w_hpf>0 checkpoint"):
        load_checkpoint(fan, img_size=256, num_domains=2)
    hpf = tmp_path / "hpf.ckpt"
    torch.save({**ckpt, "generator": {**ckpt["generator"], "hpf.filter": torch.zeros(3, 3)}}, hpf)
    with pytest.raises(StarGANLoadError, match="FAN landmark net"):
        load_checkpoint(hpf, img_size=256, num_domains=2)
    with pytest.raises(ValueError, match="w_hpf > 0"):
        Generator(img_size=256, w_hpf=1)


def test_bad_files_refused(official_ckpt, tmp_path):
    ckpt = torch.load(official_ckpt[2], weights_only=True)
    missing = tmp_path / "missing_key.ckpt"
    g = dict(ckpt["generator"])
    g.pop("to_rgb.2.bias")
    torch.save({**ckpt, "generator": g}, missing)
    with pytest.raises(StarGANLoadError, match="missing key.*to_rgb.2.bias"):
        load_checkpoint(missing, img_size=256, num_domains=2)
    no_nets = tmp_path / "nets.ckpt"  # the training-state file, not nets_ema
    torch.save({"generator": ckpt["generator"]}, no_nets)
    with pytest.raises(StarGANLoadError, match="not a nets_ema checkpoint"):
        load_checkpoint(no_nets, img_size=256, num_domains=2)
    code = tmp_path / "code.ckpt"
    torch.save({"generator": ResBlk(2, 2)}, code)  # a pickled module, refused by weights_only
    with pytest.raises(StarGANLoadError, match="not a readable torch checkpoint"):
        load_checkpoint(code)
    with pytest.raises(StarGANLoadError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.ckpt")


def test_dataparallel_prefix_tolerated(official_ckpt, tmp_path):
    ckpt = torch.load(official_ckpt[2], weights_only=True)
    wrapped = tmp_path / "module.ckpt"
    torch.save({n: {f"module.{k}": v for k, v in sd.items()} for n, sd in ckpt.items()}, wrapped)
    nets = load_checkpoint(wrapped, img_size=256, num_domains=2)
    assert float(nets.generator.from_rgb.weight.flatten()[0]) == 0.0


def test_adain_resblk_w_hpf0_is_scaled_sum():
    torch.manual_seed(0)
    blk = AdainResBlk(8, 4, style_dim=5, upsample=True).eval()
    x, s = torch.randn(2, 8, 4, 4), torch.randn(2, 5)
    out = blk(x, s)  # (2, 4, 8, 8)
    assert out.shape == (2, 4, 8, 8)
    torch.testing.assert_close(out, (blk._residual(x, s) + blk._shortcut(x)) / math.sqrt(2))
    # AdaIN: (1 + gamma) * IN(x) + beta
    h = blk.norm1.fc(s).view(2, 16, 1, 1)
    gamma, beta = h[:, :8], h[:, 8:]
    mu, var = x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True)
    torch.testing.assert_close(blk.norm1(x, s), (1 + gamma) * (x - mu) / torch.sqrt(var + 1e-5) + beta)


def test_small_widths_keep_key_names():
    small = Generator(img_size=32, style_dim=16, max_conv_dim=32, dim_in=8)
    big = Generator(img_size=32, style_dim=64, max_conv_dim=1024)  # official dim_in 512 -> 1024
    assert list(small.state_dict()) == list(big.state_dict())
    out = small(torch.zeros(2, 3, 32, 32), torch.zeros(2, 16))
    assert out.shape == (2, 3, 32, 32)


@pytest.mark.skipif(not (ASSETS / "nets_ema.ckpt").exists(), reason="demo checkpoint not committed")
def test_demo_checkpoint_loads_with_sidecar():
    nets = load_with_sidecar(ASSETS / "nets_ema.ckpt", ASSETS / "meta.json")
    meta = json.loads((ASSETS / "meta.json").read_text())
    assert nets.domains == meta["domains"] == sorted(meta["domains"])
    assert nets.img_size == meta["img_size"] == 32
    assert (ASSETS / "nets_ema.ckpt").stat().st_size < 10 * 2**20
    raw = torch.load(ASSETS / "nets_ema.ckpt", weights_only=True)
    assert set(raw) == {"generator", "mapping_network", "style_encoder"}
