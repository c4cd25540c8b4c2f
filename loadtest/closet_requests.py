"""Request builders and response checks shared by the Locust load test and the tests.

Self-contained on purpose (numpy, Pillow, and skimage/matplotlib for the photos; never the
`closet` package): the distributed load test mounts loadtest/ as a ConfigMap into a plain
Locust image, where `closet` is not installed. Tests import it with loadtest/ on sys.path.

Photos come from installed packages only, never the network:
  skimage.data.astronaut() and matplotlib's sample_data/grace_hopper.jpg, re-encoded at
  several sizes and formats (PHOTO_SPECS).

    photos = load_photos()                       # list[Photo]
    call = closet_call(photo, target="dress", mode="latent", seed=3)    # multipart /predictions/<model>
    call = v2_call(photo, target="dress", mode="reference", reference=ref)  # KServe v2 JSON /v2/models/<model>/infer
    problem = check_response(call, status, content_type, body)           # None, or why it failed
"""

from __future__ import annotations

import base64
import io
import json
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

# (source, longest side in pixels, format). The mix keeps one large PNG (the slow path), several
# phone-sized JPEGs and a WebP; every photo shows a person wearing a top (both sources do).
PHOTO_SPECS: tuple[tuple[str, int, str], ...] = (
    ("astronaut", 512, "png"),
    ("astronaut", 384, "jpeg"),
    ("astronaut", 256, "webp"),
    ("grace_hopper", 600, "jpeg"),
    ("grace_hopper", 320, "png"),
    ("grace_hopper", 256, "jpeg"),
)
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MODES = ("latent", "reference")


@dataclass(frozen=True)
class Photo:
    name: str  # e.g. astronaut-384.jpeg
    data: bytes
    size: tuple[int, int]  # (width, height) the server must answer with
    content_type: str


@dataclass
class Call:
    """One HTTP request to make: method POST to `path` with either multipart `files`/`fields` or `json`."""

    path: str
    photo: Photo
    name: str  # Locust stats name (groups requests by kind, not by option values)
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    json: dict | None = None
    v2: bool = False


def source_images() -> dict[str, np.ndarray]:
    """The two package photos as uint8 RGB arrays."""
    import matplotlib.cbook
    import skimage.data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    return {"astronaut": skimage.data.astronaut(), "grace_hopper": hopper}


def encode(arr: np.ndarray, longest: int, fmt: str) -> tuple[bytes, tuple[int, int]]:
    img = Image.fromarray(arr)
    scale = longest / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    img = img.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format=fmt.upper(), **({"quality": 90} if fmt in ("jpeg", "webp") else {}))
    return buf.getvalue(), size


def load_photos(specs=PHOTO_SPECS) -> list[Photo]:
    src = source_images()
    out = []
    for name, longest, fmt in specs:
        data, size = encode(src[name], longest, fmt)
        out.append(Photo(f"{name}-{longest}.{fmt}", data, size, CONTENT_TYPES[fmt]))
    return out


def reference_photo(photos: list[Photo]) -> Photo:
    """The garment reference for reference mode: the smallest photo (any photo of a top works)."""
    return min(photos, key=lambda p: len(p.data))


def parse_weights(spec: str) -> dict[str, float]:
    """'tshirt=3,dress=1,coat' -> {'tshirt': 3.0, 'dress': 1.0, 'coat': 1.0}."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, w = part.partition("=")
        weight = float(w) if w else 1.0
        if weight < 0:
            raise ValueError(f"negative weight in {part!r}")
        out[name.strip().lower()] = weight
    return out


def targets_from_error(body: bytes) -> list[str]:
    """Domains a model advertises in its UnknownTarget 400 body: {"error", "detail": {"targets": [...]}}."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return []
    targets = detail.get("targets") if isinstance(detail, dict) else None
    return [str(t) for t in targets] if isinstance(targets, list) else []


