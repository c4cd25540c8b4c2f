"""TorchServe handler `parsing`: human-parsing label map of one image per request.

POST /predictions/parsing with the image as the body or the multipart field `image`.
Options (multipart field or header X-Closet-<Name>):
  output   png (default): the label map as a palettised PNG (mode P, VOC palette, pixel = label);
           json: parser, label space, labels present with pixel counts, garment pixels and bbox.
  garments comma list of upper-clothes (default), coat, dress: what the garment mask/bbox covers.
The parser is SCHP when the MAR packs schp.pth (`make mars PARSER_CKPT=... PARSER_DATASET=atr`),
else the torso estimator (closet/torso.py). Every response names it (JSON "parser" field,
header X-Closet-Parser). A batch runs as one forward pass.
"""

from __future__ import annotations

from pathlib import Path

from closet import parsing
from closet.errors import ClosetError
from closet.serving.handler import ClosetHandler, Reply
from closet.serving.options import Option, ParsedRequest, choice

OUTPUTS = ("png", "json")


def garment_list(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    unknown = [n for n in names if n not in parsing.GARMENTS]
    if not names or unknown:
        raise ValueError(f"must be a comma list of {sorted(parsing.GARMENTS)}")
    return names


class ParsingHandler(ClosetHandler):
    name = "parsing"
    options = {
        "output": Option(choice(*OUTPUTS), "png", "png: palettised label map; json: labels, counts, garment bbox"),
        "garments": Option(garment_list, parsing.DEFAULT_GARMENTS, "comma list of upper-clothes, coat, dress"),
    }

    def load(self, model_dir: str, context) -> None:
        settings = self.build_info.get("settings", {})
        ckpt = Path(model_dir) / "schp.pth"
        if ckpt.is_file():
            from closet.models import schp

            self.dataset = settings.get("PARSER_DATASET", "atr")
            self.net = schp.load_checkpoint(ckpt, self.dataset).to(self.device)
            self.torso = None
        else:
            from closet import torso

            self.dataset = torso.LABEL_SPACE
            self.torso = torso.load(Path(model_dir) / "u2net.pth", settings.get("U2NET_ARCH", "u2netp"), self.device)
        self.parser = parsing.parser_name(self.dataset)

    def describe(self) -> dict:
        return {
            "model": self.name, "parser": self.parser, "label_space": self.dataset,
            "labels": list(parsing.LABELS[self.dataset]), "outputs": list(OUTPUTS), "garments": sorted(parsing.GARMENTS),
        }

    def predict(self, batch: list[ParsedRequest]) -> list[Reply | ClosetError]:
        images, out = self.decode_batch(batch)
        with self.timed("parsing"):
            if self.torso is None:
                results = parsing.parse_batch(self.net, list(images.values()), self.dataset, self.device)
            else:
                results = [r if isinstance(r, ClosetError) else r.labels
                           for r in self.torso.estimate_batch(list(images.values()))]
        with self.timed("encode"):
            for i, labels in zip(images, results):
                if isinstance(labels, ClosetError):
                    out[i] = labels
                    continue
                mode = batch[i].options["output"]
                headers = {"X-Closet-Parser": self.parser, "X-Closet-Label-Space": self.dataset}
                if mode == "json":
                    out[i] = Reply(parsing.summary(labels, self.dataset, batch[i].options["garments"]), headers=headers)
                else:
                    out[i] = Reply(parsing.label_png(labels), "image/png", headers)
                self.metrics.parser(self.parser)
                self.metrics.request("none", mode)
        return out
