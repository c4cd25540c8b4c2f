"""StarGAN v2 garment translation as pure functions: preprocess, style codes, translate, postprocess.

Follows the official sampling code (clovaai/stargan-v2 core/utils.py): images are
resized to img_size (PIL bilinear, aspect ignored) and mapped to [-1,1]; a latent-guided
style is mapping_network(z, y) with z ~ N(0, I) (here seeded, so a request is
reproducible), optionally truncated towards the domain's mean style s_avg; a
reference-guided style is style_encoder(x_ref, y) with y the target domain; outputs
are (x+1)/2 clamped, x255 + 0.5, to uint8.

A batch of requests with mixed modes runs one mapping-network pass, one style-encoder
pass and ONE generator pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

S_AVG_SAMPLES = 10_000  # official: mean style over 10,000 z per domain
S_AVG_SEED = 0


@dataclass(frozen=True)
class Latent:
    """Latent-guided style: z drawn from N(0, I) with `seed`; psi < 1 truncates towards s_avg."""

    seed: int
    psi: float = 1.0


@dataclass(frozen=True)
class Reference:
    """Reference-guided style: the style of `image` ((C,S,S) in [-1,1], preprocessed) in the target domain."""

    image: torch.Tensor


MODES = ("latent", "reference")


def resolve_mode(mode: str | None, has_reference: bool) -> str:
    """The style mode of one request, shared by /predictions/translation and /predictions/closet.

    No mode: "reference" when a (non-empty) reference image was sent, else "latent". An explicit
    mode=latent with a reference, or mode=reference without one, is a 400 BadOption.
    """
    from closet.errors import BadOption

    mode = mode or ("reference" if has_reference else "latent")
    if mode == "latent" and has_reference:
        raise BadOption("mode=latent conflicts with the 'reference' file",
                        "drop the reference file, or set mode=reference (or leave mode out)")
    if mode == "reference" and not has_reference:
        raise BadOption("mode=reference needs a reference image",
                        "send the reference garment photo as the multipart field 'reference', or use mode=latent")
    return mode


def is_grayscale(nets) -> bool:
    """True when the model was trained on gray images (sidecar `grayscale`, or 1-channel nets)."""
    return bool(getattr(nets, "meta", {}).get("grayscale", False)) or getattr(nets, "img_channels", 3) == 1


def preprocess(img: Image.Image, img_size: int, grayscale: bool = False, channels: int = 3) -> torch.Tensor:
    """PIL image -> (channels, img_size, img_size) float32 in [-1,1].

    Official: convert('RGB'), Resize([S,S]) bilinear (aspect ignored), ToTensor, Normalize(0.5, 0.5).
    A gray model gets the luminance, replicated to `channels`.
    """
    img = img.convert("L" if grayscale or channels == 1 else "RGB")
    img = img.resize((img_size, img_size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    x = torch.from_numpy(arr.copy())
    x = x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1)  # (C, S, S)
    if x.shape[0] == 1 and channels == 3:
        x = x.expand(3, -1, -1)
    return (x * 2 - 1).contiguous()


def prepare(nets, img: Image.Image) -> torch.Tensor:
    """The one input path for a loaded checkpoint (handler and ensemble alike): a gray-trained model
    (sidecar `grayscale`) gets the crop's luminance replicated to its channels, never colour."""
    return preprocess(img, int(nets.img_size), is_grayscale(nets), int(getattr(nets, "img_channels", 3)))