@dataclass
class Mix:
    """The weighted request mix: targets, modes, photos. `draw(rng)` -> (photo, options)."""

    photos: list[Photo]
    targets: dict[str, float]  # empty: leave the target to the server's default
    reference_ratio: float = 0.3
    output_format: str = "png"

    def draw(self, rng: random.Random) -> tuple[Photo, dict[str, str], Photo | None]:
        photo = rng.choice(self.photos)
        opts: dict[str, str] = {"format": self.output_format}
        if self.targets:
            names, weights = zip(*self.targets.items())
            opts["target"] = rng.choices(names, weights)[0]
        ref = None
        if rng.random() < self.reference_ratio:
            opts["mode"] = "reference"
            ref = reference_photo(self.photos)
        else:
            opts["mode"] = "latent"
            opts["seed"] = str(rng.randrange(2**31))
        return photo, opts, ref


def closet_call(photo: Photo, model: str = "closet", reference: Photo | None = None, **options: str) -> Call:
    """Multipart POST /predictions/<model>: field `image`, optional `reference`, options as form fields."""
    files = {"image": (photo.name, photo.data, photo.content_type)}
    if reference is not None:
        files["reference"] = (reference.name, reference.data, reference.content_type)
    name = f"/predictions/{model} [{options.get('mode', 'default')}]"
    return Call(f"/predictions/{model}", photo, name, fields={k: str(v) for k, v in options.items()}, files=files)


def plain_call(photo: Photo, model: str) -> Call:
    """Multipart POST /predictions/<model> with only the image (models without closet's options)."""
    return Call(f"/predictions/{model}", photo, f"/predictions/{model}",
                files={"image": (photo.name, photo.data, photo.content_type)})


def v2_call(photo: Photo, model: str = "closet", reference: Photo | None = None, **options: str) -> Call:
    """KServe v2 (open inference protocol) POST /v2/models/<model>/infer: one BYTES input tensor,
    options (and a base64 reference) as the tensor's parameters (closet/serving/kserve_v2.py)."""
    params: dict[str, str] = {k: str(v) for k, v in options.items() if k != "format"}
    if reference is not None:
        params["reference"] = base64.b64encode(reference.data).decode("ascii")
    body = {"id": f"locust-{random.getrandbits(32):08x}", "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                        "data": [base64.b64encode(photo.data).decode("ascii")], "parameters": params}]}
    name = f"/v2/models/{model}/infer [{options.get('mode', 'default')}]"
    return Call(f"/v2/models/{model}/infer", photo, name, json=body, v2=True)


def multipart_kwargs(call: Call) -> dict:
    """requests-style keyword arguments for `call` (locust's HttpSession takes the same)."""
    if call.json is not None:
        return {"json": call.json}
    return {"files": call.files, "data": call.fields}


def _image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        img.load()  # a truncated body fails here, not just at the header
        return img.size


def check_response(call: Call, status: int, content_type: str, body: bytes) -> str | None:
    """None when the answer is a good one for `call`, else a short reason (a failure in Locust).

    Good: 200, an image content type (v2: JSON), and a body that decodes completely to an
    image of the input photo's size. A 200 with a broken body is a failure.
    """
    if status != 200:
        snippet = body[:200].decode("utf-8", "replace") if body else ""
        return f"HTTP {status}: {snippet}"
    ctype = (content_type or "").split(";")[0].strip().lower()
    try:
        if call.v2:
            if ctype != "application/json":
                return f"v2 answer content type {ctype!r}, expected application/json"
            output = json.loads(body)["outputs"][0]
            out = output["data"][0]
            out_type = str((output.get("parameters") or {}).get("content_type", ""))
            if out_type.startswith("image/"):  # data[0]: base64 of the image itself
                data = base64.b64decode(out, validate=True)
            else:  # data[0]: the JSON answer (as text, or already an object), image in "image"
                if isinstance(out, str):
                    out = json.loads(out)
                data = base64.b64decode(out["image"], validate=True)
        else:
            if not ctype.startswith("image/"):
                return f"content type {ctype!r}, expected image/*"
            data = body
        size = _image_size(data)
    except Exception as e:  # noqa: BLE001 - any decode problem is the failure we report
        return f"undecodable body ({type(e).__name__}: {str(e)[:80]})"
    if size != call.photo.size:
        return f"image is {size[0]}x{size[1]}, input was {call.photo.size[0]}x{call.photo.size[1]}"
    return None
