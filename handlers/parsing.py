"""TorchServe handler `parsing`: each person's upper garment (closet.stages.parse).

Options: `output` png (default; palettised label map, VOC palette, pixel = label: with the default
pose-garment parser 0 is background and k the garment of the k-th person from the left) or json
(parser, label space, labels with pixel counts, the garments' pixels and bbox, and per person the
box, detector score, 33 keypoints and garment mask); `garments` (SCHP: comma list of
upper-clothes, coat, dress). Every response names the parser (X-Closet-Parser).
"""

from __future__ import annotations

from closet import parsing
from closet.config import PARSING
from closet.errors import ClosetError
from closet.serving.handler import ClosetHandler, Reply
from closet.serving.options import Option, choice
from closet.stages.parse import Parsed, Parser
from closet.stages.segment import Segmenter

OUTPUTS = ("png", "json")


class ParsingHandler(ClosetHandler):
    name = PARSING
    options = {
        "output": Option(choice(*OUTPUTS), "png", "png: palettised label map; json: labels, counts, garment bbox"),
        "garments": Parser.options["garments"],
    }

    def load(self, model_dir, context):
        self.parser = Parser.load(model_dir, self.device)
        self.segmenter = Segmenter.load(model_dir, self.device) if self.parser.needs_person_mask else None

    def describe(self):
        return {"model": self.name, **self.parser.describe(), "outputs": list(OUTPUTS)}

    def predict(self, batch):
        images, out = self.decode_batch(batch)
        rows = list(images)
        with self.timed("parsing"):
            persons = self.segmenter([images[i] for i in rows]) if self.segmenter else None
            results = self.parser([images[i] for i in rows], persons, [batch[i].options["garments"] for i in rows])
        headers = {"X-Closet-Parser": self.parser.name, "X-Closet-Label-Space": self.parser.label_space}
        with self.timed("encode"):
            for i, parsed in zip(rows, results):
                out[i] = parsed if isinstance(parsed, ClosetError) else self._reply(batch[i].options, parsed, headers)
        return out

    def _reply(self, options, parsed: Parsed, headers) -> Reply:
        self.metrics.parser(self.parser.name)
        self.metrics.request("none", options["output"])
        parsed = parsed.in_photo()
        if options["output"] == "json":
            body = parsing.summary(parsed.labels, self.parser.label_space, options["garments"])
            return Reply({**body, "people": [p.to_json() for p in parsed.people]}, headers=headers)
        return Reply(parsing.label_png(parsed.labels), "image/png", headers)
