"""TorchServe handler `segmentation`: the person mask of each image (closet.stages.segment).

Option `output`: `mask` (default; 8-bit gray PNG, 255 = person) or `rgba` (the person cut out
on a transparent background, PNG). A batch runs as one forward pass.
"""

from __future__ import annotations

import numpy as np

from closet.config import SEGMENTATION
from closet.imageio import encode_image
from closet.serving.handler import ClosetHandler, Reply
from closet.serving.options import Option, choice
from closet.stages.segment import INPUT_SIZE, Segmenter

OUTPUTS = ("mask", "rgba")


class SegmentationHandler(ClosetHandler):
    name = SEGMENTATION
    options = {"output": Option(choice(*OUTPUTS), "mask", "mask: gray PNG; rgba: person on transparent PNG")}

    def load(self, model_dir, context):
        self.segmenter = Segmenter.load(model_dir, self.device)

    def describe(self):
        return {"model": self.name, "arch": self.segmenter.arch, "input_size": INPUT_SIZE, "outputs": list(OUTPUTS)}

    def predict(self, batch):
        images, out = self.decode_batch(batch)
        with self.timed("segmentation"):
            masks = dict(zip(images, self.segmenter(list(images.values()))))
        with self.timed("encode"):
            for i, mask in masks.items():
                mode = batch[i].options["output"]
                pixels = np.dstack([images[i], mask]) if mode == "rgba" else mask
                data, ctype = encode_image(pixels, "png")
                self.metrics.request("none", mode)
                out[i] = Reply(data, ctype, {"X-Closet-Output": mode})
        return out
