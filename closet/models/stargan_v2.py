"""StarGAN v2 networks (Choi et al., CVPR 2020), written to load the official checkpoints.

Anchor: clovaai/stargan-v2 `core/model.py`. Attribute paths equal the official
state_dict keys (tests/reference/stargan_v2_*.json), so an official
`{:06d}_nets_ema.ckpt` loads with strict=True. Beyond the official code there are
width knobs for small models (`dim_in`, `max_conv_dim`, `hidden_dim`; `img_channels`
stays 3 for the official layout); they change shapes, never key names.

Only the w_hpf=0 (AFHQ) generator is supported: w_hpf>0 needs the FAN landmark
network and its heatmap masks, and such a checkpoint is refused at load time.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from closet.checkpoints import CheckpointError, strict_load, strip_prefix

log = logging.getLogger(__name__)

LEAK = 0.2  # LeakyReLU slope used throughout the paper's networks


def _official_dim_in(img_size: int) -> int:
    # Official width rule: 64 channels at 256 px, 32 at 512 px, 512 at 32 px.
    return 2**14 // img_size


def _log2(img_size: int) -> int:
    n = int(round(math.log2(img_size)))
    if 2**n != img_size or n < 3:
        raise ValueError(f"img_size must be a power of two >= 8, got {img_size}")
    return n


class ResBlk(nn.Module):
    """Pre-activation residual block (optionally instance-normalised, optionally /2 in size)."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False):
        super().__init__()
        self.actv = nn.LeakyReLU(LEAK)  # one instance per block (parameter-free either way)
        self.normalize = normalize
        self.downsample = downsample
        self.learned_sc = dim_in != dim_out
        self._build_weights(dim_in, dim_out)

    def _build_weights(self, dim_in: int, dim_out: int) -> None:
        self.conv1 = nn.Conv2d(dim_in, dim_in, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, kernel_size=3, stride=1, padding=1)
        if self.normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, kernel_size=1, stride=1, padding=0, bias=False)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.learned_sc:
            x = self.conv1x1(x)
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        return x

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = self.norm1(x)
        x = self.actv(x)
        x = self.conv1(x)
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        if self.normalize:
            x = self.norm2(x)
        x = self.actv(x)
        return self.conv2(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Dividing the sum by sqrt(2) keeps unit variance through the residual stack.
        return (self._shortcut(x) + self._residual(x)) / math.sqrt(2)


class AdaIN(nn.Module):
    """Adaptive instance norm: (1 + gamma(s)) * IN(x) + beta(s)."""

    def __init__(self, style_dim: int, num_features: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.fc(s)
        h = h.view(h.size(0), h.size(1), 1, 1)  # (N, 2*C, 1, 1)
        gamma, beta = torch.chunk(h, chunks=2, dim=1)  # each (N, C, 1, 1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    """Decoder residual block whose norms are AdaIN driven by the style code."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int = 64, w_hpf: float = 0, upsample: bool = False):
        super().__init__()
        self.w_hpf = w_hpf
        self.actv = nn.LeakyReLU(LEAK)
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self._build_weights(dim_in, dim_out, style_dim)

    def _build_weights(self, dim_in: int, dim_out: int, style_dim: int) -> None:
        self.conv1 = nn.Conv2d(dim_in, dim_out, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, kernel_size=3, stride=1, padding=1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, kernel_size=1, stride=1, padding=0, bias=False)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.learned_sc:
            x = self.conv1x1(x)
        return x

    def _residual(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x, s)
        x = self.actv(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv1(x)
        x = self.norm2(x, s)
        x = self.actv(x)
        return self.conv2(x)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        out = self._residual(x, s)
        if self.w_hpf == 0:
            out = (out + self._shortcut(x)) / math.sqrt(2)
        return out  # with w_hpf > 0 the official block returns the residual only


class Generator(nn.Module):
    """Encoder (ResBlk, IN) -> bottleneck -> decoder (AdainResBlk) at img_size; w_hpf=0 only."""

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        max_conv_dim: int = 512,
        w_hpf: float = 0,
        dim_in: int | None = None,
        img_channels: int = 3,
    ):
        super().__init__()
        if w_hpf > 0:
            raise ValueError(
                "w_hpf > 0 (the CelebA-HQ setting) needs the FAN landmark network and its masks; "
                "closet supports only w_hpf=0 (AFHQ-style) generators"
            )
        dim_in = dim_in or _official_dim_in(img_size)
        self.img_size = img_size
        self.from_rgb = nn.Conv2d(img_channels, dim_in, kernel_size=3, stride=1, padding=1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(
            nn.InstanceNorm2d(dim_in, affine=True),
            nn.LeakyReLU(LEAK),
            nn.Conv2d(dim_in, img_channels, kernel_size=1, stride=1, padding=0),
        )
        repeat_num = _log2(img_size) - 4  # down to img_size/16 (16x16 at 256 px)
        repeat_num = max(repeat_num, 1)
        dim_out = dim_in
        for _ in range(repeat_num):
            dim_out = min(dim_in * 2, max_conv_dim)
            self.encode.append(ResBlk(dim_in, dim_out, normalize=True, downsample=True))
            # insert at 0: the decoder mirrors the encoder like a stack
            self.decode.insert(0, AdainResBlk(dim_out, dim_in, style_dim, w_hpf=w_hpf, upsample=True))
            dim_in = dim_out
        for _ in range(2):  # bottleneck
            self.encode.append(ResBlk(dim_out, dim_out, normalize=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_out, style_dim, w_hpf=w_hpf))

    def forward(self, x: torch.Tensor, s: torch.Tensor, masks=None) -> torch.Tensor:
        if masks is not None:
            raise ValueError("masks are only used with w_hpf > 0, which closet does not support")
        x = self.from_rgb(x)  # (N, dim_in, H, W)
        for block in self.encode:
            x = block(x)  # (N, C, H/2^k, W/2^k)
        for block in self.decode:
            x = block(x, s)
        return self.to_rgb(x)  # (N, img_channels, H, W), unbounded (no tanh)


class MappingNetwork(nn.Module):
    """z (N, latent_dim) + domain y (N,) -> style (N, style_dim); one MLP head per domain."""

    def __init__(self, latent_dim: int = 16, style_dim: int = 64, num_domains: int = 2, hidden_dim: int = 512):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden_dim), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList()
        for _ in range(num_domains):
            self.unshared.append(
                nn.Sequential(
                    nn.Linear(hidden_dim, hidden_dim),
                    nn.ReLU(),
                    nn.Linear(hidden_dim, hidden_dim),
                    nn.ReLU(),
                    nn.Linear(hidden_dim, hidden_dim),
                    nn.ReLU(),
                    nn.Linear(hidden_dim, style_dim),
                )
            )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(z)  # (N, hidden_dim)
        out = torch.stack([head(h) for head in self.unshared], dim=1)  # (N, num_domains, style_dim)
        return out[torch.arange(y.size(0), device=y.device), y]  # (N, style_dim)


class StyleEncoder(nn.Module):
    """Image (N, 3, S, S) + domain y (N,) -> style (N, style_dim)."""

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        num_domains: int = 2,
        max_conv_dim: int = 512,
        dim_in: int | None = None,
        img_channels: int = 3,
    ):
        super().__init__()
        dim_in = dim_in or _official_dim_in(img_size)
        blocks: list[nn.Module] = [nn.Conv2d(img_channels, dim_in, kernel_size=3, stride=1, padding=1)]
        dim_out = dim_in
        for _ in range(_log2(img_size) - 2):  # down to 4x4
            dim_out = min(dim_in * 2, max_conv_dim)
            blocks.append(ResBlk(dim_in, dim_out, downsample=True))
            dim_in = dim_out
        blocks += [
            nn.LeakyReLU(LEAK),
            nn.Conv2d(dim_out, dim_out, kernel_size=4, stride=1, padding=0),  # 4x4 -> 1x1
            nn.LeakyReLU(LEAK),
        ]
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList([nn.Linear(dim_out, style_dim) for _ in range(num_domains)])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(x)
        h = h.view(h.size(0), -1)  # (N, dim_out)
        out = torch.stack([head(h) for head in self.unshared], dim=1)  # (N, num_domains, style_dim)
        return out[torch.arange(y.size(0), device=y.device), y]  # (N, style_dim)


class Discriminator(nn.Module):
    """Multi-task discriminator: one real/fake logit per domain, row y selected."""

    def __init__(
        self, img_size: int = 256, num_domains: int = 2, max_conv_dim: int = 512, dim_in: int | None = None,
        img_channels: int = 3,
    ):
        super().__init__()
        dim_in = dim_in or _official_dim_in(img_size)
        blocks: list[nn.Module] = [nn.Conv2d(img_channels, dim_in, kernel_size=3, stride=1, padding=1)]
        dim_out = dim_in
        for _ in range(_log2(img_size) - 2):
            dim_out = min(dim_in * 2, max_conv_dim)
            blocks.append(ResBlk(dim_in, dim_out, downsample=True))
            dim_in = dim_out
        blocks += [
            nn.LeakyReLU(LEAK),
            nn.Conv2d(dim_out, dim_out, kernel_size=4, stride=1, padding=0),
            nn.LeakyReLU(LEAK),
            nn.Conv2d(dim_out, num_domains, kernel_size=1, stride=1, padding=0),
        ]
        self.main = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.main(x)
        out = out.view(out.size(0), -1)  # (N, num_domains)
        return out[torch.arange(y.size(0), device=y.device), y]  # (N,)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

NETS_EMA = ("generator", "mapping_network", "style_encoder")


class StarGANLoadError(CheckpointError):
    """A StarGAN v2 checkpoint does not fit the requested configuration."""


@dataclass
class StarGANv2:
    """The three inference networks of a nets_ema checkpoint plus what they were built with."""

    generator: Generator
    mapping_network: MappingNetwork
    style_encoder: StyleEncoder
    img_size: int
    num_domains: int
    style_dim: int
    latent_dim: int
    img_channels: int = 3
    domains: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def to(self, device) -> StarGANv2:
        for name in NETS_EMA:
            getattr(self, name).to(device)
        return self

    def eval(self) -> StarGANv2:
        for name in NETS_EMA:
            getattr(self, name).eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device


def build_nets(
    img_size: int = 256,
    num_domains: int = 2,
    style_dim: int = 64,
    latent_dim: int = 16,
    w_hpf: float = 0,
    max_conv_dim: int = 512,
    dim_in: int | None = None,
    hidden_dim: int = 512,
    img_channels: int = 3,
) -> dict[str, nn.Module]:
    """The nets_ema networks (official arguments; dim_in/hidden_dim/img_channels only for small models)."""
    return {
        "generator": Generator(
            img_size, style_dim, max_conv_dim=max_conv_dim, w_hpf=w_hpf, dim_in=dim_in, img_channels=img_channels
        ),
        "mapping_network": MappingNetwork(latent_dim, style_dim, num_domains, hidden_dim=hidden_dim),
        "style_encoder": StyleEncoder(
            img_size, style_dim, num_domains, max_conv_dim=max_conv_dim, dim_in=dim_in, img_channels=img_channels
        ),
    }


def _read_checkpoint(path: str) -> dict:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise StarGANLoadError(f"StarGAN v2 checkpoint {path!r} does not exist")
    try:
        # weights_only refuses pickled code: a checkpoint is data, never a program.
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - every unreadable file gets the same clear message
        raise StarGANLoadError(f"{path!r} is not a readable torch checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise StarGANLoadError(f"{path!r} holds a {type(obj).__name__}, not the nets_ema dict")
    return obj


def _strict_load(module: nn.Module, state: dict, what: str) -> None:
    """Exact key/shape match, then load_state_dict(strict=True) (closet.checkpoints.strict_load)."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise StarGANLoadError(f"{what}: not a state dict of tensors")
    try:
        strict_load(module, state, what)
    except CheckpointError as e:
        raise StarGANLoadError(str(e)) from e


def infer_config(ckpt: dict) -> dict:
    """Read num_domains, img_size, widths, style/latent dims from nets_ema tensor shapes."""
    g, f, e = ckpt["generator"], ckpt["mapping_network"], ckpt["style_encoder"]
    img_channels = int(g["from_rgb.weight"].shape[1])
    num_domains = len({k.split(".")[1] for k in f if k.startswith("unshared.")})
    dim_in = g["from_rgb.weight"].shape[0]
    enc_blocks = len({k.split(".")[1] for k in g if k.startswith("encode.")})
    n_down = enc_blocks - 2
    se_down = len({k.split(".")[1] for k in e if k.startswith("shared.") and ".conv1." in k})
    img_size = 2 ** (se_down + 2)
    widths = [e[f"shared.{i}.conv2.weight"].shape[0] for i in range(1, se_down + 1)]
    return {
        "num_domains": num_domains,
        "img_size": img_size,
        "dim_in": int(dim_in),
        "max_conv_dim": int(max(widths + [g["encode.0.conv2.weight"].shape[0]])),
        "style_dim": int(f["unshared.0.6.weight"].shape[0]),
        "latent_dim": int(f["shared.0.weight"].shape[1]),
        "hidden_dim": int(f["shared.0.weight"].shape[0]),
        "generator_downsamples": n_down,
        "img_channels": img_channels,
    }


def load_checkpoint(
    path: str,
    img_size: int = 256,
    num_domains: int | None = None,
    style_dim: int = 64,
    latent_dim: int = 16,
    w_hpf: float = 0,
    max_conv_dim: int = 512,
    dim_in: int | None = None,
    hidden_dim: int = 512,
    domains: list[str] | None = None,
    meta: dict | None = None,
    img_channels: int = 3,
) -> StarGANv2:
    """Load an official-layout `{:06d}_nets_ema.ckpt` strictly into closet's networks.

    Raises StarGANLoadError when the file needs w_hpf>0 ('fan' or 'hpf.*' keys), when
    its domain count or image size differs from the arguments, or when any key/shape
    does not match.
    """
    ckpt = _read_checkpoint(path)
    # The one key rewrite: a DataParallel 'module.' wrapper (official nets_ema files have none).
    ckpt = {n: strip_prefix(sd, "module.") if isinstance(sd, dict) else sd for n, sd in ckpt.items()}
    if w_hpf and w_hpf > 0:
        raise StarGANLoadError(f"w_hpf={w_hpf} is not supported: closet serves only w_hpf=0 (AFHQ-style) generators")
    if "fan" in ckpt or any(str(k).startswith("hpf.") for k in ckpt.get("generator", {}) or {}):
        raise StarGANLoadError(
            f"{path!r} is a w_hpf>0 checkpoint (it has the FAN landmark net / high-pass filter, "
            "the CelebA-HQ setting); closet supports only w_hpf=0 (AFHQ-style) checkpoints"
        )
    absent = [k for k in NETS_EMA if k not in ckpt]
    if absent:
        raise StarGANLoadError(
            f"{path!r} is not a nets_ema checkpoint: missing {absent}; expected keys {list(NETS_EMA)} "
            f"(found {sorted(map(str, ckpt))[:6]})"
        )
    try:
        found = infer_config(ckpt)
    except (KeyError, IndexError, AttributeError) as e:
        raise StarGANLoadError(f"{path!r}: unexpected StarGAN v2 layout ({type(e).__name__}: {e})") from e
    if num_domains is None:
        num_domains = found["num_domains"]
    if found["num_domains"] != num_domains:
        raise StarGANLoadError(
            f"{path!r} has {found['num_domains']} domains but {num_domains} were requested "
            f"(domains {domains})" if domains else
            f"{path!r} has {found['num_domains']} domains but {num_domains} were requested"
        )
    if found["img_size"] != img_size:
        raise StarGANLoadError(f"{path!r} was trained at img_size={found['img_size']}, but img_size={img_size} was requested")
    if domains is not None and len(domains) != num_domains:
        raise StarGANLoadError(f"{len(domains)} domain names given for {num_domains} domains")
    nets = build_nets(img_size, num_domains, style_dim, latent_dim, w_hpf, max_conv_dim, dim_in, hidden_dim, img_channels)
    for name in NETS_EMA:
        _strict_load(nets[name], ckpt[name], f"{path!r}[{name!r}]")
    model = StarGANv2(
        nets["generator"], nets["mapping_network"], nets["style_encoder"],
        img_size=img_size, num_domains=num_domains, style_dim=style_dim, latent_dim=latent_dim, img_channels=img_channels,
        domains=list(domains) if domains else [str(i) for i in range(num_domains)], meta=dict(meta or {}),
    )
    log.info("loaded StarGAN v2 %s: %d domains at %d px", path, num_domains, img_size)
    return model.eval()


def load_with_sidecar(ckpt_path: str, meta_path: str) -> StarGANv2:
    """Load a checkpoint using the sidecar JSON for domains, sizes and widths."""
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as e:
        raise StarGANLoadError(f"sidecar {meta_path!r} is not readable JSON: {e}") from e
    domains = meta.get("domains")
    if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
        raise StarGANLoadError(f"sidecar {meta_path!r}: 'domains' must be a non-empty list of names")
    widths = meta.get("widths", {}) or {}
    return load_checkpoint(
        ckpt_path,
        img_size=int(meta.get("img_size", 256)),
        num_domains=len(domains),
        style_dim=int(meta.get("style_dim", 64)),
        latent_dim=int(meta.get("latent_dim", 16)),
        w_hpf=float(meta.get("w_hpf", 0)),
        max_conv_dim=int(widths.get("max_conv_dim", 512)),
        dim_in=widths.get("dim_in"),
        hidden_dim=int(widths.get("hidden_dim", 512)),
        domains=domains,
        meta=meta,
        img_channels=int(meta.get("channels", 3)),
    )
