"""TorchServe handler `segmentation`: person mask (U^2-Net) of one image per request.

POST /predictions/segmentation with the image as the body or the multipart field `image`.
Option `output` (multipart field or header X-Closet-Output): `mask` (default; 8-bit gray PNG,
255 = person) or `rgba` (the person cut out on a transparent background, PNG).
A batch of N requests runs as one forward pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from closet.errors import ClosetError
from closet.imageio import encode_image
from closet.serving.handler import ClosetHandler, Reply
from closet.serving.options import Option, ParsedRequest, choice

OUTPUTS = ("mask", "rgba")


class SegmentationHandler(ClosetHandler):
    name = "segmentation"
    options = {"output": Option(choice(*OUTPUTS), "mask", "mask: gray PNG; rgba: person on transparent PNG")}

    def load(self, model_dir: str, context) -> None:
        from closet.models.u2net import load_checkpoint, optimize_for_inference

        self.arch = self.build_info.get("settings", {}).get("U2NET_ARCH", "u2netp")
        net = load_checkpoint(Path(model_dir) / "u2net.pth", self.arch)
        self.net = optimize_for_inference(net).to(self.device)  # BN folded into convs: ~30% faster on CPU

    def describe(self) -> dict:
        from closet.segmentation import INPUT_SIZE

        return {"model": self.name, "arch": self.arch, "input_size": INPUT_SIZE, "outputs": list(OUTPUTS)}

    def predict(self, batch: list[ParsedRequest]) -> list[Reply | ClosetError]:
        from closet.segmentation import predict_masks

        images, out = self.decode_batch(batch)
        with self.timed("segmentation"):
            masks = dict(zip(images, predict_masks(self.net, list(images.values()), self.device)))
        with self.timed("encode"):
            for i, mask in masks.items():
                mode = batch[i].options["output"]
                if mode == "rgba":
                    rgba = np.dstack([np.asarray(images[i]), mask])
                    data, ctype = encode_image(Image.fromarray(rgba, "RGBA"), "png")
                else:
                    data, ctype = encode_image(Image.fromarray(mask, "L"), "png")
                self.metrics.request("none", mode)
                out[i] = Reply(data, ctype, {"X-Closet-Output": mode})
        return out
