"""The parse stage: which pixels are each person's upper garment.

Two parsers, chosen by what the archive holds:
  * SCHP (closet.models.schp + closet.parsing) when a checkpoint was packed (`make mars PARSER_CKPT=...`);
  * the torso estimator (closet.torso), the default without parsing weights; it needs the person mask.
`Parser.__call__` runs a batch (SCHP: one forward pass) and returns, per image, a `Parsed` (the label
map and the people found) or the ClosetError for that image. `/predictions/parsing` and the ensemble
call the same object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from closet import parsing
from closet.archive import ArchiveFile, Setting, setting
from closet.errors import ClosetError
from closet.serving.options import Option
from closet.stages.segment import check_person, is_person

SCHP_CKPT = ArchiveFile("schp.pth", var="PARSER_CKPT", default="", required=False)
# The label space of the SCHP checkpoint: atr, lip or pascal (closet.parsing.LABELS).
PARSER_DATASET = Setting("PARSER_DATASET", "atr")
# Fewer garment pixels than this fraction of the image means there is no garment to swap.
MIN_GARMENT_FRACTION = 0.002


def garment_list(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    unknown = [n for n in names if n not in parsing.GARMENTS]
    if not names or unknown:
        raise ValueError(f"must be a comma list of {sorted(parsing.GARMENTS)}")
    return names


OPTIONS = {
    "garments": Option(garment_list, parsing.DEFAULT_GARMENTS, "comma list of upper-clothes, coat, dress"),
}


@dataclass
class Person:
    """One person's garment as the parser found it."""

    garment: np.ndarray  # bool (H, W)
    box: list[int]  # [x0, y0, x1, y1] of the garment, inclusive


@dataclass
class Parsed:
    """One image's parse."""

    labels: np.ndarray  # uint8 (H, W) in the parser's label space
    people: list[Person]  # empty when no garment covers MIN_GARMENT_FRACTION of the image


class Parser:
    """SCHP or the torso estimator behind one batched call."""

    files = (SCHP_CKPT,)
    settings = (PARSER_DATASET,)
    options = OPTIONS

    def __init__(self, label_space: str, schp: torch.nn.Module | None = None, device: torch.device | None = None):
        self.label_space = label_space
        self.schp = schp
        self.device = device or torch.device("cpu")

    @classmethod
    def load(cls, model_dir: str | Path, device: torch.device | str = "cpu") -> Parser:
        ckpt = Path(model_dir) / SCHP_CKPT.name
        if ckpt.is_file():
            from closet.models import schp

            dataset = setting(model_dir, PARSER_DATASET)
            return cls(dataset, schp.load_checkpoint(ckpt, dataset).to(device).eval(), torch.device(device))
        from closet import torso

        return cls(torso.LABEL_SPACE, None, torch.device(device))

    @property
    def name(self) -> str:
        """What responses call this parser (X-Closet-Parser): torso-estimate or schp-<dataset>."""
        return parsing.parser_name(self.label_space)

    @property
    def needs_person_mask(self) -> bool:
        return self.schp is None

    def describe(self) -> dict:
        return {"parser": self.name, "label_space": self.label_space, "labels": list(parsing.LABELS[self.label_space]),
                "garments": sorted(parsing.GARMENTS)}

    def __call__(self, images: Sequence[np.ndarray], persons: Sequence[np.ndarray] | None = None,
                 garments: Sequence[tuple[str, ...]] | None = None) -> list[Parsed | ClosetError]:
        """Parse uint8 RGB images.

        Args:
            images: uint8 (H, W, 3) each.
            persons: their uint8 person masks (closet.stages.segment); required by the torso estimator.
                When given, an image without a person is refused (NoPerson).
            garments: per image, the garment names that count (default: upper clothes).
        """
        if persons is None and self.needs_person_mask:
            raise ValueError("the torso estimator needs the person masks")
        garments = garments or [parsing.DEFAULT_GARMENTS] * len(images)
        out: list[Parsed | ClosetError | None] = [None] * len(images)
        todo = []
        for i in range(len(images)):
            try:
                if persons is not None:
                    check_person(is_person(persons[i]))
                todo.append(i)
            except ClosetError as e:
                out[i] = e
        if self.schp is not None:
            labels = dict(zip(todo, parsing.parse_batch(self.schp, [images[i] for i in todo], self.label_space,
                                                        self.device)))
        else:
            from closet import torso

            labels = {}
            for i in todo:
                try:
                    labels[i] = torso.estimate(images[i], persons[i]).labels
                except ClosetError as e:
                    out[i] = e
        for i, lab in labels.items():
            out[i] = Parsed(lab, people(parsing.garment_mask(lab, self.label_space, garments[i])))
        return out  # type: ignore[return-value]


def people(garment: np.ndarray) -> list[Person]:
    """The people of a label-map parser: one, when its garment mask is large enough."""
    if garment.mean() < MIN_GARMENT_FRACTION:
        return []
    return [Person(garment, parsing.bbox(garment))]