def postprocess(x: torch.Tensor, grayscale: bool = False) -> np.ndarray:
    """(N,C,S,S) generator output -> uint8 (N,S,S,3) RGB, or (N,S,S) when grayscale.

    Official denormalize + save_image: (x+1)/2, clamp [0,1], x255 + 0.5, truncate to uint8.
    """
    x = ((x.detach().float().cpu() + 1) / 2).clamp_(0, 1)
    if grayscale or x.shape[1] == 1:
        x = x.mean(dim=1)  # (N, S, S)
        return (x * 255 + 0.5).clamp_(0, 255).to(torch.uint8).numpy()
    return (x * 255 + 0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (N, S, S, 3)


def latent_code(seed: int, latent_dim: int) -> torch.Tensor:
    """z ~ N(0, I) of size latent_dim from a CPU generator seeded with `seed` (same z on any device)."""
    return torch.randn(latent_dim, generator=torch.Generator().manual_seed(int(seed)))


@torch.no_grad()
def style_average(nets, domain: int) -> torch.Tensor:
    """Mean style s_avg of `domain` over 10,000 seeded z (for truncation); cached on `nets`."""
    cache = nets.__dict__.setdefault("_s_avg", {})
    if domain not in cache:
        device = next(nets.mapping_network.parameters()).device
        z = torch.randn(S_AVG_SAMPLES, nets.latent_dim, generator=torch.Generator().manual_seed(S_AVG_SEED))
        y = torch.full((S_AVG_SAMPLES,), domain, dtype=torch.long, device=device)
        cache[domain] = nets.mapping_network(z.to(device), y).mean(dim=0)  # (style_dim,)
    return cache[domain]


@torch.no_grad()
def style_codes(nets, y: torch.Tensor, sources: list[Latent | Reference]) -> torch.Tensor:
    """(N, style_dim) style codes; latent rows share one mapping pass, reference rows one encoder pass."""
    device = y.device
    s = torch.empty(len(sources), nets.style_dim, device=device)
    lat = [i for i, src in enumerate(sources) if isinstance(src, Latent)]
    ref = [i for i, src in enumerate(sources) if isinstance(src, Reference)]
    if len(lat) + len(ref) != len(sources):
        raise TypeError("each style source must be a Latent or a Reference")
    if lat:
        z = torch.stack([latent_code(sources[i].seed, nets.latent_dim) for i in lat]).to(device)  # (L, latent_dim)
        idx = torch.tensor(lat, device=device)
        s_lat = nets.mapping_network(z, y[idx])  # (L, style_dim)
        psi = torch.tensor([sources[i].psi for i in lat], device=device).unsqueeze(1)  # (L, 1)
        if bool((psi != 1).any()):
            s_avg = torch.stack([style_average(nets, int(y[i])) for i in lat])  # (L, style_dim)
            s_lat = torch.lerp(s_avg, s_lat, psi)
        s[idx] = s_lat
    if ref:
        x_ref = torch.stack([sources[i].image for i in ref]).to(device)  # (R, C, S, S)
        idx = torch.tensor(ref, device=device)
        s[idx] = nets.style_encoder(x_ref, y[idx])  # (R, style_dim)
    return s


@torch.no_grad()
def translate(nets, x: torch.Tensor, y, style_source) -> torch.Tensor:
    """Translate x (N,C,S,S in [-1,1]) to target domains y; returns the raw generator output (N,C,S,S).

    Args:
        nets: a loaded StarGANv2 (closet.models.stargan_v2.load_checkpoint / load_with_sidecar).
        y: target domain index per image: int, list of ints or (N,) tensor.
        style_source: one Latent/Reference for every row, a list of them (one per row),
            or a precomputed (N, style_dim) tensor of style codes.
    """
    device = next(nets.generator.parameters()).device
    x = x.to(device)
    n = x.shape[0]
    if isinstance(y, int):
        y = [y] * n
    y = torch.as_tensor(y, dtype=torch.long, device=device).reshape(-1)
    if y.numel() != n:
        raise ValueError(f"{n} images but {y.numel()} target domains")
    if bool(((y < 0) | (y >= nets.num_domains)).any()):
        raise ValueError(f"target domain out of range [0, {nets.num_domains})")
    if isinstance(style_source, torch.Tensor):
        s = style_source.to(device)
    else:
        sources = list(style_source) if isinstance(style_source, (list, tuple)) else [style_source] * n
        if len(sources) != n:
            raise ValueError(f"{n} images but {len(sources)} style sources")
        s = style_codes(nets, y, sources)
    return nets.generator(x, s)  # (N, C, S, S)
