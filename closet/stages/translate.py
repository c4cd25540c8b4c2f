"""The translate stage: StarGAN v2 garment translation (pure functions, then the stage object).

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
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from closet import config as closet_config
from closet import runtime
from closet.archive import ArchiveFile
from closet.serving.options import Option, choice, integer

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
MAX_SEED = 2**31 - 1


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
        cache[domain] = nets.mapping_network(z.to(device), y).mean(dim=0).float()  # (style_dim,)
    return cache[domain]


def run_network(nets, exports: dict | None, name: str, *inputs: torch.Tensor) -> torch.Tensor:
    """nets.<name>(*inputs), or, when an export runtime runs that network, its export's output."""
    if exports and name in exports:
        return exports[name](*inputs)[0]
    return getattr(nets, name)(*inputs)


@torch.no_grad()
def style_codes(nets, y: torch.Tensor, sources: list[Latent | Reference], exports: dict | None = None) -> torch.Tensor:
    """(N, style_dim) style codes; latent rows share one mapping pass, reference rows one encoder pass
    (`exports`: the networks an export runtime runs, by name)."""
    device = y.device
    # float32 whatever the networks ran in: under fp16/bf16 autocast their outputs are half width.
    s = torch.empty(len(sources), nets.style_dim, device=device)
    lat = [i for i, src in enumerate(sources) if isinstance(src, Latent)]
    ref = [i for i, src in enumerate(sources) if isinstance(src, Reference)]
    if len(lat) + len(ref) != len(sources):
        raise TypeError("each style source must be a Latent or a Reference")
    if lat:
        z = torch.stack([latent_code(sources[i].seed, nets.latent_dim) for i in lat]).to(device)  # (L, latent_dim)
        idx = torch.tensor(lat, device=device)
        s_lat = nets.mapping_network(z, y[idx]).float()  # (L, style_dim)
        psi = torch.tensor([sources[i].psi for i in lat], device=device).unsqueeze(1)  # (L, 1)
        if bool((psi != 1).any()):
            s_avg = torch.stack([style_average(nets, int(y[i])) for i in lat])  # (L, style_dim)
            s_lat = torch.lerp(s_avg, s_lat, psi)
        s[idx] = s_lat
    if ref:
        x_ref = torch.stack([sources[i].image for i in ref]).to(device)  # (R, C, S, S)
        idx = torch.tensor(ref, device=device)
        s[idx] = run_network(nets, exports, "style_encoder", x_ref, y[idx]).float()  # (R, style_dim)
    return s


@torch.no_grad()
def translate(nets, x: torch.Tensor, y, style_source, exports: dict | None = None) -> torch.Tensor:
    """Translate x (N,C,S,S in [-1,1]) to target domains y; returns the raw generator output (N,C,S,S).

    Args:
        nets: a loaded StarGANv2 (closet.models.stargan_v2.load_checkpoint / load_with_sidecar).
        y: target domain index per image: int, list of ints or (N,) tensor.
        style_source: one Latent/Reference for every row, a list of them (one per row),
            or a precomputed (N, style_dim) tensor of style codes.
        exports: {"generator" / "style_encoder": its export in an export runtime (closet.runtime)},
            run instead of those of nets; the mapping network (an MLP) stays nets'.
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
        s = style_codes(nets, y, sources, exports)
    return run_network(nets, exports, "generator", x, s)  # (N, C, S, S)


def letterbox(img: np.ndarray, size: int) -> np.ndarray:
    """A reference garment photo -> size x size uint8 RGB, aspect kept, centred on black.

    Fashion-MNIST-style product shots are centred on black with their aspect kept; squashing a
    tall dress photo to a square would hand the style encoder another garment.
    """
    pil = Image.fromarray(img)
    pil.thumbnail((size, size), Image.Resampling.BOX)
    canvas = Image.new("RGB", (size, size))
    canvas.paste(pil.convert("RGB"), ((size - pil.width) // 2, (size - pil.height) // 2))
    return np.asarray(canvas)


# -- the stage ----------------------------------------------------------------------------------
STARGAN_CKPT = ArchiveFile("stargan.ckpt", var="STARGAN_CKPT", default="assets/stargan-fmnist/nets_ema.ckpt")
STARGAN_META = ArchiveFile("stargan-meta.json", var="STARGAN_META", default="assets/stargan-fmnist/meta.json")
# The networks make mars exports: file, input names, and the example inputs (a shape without the
# batch dimension, or an index tensor) for a loaded StarGANv2.
EXPORTS = {
    "generator": ("stargan_generator.onnx", ("x", "s"), lambda nets: (image_shape(nets), (int(nets.style_dim),))),
    "style_encoder": ("stargan_style_encoder.onnx", ("x", "y"),
                      lambda nets: (image_shape(nets), torch.zeros(1, dtype=torch.long))),
}


def image_shape(nets) -> tuple[int, int, int]:
    size = int(nets.img_size)
    return int(getattr(nets, "img_channels", 3)), size, size


def _psi(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise ValueError("must be a number in (0, 1]") from None
    if not 0 < v <= 1:
        raise ValueError("must be a number in (0, 1]")
    return v


# The request options this stage reads, for /predictions/translation and /predictions/closet alike.
OPTIONS = {
    "target": Option(lambda v: v.strip().lower(), None, "target domain (describe lists them); default: the first"),
    "mode": Option(choice(*MODES), None,
                   "latent: style from a seeded z; reference: style of 'reference' (default when one is sent)"),
    "seed": Option(integer(0, MAX_SEED), None, "latent style seed; default 0 (same seed -> same bytes)"),
    "psi": Option(_psi, 1.0, "latent truncation towards the domain's mean style, (0, 1]"),
}
REFERENCE_FIELD = "reference"


@dataclass(frozen=True)
class Style:
    """One request's validated translation: where to, and the style source."""

    target: str
    source: Latent | Reference

    @property
    def mode(self) -> str:
        return "latent" if isinstance(self.source, Latent) else "reference"

    @property
    def seed(self) -> int | None:
        return self.source.seed if isinstance(self.source, Latent) else None


