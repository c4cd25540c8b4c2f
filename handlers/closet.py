"""TorchServe handler for the closet ensemble: photo in, photo with a swapped garment out.

Thin glue over closet.ensemble: options -> ensemble.Request, batch -> Ensemble.run
(each model stage one forward pass), result -> Reply with the X-Closet-Timing and
X-Closet-Parser headers. KServe v2/v1 JSON bodies are decoded and answered per request by
the base handler (closet/serving/kserve_v2.py); their answer is the JSON result.
"""

from __future__ import annotations

from closet.ensemble import FORMATS, MODES, STAGES, Ensemble, Request
from closet.errors import ClosetError
from closet.serving import kserve_v2
from closet.serving.handler import ClosetHandler, Reply
from closet.serving.options import Option, ParsedRequest, boolean, choice, integer

OPTIONS = {
    "target": Option(lambda v: v.strip().lower(), None, "target domain; default: the checkpoint's first"),
    "mode": Option(choice(*MODES), None, "latent (random style from seed) or reference (style of 'reference')"),
    "seed": Option(integer(0, 2**31 - 1), None, "latent style seed; default 0"),
    "preserve_color": Option(boolean, True, "keep the garment's colours (true) or the generator's (false)"),
    "format": Option(choice(*FORMATS), "png", "output image format"),
    "return": Option(choice("image", "json"), "image", "image bytes, or JSON with base64 image and masks"),
}


class ClosetEnsembleHandler(ClosetHandler):
    name = "closet"
    options = OPTIONS
    file_fields = ("reference",)

    def load(self, model_dir, context):
        lim = self.config.limits
        self.ensemble = Ensemble.load(model_dir, self.device, lim.max_pixels, lim.max_side)

    def describe(self):
        return {"model": self.name, "targets": self.ensemble.domains, "img_size": self.ensemble.img_size,
                "parser": self.ensemble.parser_name, "options": sorted(self.options), "files": ["image", "reference"]}

    def predict(self, batch: list[ParsedRequest]) -> list[Reply | ClosetError]:
        timings: dict[str, float] = {}
        reqs = [Request(image=p.image, reference=p.files.get("reference"), target=p.options["target"],
                        mode=p.options["mode"], seed=p.options["seed"], preserve_color=p.options["preserve_color"],
                        format=p.options["format"], want_json=p.options["return"] == "json" or kserve_v2.wants(p))
                for p in batch]
        outs = self.ensemble.run(reqs, timer=lambda stage: self.timed(stage, timings))
        header = ";".join(f"{s}={timings.get(s, 0.0):.4f}" for s in STAGES)
        replies: list[Reply | ClosetError] = []
        for out in outs:
            if isinstance(out, ClosetError):
                replies.append(out)
                continue
            self.metrics.request(out.target, out.mode)
            self.metrics.input_megapixels(out.image.shape[0] * out.image.shape[1] / 1e6)
            self.metrics.parser(out.parser)
            body = out.body
            if isinstance(body, dict):
                body = {**body, "timings": {s: round(timings.get(s, 0.0), 4) for s in STAGES}}
            replies.append(Reply(body, out.content_type, {"X-Closet-Timing": header, "X-Closet-Parser": out.parser}))
        return replies
