"""The parse stage: every person in the photo, and which pixels are each one's upper garment.

Two back-ends, chosen by what the archive holds:
  * pose-garment (the default): MediaPipe BlazePose (closet.pose, ported to PyTorch) finds each
    person's 33 keypoints; closet.garment cuts that person's garment out of the person mask
    (torso polygon plus the arms, minus face, hair and face-calibrated skin). Several people
    give several garments.
  * SCHP (closet.models.schp + closet.parsing) when a checkpoint was packed (`make mars PARSER_CKPT=...`):
    one label map, one garment.
`Parser.__call__` runs a batch (each network once) and returns, per image, a `Parsed` (the label
map and the people found) or the ClosetError for that image. `/predictions/parsing` and the
ensemble call the same object.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from closet import config as closet_config
from closet import host, parsing, pose, runtime, upright
from closet.archive import ArchiveFile, Setting, setting
from closet.errors import ClosetError, NoGarment, NoPerson
from closet.garment import GarmentParse
from closet.serving.options import Option
from closet.stages.segment import check_person, is_person

SCHP_CKPT = ArchiveFile("schp.pth", var="PARSER_CKPT", default="", required=False)
POSE_DETECTOR = ArchiveFile(pose.DETECTOR_WEIGHTS, var="POSE_DETECTOR",
                            default=f"model-store/weights/{pose.DETECTOR_WEIGHTS}")
POSE_LANDMARK = ArchiveFile(pose.LANDMARK_WEIGHTS, var="POSE_LANDMARK",
                            default=f"model-store/weights/{pose.LANDMARK_WEIGHTS}")
# The label space of the SCHP checkpoint: atr, lip or pascal (closet.parsing.LABELS).
PARSER_DATASET = Setting("PARSER_DATASET", "atr")
SCHP_ONNX = "schp.onnx"
# Fewer garment pixels than this fraction of the image means there is no garment to swap.
MIN_GARMENT_FRACTION = 0.002
# People the pose parser gives a garment in one photo (the first kept)...
MAX_PEOPLE = len(parsing.POSE_LABELS) - 1
# ...and how many more it looks for, who only hide those where they stand in front: at a card
# table of six a fifth person, a woman seated in front of a standing man, was not looked for, and
# his `coat` was drawn over her face.
MORE_PEOPLE_SEEN = 4
PEOPLE_LOOKED_FOR = MAX_PEOPLE + MORE_PEOPLE_SEEN


def garment_list(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    unknown = [n for n in names if n not in parsing.GARMENTS]
    if not names or unknown:
        raise ValueError(f"must be a comma list of {sorted(parsing.GARMENTS)}")
    return names


def person_choice(value: str) -> str | int:
    """`all`, `largest`, or a 0-based index into the people sorted left to right."""
    v = value.strip().lower()
    if v in ("all", "largest"):
        return v
    if v.isdigit() and len(v) <= 3:
        return int(v)
    raise ValueError("must be all, largest, or a 0-based index of the people from left to right")


OPTIONS = {
    "garments": Option(garment_list, parsing.DEFAULT_GARMENTS, "comma list of upper-clothes, coat, dress"),
    "person": Option(person_choice, "largest",
                     "whose garment: all, largest, or a 0-based index of the people from left to right"),
}


@dataclass
class Person:
    """One person's garment as the parser found it."""

    garment: np.ndarray  # bool (H, W)
    box: list[int]  # [x0, y0, x1, y1], inclusive: the person (pose) or the garment (SCHP)
    score: float = 1.0  # the detector's score (pose), 1 for SCHP
    keypoints: np.ndarray | None = field(default=None, repr=False)  # (33, 4) x, y px, z, visibility (pose)
    geometry: GarmentParse | None = field(default=None, repr=False)  # body, skin and head (pose)

    @property
    def area(self) -> int:
        return (self.box[2] - self.box[0] + 1) * (self.box[3] - self.box[1] + 1)

    def to_json(self) -> dict:
        """The person in a JSON answer: box, detector score, keypoints (x, y px, z, visibility; pose
        parser), and the garment: pixel count, bbox, mask as a base64 8-bit PNG."""
        from closet.imageio import b64, encode_mask

        out = {"box": self.box, "score": round(self.score, 4),
               "garment": {"pixels": int(self.garment.sum()), "bbox": parsing.bbox(self.garment),
                           "mask": b64(encode_mask(self.garment))}}
        if self.keypoints is not None:
            out["keypoints"] = [[round(float(v), 2) for v in k] for k in self.keypoints]
        return out


