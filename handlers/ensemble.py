"""TorchServe handler `closet`: photo in, photo with a swapped garment out (closet.ensemble).

Options come from the stages (translate: target, mode, seed, psi, the file `reference`; composite:
preserve_color) plus `format`, `color_profile` and `return`. Replies carry X-Closet-Timing,
X-Closet-Parser and X-Closet-Alpha (none, kept, or dropped by a JPEG answer).
KServe v2/v1 JSON bodies are decoded and answered per request by the base handler.
"""

from __future__ import annotations

from closet.config import ENSEMBLE
from closet.ensemble import COLOR_PROFILES, FORMATS, STAGES, Ensemble, Request
from closet.errors import ClosetError
from closet.serving import kserve_v2
from closet.serving.handler import ClosetHandler, Reply
from closet.serving.options import Option, choice
from closet.stages.composite import Compositor
from closet.stages.parse import Parser
from closet.stages.translate import REFERENCE_FIELD, Translator


class EnsembleHandler(ClosetHandler):
    name = ENSEMBLE
    options = {
        **Translator.options,
        **Compositor.options,
        "person": Parser.options["person"],
        "format": Option(choice(*FORMATS), "png", "output image format"),
        "color_profile": Option(choice(*COLOR_PROFILES), "keep",
                                "keep: the photo's own ICC profile and colours; srgb: converted to sRGB"),
        "return": Option(choice("image", "json"), "image", "image bytes, or JSON with base64 image and masks"),
    }
    file_fields = (REFERENCE_FIELD,)
    too_large_hint = "ask for format=jpeg (or webp) with return=image, or send a smaller image"

    def load(self, model_dir, context):
        limits = self.config.limits
        self.ensemble = Ensemble.load(model_dir, self.device, limits.max_pixels, limits.max_side)

    def describe(self):
        return {"model": self.name, **self.ensemble.describe(), "options": sorted(self.options),
                "files": ["image", REFERENCE_FIELD]}

    def predict(self, batch):
        timings: dict[str, float] = {}
        reqs = [Request(image=p.image, reference=p.files.get(REFERENCE_FIELD), target=p.options["target"],
                        mode=p.options["mode"], seed=p.options["seed"], psi=p.options["psi"],
                        preserve_color=p.options["preserve_color"], render=p.options["render"],
                        person=p.options["person"], format=p.options["format"],
                        color_profile=p.options["color_profile"],
                        want_json=p.options["return"] == "json" or kserve_v2.wants(p))
                for p in batch]
        outs = self.ensemble.run(reqs, timer=lambda stage: self.timed(stage, timings))
        header = ";".join(f"{s}={timings.get(s, 0.0):.4f}" for s in STAGES)
        return [out if isinstance(out, ClosetError) else self._reply(out, timings, header) for out in outs]

    def _reply(self, out, timings, header) -> Reply:
        self.metrics.request(out.target, out.mode)
        self.metrics.input_megapixels(out.image.shape[0] * out.image.shape[1] / 1e6)
        self.metrics.parser(out.parser)
        body = out.body
        if isinstance(body, dict):
            body = {**body, "timings": {s: round(timings.get(s, 0.0), 4) for s in STAGES}}
        return Reply(body, out.content_type,
                     {"X-Closet-Timing": header, "X-Closet-Parser": out.parser, "X-Closet-Alpha": out.alpha})
