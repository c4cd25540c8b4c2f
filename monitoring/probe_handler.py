"""A weightless ClosetHandler that exercises every PipelineMetrics method.

tests/infra/test_metrics_live.py and tools/dashboard_snapshot.py serve it (model name "probe") next to (or, before their
MARs exist, instead of) the real models, so the exported metric names, types and
labels are checked against a real TorchServe without any checkpoint. It decodes the
image through the same gate as the real handlers and answers with its size; the
`fail` option produces a 422 or a 500 on demand.
"""

from __future__ import annotations

import time

from closet.errors import ClosetError, NoGarment
from closet.imageio import decode_image
from closet.serving.handler import ClosetHandler, Reply
from closet.serving.options import Option, choice

STAGES = ("segmentation", "parsing", "translation", "composite")


def _internal() -> ClosetError:
    e = ClosetError("internal error", "the probe was asked to fail")
    e.status, e.reason = 500, "internal"
    return e


class MetricsProbeHandler(ClosetHandler):
    name = "probe"
    options = {
        "target": Option(choice("tshirt", "hoodie"), "tshirt"),
        "mode": Option(choice("swap", "mask"), "swap"),
        "fail": Option(choice("none", "no_garment", "internal"), "none"),
        # Milliseconds each model stage sleeps, so latency panels have something to show.
        "stage_ms": Option(lambda v: min(max(int(v), 0), 500), 2),
    }

    def load(self, model_dir, context):
        pass  # no weights

    def predict(self, batch):
        out = []
        for req in batch:
            try:
                with self.timed("decode"):
                    img = decode_image(req.image, self.config.limits.max_pixels, self.config.limits.max_side)
                self.metrics.input_megapixels(img.width * img.height / 1e6)
                for stage in STAGES:
                    with self.timed(stage):
                        time.sleep(req.options["stage_ms"] / 1000)
                if req.options["fail"] == "no_garment":
                    raise NoGarment("no upper garment found")
                if req.options["fail"] == "internal":
                    raise _internal()
                self.metrics.parser("schp")
                self.metrics.request(req.options["target"], req.options["mode"])
                with self.timed("encode"):
                    out.append(Reply({"width": img.width, "height": img.height}))
            except ClosetError as e:  # per request: the others in the batch still succeed
                out.append(e)
        return out