class Translator:
    """A StarGAN v2 checkpoint with its sidecar: option checks, reference prep, one batched translation."""

    files = (STARGAN_CKPT, STARGAN_META)
    settings = ()
    options = OPTIONS

    def __init__(self, nets, precision: str = "fp32", exports: dict[str, runtime.OnnxNetwork] | None = None):
        self.nets = nets
        self.precision = precision
        self.exports = exports or {}  # network name -> its export, when an export runtime runs them

    @classmethod
    def load(cls, model_dir: str | Path, device: torch.device | str = "cpu",
             choice: closet_config.NetworkRuntime | None = None) -> Translator:
        """From an archive folder; `choice` defaults to config/closet.yaml's networks.stargan."""
        from closet.models.stargan_v2 import load_with_sidecar

        choice = choice or closet_config.load(model_dir=model_dir).network("stargan")
        name = runtime.resolve("stargan", choice, device)
        root = Path(model_dir)
        nets = load_with_sidecar(str(root / STARGAN_CKPT.name), str(root / STARGAN_META.name)).to(device).eval()
        exports = {}
        if name in runtime.EXPORT_RUNTIMES:
            for net, (filename, names, examples) in EXPORTS.items():
                model = runtime.packed_or_exported(root, filename, getattr(nets, net), *examples(nets), names=names)
                exports[net] = runtime.OnnxNetwork(runtime.export_session(name, model, choice.precision), names)
        return cls(nets, choice.precision, exports)

    @staticmethod
    def export(files: dict[str, Path], settings: dict[str, str]) -> dict[str, bytes]:
        """What `make mars` packs beside the checkpoint: the generator and the style encoder in ONNX."""
        from closet.models.stargan_v2 import load_with_sidecar

        nets = load_with_sidecar(str(files[STARGAN_CKPT.name]), str(files[STARGAN_META.name]))
        return {filename: runtime.export_onnx(getattr(nets, net), *examples(nets), names=names)
                for net, (filename, names, examples) in EXPORTS.items()}

    @property
    def domains(self) -> list[str]:
        return list(self.nets.domains)

    @property
    def img_size(self) -> int:
        return int(self.nets.img_size)

    @property
    def grayscale(self) -> bool:
        return is_grayscale(self.nets)

    @property
    def declared_render(self) -> str | None:
        """The render mode the sidecar asks for (`render`: shape | appearance), if any."""
        return getattr(self.nets, "meta", {}).get("render")

    def describe(self) -> dict:
        meta = getattr(self.nets, "meta", {})
        return {"domains": self.domains, "img_size": self.img_size, "modes": list(MODES),
                "grayscale": self.grayscale, "trained_steps": meta.get("steps"), "data_source": meta.get("data_source")}

    def style(self, target: str | None = None, mode: str | None = None, seed: int | None = None, psi: float = 1.0,
              reference: bytes | None = None, *, max_pixels: int, max_side: int) -> Style:
        """Validate one request's options (OPTIONS, parsed) against this checkpoint, then decode its reference.

        Options are checked before any pixel is decoded, so a conflict is reported as such. Raises
        UnknownTarget, BadOption, or BadImage / TooLarge for the reference image.
        """
        from closet.errors import BadOption, UnknownTarget
        from closet.imageio import decode_image
        from closet.serving.options import safe_preview

        target = self.domains[0] if target is None else target
        if target not in self.domains:
            raise UnknownTarget(f"unknown target '{safe_preview(target)}'", {"allowed": self.domains})
        if resolve_mode(mode, bool(reference)) == "reference":
            if seed is not None or psi != 1.0:
                raise BadOption("'seed' and 'psi' apply to mode=latent only",
                                "drop seed and psi, or use mode=latent without a reference")
            ref = np.asarray(decode_image(reference, max_pixels, max_side))
            return Style(target, Reference(prepare(self.nets, Image.fromarray(letterbox(ref, self.img_size)))))
        return Style(target, Latent(0 if seed is None else int(seed), float(psi)))

    def __call__(self, images: list[np.ndarray], styles: list[Style]) -> list[np.ndarray]:
        """Translate uint8 RGB garment images: ONE generator pass. Returns uint8 (S, S) gray or (S, S, 3) RGB."""
        x = torch.stack([prepare(self.nets, Image.fromarray(im)) for im in images])  # (N, C, S, S)
        y = [self.domains.index(s.target) for s in styles]
        with torch.inference_mode(), runtime.autocast(self.precision, self.nets.device):
            out = translate(self.nets, x, y, [s.source for s in styles], self.exports).float()  # (N, C, S, S)
        return list(postprocess(out, grayscale=self.grayscale))
