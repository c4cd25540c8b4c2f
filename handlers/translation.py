"""TorchServe handler `translation`: StarGAN v2 translation of each image (closet.stages.translate).

Options (closet.stages.translate.OPTIONS): `target`, `mode`, `seed`, `psi`, the file `reference`;
plus `describe=true` (JSON with the domains instead of an image; no image needed). Returns a PNG at
the model's img_size. A batch runs as one generator forward pass.
"""

from __future__ import annotations

import numpy as np

from closet.config import TRANSLATION
from closet.errors import BadImage, ClosetError
from closet.imageio import decode_image, encode_image
from closet.serving.handler import ClosetHandler, Reply
from closet.serving.options import Option, boolean, parse_request
from closet.stages.translate import REFERENCE_FIELD, Translator


class TranslationHandler(ClosetHandler):
    name = TRANSLATION
    options = {**Translator.options, "describe": Option(boolean, False, "true: JSON metadata instead of translating")}
    file_fields = (REFERENCE_FIELD,)

    def load(self, model_dir, context):
        self.translator = Translator.load(model_dir, self.device)

    def describe(self):
        return {"model": self.name, **self.translator.describe(), "files": ["image", REFERENCE_FIELD],
                "options": sorted(self.options)}

    def parse(self, row, headers, request_id):
        try:
            return super().parse(row, headers, request_id)
        except BadImage:  # describe needs no image (a JSON body's own error stands)
            if any(isinstance(row.get(k), (dict, list)) for k in ("body", "data")):
                raise
            req = parse_request({**row, "image": b""}, headers, self.options, self.file_fields, request_id=request_id)
            if req.options["describe"]:
                return req
            raise

    def predict(self, batch):
        limits = self.config.limits
        out: list[Reply | ClosetError | None] = [None] * len(batch)
        rows, images, styles = [], [], []
        with self.timed("decode"):
            for i, req in enumerate(batch):
                if req.options["describe"]:
                    out[i] = Reply(self.describe())
                    continue
                try:  # a bad request fails alone; options are checked before any pixel is decoded
                    o = req.options
                    style = self.translator.style(o["target"], o["mode"], o["seed"], o["psi"],
                                                  req.files.get(REFERENCE_FIELD), max_pixels=limits.max_pixels,
                                                  max_side=limits.max_side)
                    image = np.asarray(decode_image(req.image, limits.max_pixels, limits.max_side))
                except ClosetError as e:
                    out[i] = e
                    continue
                self.metrics.input_megapixels(image.shape[0] * image.shape[1] / 1e6)
                rows.append(i), images.append(image), styles.append(style)
        if rows:
            with self.timed("translation"):
                fakes = self.translator(images, styles)  # one generator pass
            with self.timed("encode"):
                for i, style, fake in zip(rows, styles, fakes):
                    out[i] = self._reply(style, fake)
        return out

    def _reply(self, style, fake) -> Reply:
        data, ctype = encode_image(fake, "png")
        headers = {"X-Closet-Target": style.target, "X-Closet-Mode": style.mode}
        if style.seed is not None:
            headers["X-Closet-Seed"] = str(style.seed)
        self.metrics.request(style.target, style.mode)
        return Reply(data, ctype, headers)