@dataclass
class Parsed:
    """One image's parse."""

    labels: np.ndarray  # uint8 (H, W) in the parser's label space (pose: 0, then person k = k + 1)
    people: list[Person]  # left to right; empty when no garment covers MIN_GARMENT_FRACTION of the image
    refused: list[NoGarment] = field(default_factory=list)  # people found whose torso is not visible
    # Quarter turns (closet.upright) the image was given before this parse: labels and people lie
    # in the turned image. 0 but for people lying sideways or upside down (pose parser).
    turns: int = 0

    def in_photo(self) -> Parsed:
        """This parse in the photo's own frame."""
        if not self.turns:
            return self
        shape = self.labels.shape
        return Parsed(upright.turn(self.labels, -self.turns),
                      [upright.turn_person(p, -self.turns, shape) for p in self.people], self.refused)


def select(people: list[Person], choice: str | int) -> list[Person]:
    """The people a request asked for (option `person`). Raises BadOption for an index past the end."""
    from closet.errors import BadOption

    if choice == "all":
        return list(people)
    if choice == "largest":
        return [max(people, key=lambda p: p.area)]
    if not 0 <= choice < len(people):
        raise BadOption(f"person {choice} asked for, {len(people)} found",
                        {"people": len(people), "hint": f"use an index from 0 to {len(people) - 1}, all, or largest"})
    return [people[choice]]


class Parser:
    """pose-garment or SCHP behind one batched call."""

    files = (POSE_DETECTOR, POSE_LANDMARK, SCHP_CKPT)
    settings = (PARSER_DATASET,)
    options = OPTIONS

    def __init__(self, label_space: str, schp: torch.nn.Module | None = None, poses: pose.PoseEstimator | None = None,
                 device: torch.device | None = None):
        self.label_space = label_space
        self.schp = schp
        self.poses = poses
        self.device = device or torch.device("cpu")

    @classmethod
    def load(cls, model_dir: str | Path, device: torch.device | str = "cpu") -> Parser:
        ckpt = Path(model_dir) / SCHP_CKPT.name
        if ckpt.is_file():
            from closet.models import schp

            device = torch.device(device)
            choice = closet_config.load(model_dir=model_dir).network("schp")
            name = runtime.resolve("schp", choice, device)
            dataset = setting(model_dir, PARSER_DATASET)
            if name in runtime.EXPORT_RUNTIMES:
                model = runtime.packed_or_exported(model_dir, SCHP_ONNX, lambda: schp_logits(ckpt, dataset),
                                                   schp_input(dataset))
                net = runtime.OnnxNetwork(runtime.export_session(name, model, choice.precision))
            else:
                net = runtime.TorchNetwork(schp.load_checkpoint(ckpt, dataset).to(device).eval(), choice.precision, device)
            return cls(dataset, schp=net, device=device)
        return cls(parsing.POSE_LABEL_SPACE, poses=pose.PoseEstimator.load(model_dir, device), device=torch.device(device))

    @staticmethod
    def export(files: dict[str, Path], settings: dict[str, str]) -> dict[str, bytes]:
        """What `make mars` packs beside the weights: the parser's networks in ONNX."""
        if SCHP_CKPT.name in files:
            dataset = settings.get(PARSER_DATASET.var) or PARSER_DATASET.default
            return {SCHP_ONNX: runtime.export_onnx(schp_logits(files[SCHP_CKPT.name], dataset), schp_input(dataset))}
        return pose.export(*pose.PoseEstimator.networks(files[POSE_DETECTOR.name], files[POSE_LANDMARK.name]))

    @property
    def name(self) -> str:
        """What responses call this parser (X-Closet-Parser): pose-garment or schp-<dataset>."""
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
            persons: their uint8 person masks (closet.stages.segment); required by pose-garment,
                which finds people with its own detector (nobody: NoPerson). For SCHP, an image
                whose mask holds no person is refused (NoPerson).
            garments: per image, the garment names that count (SCHP; default: upper clothes).
        """
        if persons is None and self.needs_person_mask:
            raise ValueError(f"the {self.name} parser needs the person masks")
        if self.poses is not None:
            images, persons = list(images), [is_person(m) for m in persons]
            found = self.poses.detect(images, max_people=PEOPLE_LOOKED_FOR, person_masks=persons)
            # People lying sideways or upside down are parsed on the photo turned upright.
            turns = [upright.turns_to_upright([p.keypoints for p in people]) for people in found]
            again = [i for i, k in enumerate(turns) if k]
            for i in again:
                images[i], persons[i] = upright.turn(images[i], turns[i]), upright.turn(persons[i], turns[i])
            if again:
                for i, people in zip(again, self.poses.detect([images[i] for i in again], max_people=PEOPLE_LOOKED_FOR,
                                                              person_masks=[persons[i] for i in again])):
                    found[i] = people
            # Someone pose reads head down in a photo turned so that its largest torso stands is misread.
            found = [[p for p in people if not upright.head_down(p.keypoints)] for people in found]
            # Each image's garment geometry side by side on the host's cores.
            parsed = host.each(lambda job: _guard(pose_parse, *job), list(zip(images, persons, found)))
            for out, k in zip(parsed, turns):
                if isinstance(out, Parsed):
                    out.turns = k
            return parsed
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
        labels = parsing.parse_batch(self.schp, [images[i] for i in todo], self.label_space, self.device)
        for i, lab in zip(todo, labels):
            out[i] = Parsed(lab, label_map_people(parsing.garment_mask(lab, self.label_space, garments[i])))
        return out  # type: ignore[return-value]


def schp_input(dataset: str) -> tuple[int, int, int]:
    """The export's input shape, batch left out: RGB at the official square size of `dataset`."""
    size = parsing.INPUT_SIZE[dataset]
    return 3, size, size


