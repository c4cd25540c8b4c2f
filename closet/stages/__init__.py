"""The pipeline's steps, one module each: segment, parse, translate, composite.

Each stage class owns its archive files (`files`), build settings (`settings`), request options
(`options`), `load(model_dir, device)` and one batched call. A served model is a list of stages:
STAGES_OF_MODEL is the one table the archive builder packs from.
"""

from __future__ import annotations

from closet.stages.composite import Compositor
from closet.stages.parse import Parser
from closet.stages.segment import Segmenter
from closet.stages.translate import Translator

STAGES_OF_MODEL = {
    "segmentation": (Segmenter,),
    "parsing": (Segmenter, Parser),
    "translation": (Translator,),
    "closet": (Segmenter, Parser, Translator, Compositor),
}