def schp_logits(ckpt: Path, dataset: str) -> torch.nn.Module:
    """The checkpoint's SCHP as its export runs it: the fusion logits alone."""
    from closet.models import schp

    return schp.FusionLogits(schp.load_checkpoint(ckpt, dataset))


def _guard(step, *args):
    """step(*args), or the ClosetError it raised."""
    try:
        return step(*args)
    except ClosetError as e:
        return e


def pose_parse(image: np.ndarray, person_mask: np.ndarray, found: list[pose.PosePerson]) -> Parsed:
    """The pose-garment parse of one image: a garment per person whose torso shows, for the first
    MAX_PEOPLE kept (`PosePerson.rank`); the others only hide them where they stand in front."""
    from closet.garment import (
        bodies_of,
        garment_mask,
        head_of,
        nearer_torsos,
        people_in_front,
        skin_from_face,
        their_bare_arms,
    )

    if not found:
        raise NoPerson("no person found in the image",
                       {"parser": parsing.parser_name(parsing.POSE_LABEL_SPACE),
                        "hint": "send a photo in which a person is visible, upper body included"})
    people, refused = [], []
    labels = np.zeros(image.shape[:2], np.uint8)
    fronts = people_in_front([p.keypoints for p in found], image.shape)
    bodies = bodies_of([p.keypoints for p in found], image.shape)
    silhouettes: dict[tuple, np.ndarray] = {}

    @functools.cache
    def skin(k: int):
        return None if bodies[k] is None else skin_from_face(image, bodies[k])

    def silhouette(k: int, shape: tuple[int, ...], f: float) -> np.ndarray:
        # Each person's once per size: every other person's parse reads it too.
        key = (k, shape[:2], f)
        if key not in silhouettes:
            silhouettes[key] = found[k].silhouette(shape, f)
        return silhouettes[key]

    def head(k: int, shape: tuple[int, ...], f: float) -> np.ndarray:
        keypoints = found[k].keypoints.copy()
        keypoints[:, :2] *= f  # as Body.scaled
        return head_of(keypoints, shape)

    for i, (p, front) in enumerate(zip(found, fronts)):
        if p.rank >= MAX_PEOPLE:
            continue
        beside = [k for k in range(len(found)) if k != i and k not in front]

        def in_front(shape, f, i=i, front=front, beside=beside):
            # Those in front hide this person wherever they are; those beside or behind, where this
            # person's own silhouette is not (two people side by side: Grace Hopper's sleeve, grown
            # along an arm pose ran on into the astronaut, was drawn across the astronaut's forearm).
            out = np.zeros(shape[:2], bool)
            for k in front:
                out |= silhouette(k, shape, f)
            # Another's head is nobody's garment: in a row of children a girl's arm, which pose ran
            # behind the boy in front of her, took his face's shadows, and `dress` painted skin on it.
            # Where their own silhouette is: the head ellipse is grown for hair, and a seated woman's
            # reached up over the chest of the man standing behind her.
            for k in range(len(found)):
                if k != i:
                    out |= head(k, shape, f) & silhouette(k, shape, f)
            if beside:
                others = np.logical_or.reduce([silhouette(k, shape, f) for k in beside])
                out |= others & ~silhouette(i, shape, f)
                out |= nearer_torsos(bodies[i], [bodies[k] for k in beside], shape, f)
                for k in beside:  # a neighbour's bare arm lying on this person is theirs
                    out |= their_bare_arms(image, bodies[k], skin(k), shape, f)
            return out

        try:
            geometry = garment_mask(image, person_mask, p.keypoints, functools.partial(silhouette, i),
                                    in_front if front or beside else None)
        except NoGarment as e:
            refused.append(e)
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in p.box)
        people.append(Person(geometry.mask, [x0, y0, x1, y1], float(p.score), p.keypoints, geometry))
        labels[geometry.mask & (labels == 0)] = len(people)
    if not people:
        raise refused[0]
    return Parsed(labels, people, refused)


def label_map_people(garment: np.ndarray) -> list[Person]:
    """The people of a label-map parser (SCHP): one, when its garment mask is large enough."""
    if garment.mean() < MIN_GARMENT_FRACTION:
        return []
    return [Person(garment, parsing.bbox(garment))]
