"""The closet ensemble: segment -> parse -> translate -> composite, in one worker.

The stages (closet/stages/) are the same objects the single-model handlers call; here they run on
one device, each as one batched call per batch. Pixels are uint8 RGB numpy arrays (H, W, 3) and
masks numpy arrays from decode to encode; tensors exist only inside a stage's network call.

A request's photo keeps its ICC profile and alpha channel (closet.imageio.Photo): the stages work on
its visible pixels in sRGB, the pixels they change are converted back into the photo's colour space,
every other pixel keeps the photo's own numbers, and the answer carries the profile and the alpha
(`color_profile=srgb` converts the whole photo to sRGB first).

Each request is a `Swap` whose fields the stages fill in order. A request that fails (bad image,
unknown target, no person...) keeps its ClosetError in `error` and leaves the batch; the rest go on.
`Ensemble.run` is what the TorchServe handler and the in-process benchmark call.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from closet import frame, host, upright
from closet.errors import BadOption, ClosetError, NoGarment
from closet.imageio import Photo, b64, decode_photo, encode_image, encode_mask
from closet.serving.options import safe_preview
from closet.stages.composite import Compositor, Plan, default_render
from closet.stages.parse import Parser, Person, select
from closet.stages.segment import Segmenter, is_person
from closet.stages.translate import Style, Translator

FORMATS = ("png", "jpeg", "webp")
# keep: the answer is in the photo's own colour space, tagged with its ICC profile; srgb: converted to sRGB.
COLOR_PROFILES = ("keep", "srgb")
# Formats that carry an alpha channel; a JPEG answer to a transparent photo drops it (X-Closet-Alpha: dropped).
ALPHA_FORMATS = ("png", "webp")
# Stages timed per batch (X-Closet-Timing, closet_stage_seconds); a subset of closet.metrics.STAGES.
STAGES = ("decode", "segmentation", "parsing", "translation", "composite", "encode")


@dataclass
class Request:
    """One ensemble request, options already parsed (decoding is a timed stage)."""

    image: bytes
    target: str | None = None  # None: the checkpoint's first domain
    mode: str | None = None  # None: "reference" when a reference is sent, else "latent"
    reference: bytes | None = None
    seed: int | None = None  # None: 0
    psi: float = 1.0
    preserve_color: bool = True
    render: str | None = None  # None: the translator's default (closet.stages.composite.default_render)
    person: str | int = "largest"  # all, largest, or an index of the people from left to right
    format: str = "png"
    color_profile: str = "keep"
    want_json: bool = False


@dataclass
class Swap:
    """One request on its way through the stages; each field is set by the stage named beside it."""

    request: Request
    photo: Photo | None = None  # decode: the input's pixels, ICC profile and alpha
    image: np.ndarray | None = None  # decode: uint8 sRGB (H, W, 3), EXIF-upright, the photo's visible pixels
    # decode: the box the photo fills inside plain borders (closet.frame), None without any; `image`
    # is then that box, every stage works in it, and encode puts the answer back in `whole`.
    content: tuple[slice, slice] | None = None
    whole: np.ndarray | None = None
    style: Style | None = None  # decode: the validated translation options
    person: np.ndarray | None = None  # segment: uint8 (H, W) probability, 255 = person
    people: list[Person] = field(default_factory=list)  # parse: the people whose garment is swapped
    found: list[Person] = field(default_factory=list)  # parse: everyone the parser found
    plans: list[Plan] = field(default_factory=list)  # composite: per person, how it goes and comes back
    inputs: list[np.ndarray] = field(default_factory=list)  # composite: per person, the translator's input
    translated: list[np.ndarray] = field(default_factory=list)  # translate: per person, uint8 (S, S[, 3])
    result: np.ndarray | None = None  # composite: uint8 RGB (H, W, 3)
    results: list[np.ndarray] = field(default_factory=list)  # composite: per person, bool (H, W), the garment now
    cuts: list[tuple | None] = field(default_factory=list)  # composite: per person, the shape mode's cut, or None
    error: ClosetError | None = None  # whichever stage refused the request
    # parse: quarter turns (closet.upright) that stood the people up; image, person and every field
    # after them lie in the photo so turned, until encode turns the answer back.
    turns: int = 0

    @property
    def garment(self) -> np.ndarray:
        """bool (H, W): the swapped people's garments as they were."""
        return np.logical_or.reduce([p.garment for p in self.people])

    @property
    def result_mask(self) -> np.ndarray:
        """bool (H, W): the swapped people's garments as they are in the output."""
        return np.logical_or.reduce(self.results)


@dataclass
class Output:
    """One successful result."""

    body: bytes | dict
    content_type: str
    target: str
    mode: str
    parser: str
    image: np.ndarray = field(repr=False)  # the result, uint8 RGB (H, W, 3)
    person: np.ndarray = field(repr=False)  # bool (H, W)
    garment: np.ndarray = field(repr=False)  # bool (H, W), the input's garment
    result_mask: np.ndarray = field(repr=False)  # bool (H, W), the garment as it is in the output
    render: str = "appearance"
    # whose garment was swapped, as the stages saw them: in the photo's `content` box turned by `turns`
    people: list[Person] = field(default_factory=list, repr=False)
    results: list[np.ndarray] = field(default_factory=list, repr=False)  # per person, bool (H, W), the garment now
    alpha: str = "none"  # the input's transparency: "none", "kept" in the answer, or "dropped" (JPEG)
    translated: list[np.ndarray] = field(default_factory=list, repr=False)  # per person, the translator's output
    turns: int = 0  # quarter turns the stages worked on the photo at (closet.upright); the rest is as sent
    content: tuple[slice, slice] | None = None  # the box inside plain borders the stages worked in (closet.frame)


Timer = Callable[[str], "object"]  # stage name -> context manager

SIDES = {-1: "right", 1: "left"}  # the person's own


def cut_json(cut: tuple | None) -> dict:
    """A person's shape-mode cut as the JSON answer says it: {"shape": {sleeves per side (0 none, an
    armhole, .. 1 the wrist), hem (torso lengths below the shoulders: 1 the hips), ease (body widths
    a coat stands off the body), kept (the sleeves left as they were: too little of that arm shows
    to draw it bared)}}; {} in appearance mode."""
    if cut is None:
        return {}
    shape, kept = cut
    return {"shape": {"sleeves": {name: round(float(shape.reach[side]), 3) for side, name in SIDES.items()},
                      "hem": round(float(shape.hem), 3), "ease": round(float(shape.ease), 3),
                      "kept": [SIDES[side] for side in sorted(kept)]}}


class Ensemble:
    """The four stages plus the chain. Build with `Ensemble.load`, or from stage objects in tests."""

    def __init__(self, segmenter: Segmenter, parser: Parser, translator: Translator, compositor: Compositor,
                 max_pixels: int, max_side: int):
        self.segmenter = segmenter
        self.parser = parser
        self.translator = translator
        self.compositor = compositor
        self.max_pixels = max_pixels
        self.max_side = max_side

    @classmethod
    def load(cls, model_dir: str | Path, device, max_pixels: int, max_side: int) -> Ensemble:
        return cls(Segmenter.load(model_dir, device), Parser.load(model_dir, device),
                   Translator.load(model_dir, device), Compositor.load(model_dir, device), max_pixels, max_side)

    def describe(self) -> dict:
        return {"targets": self.translator.domains, "img_size": self.translator.img_size, "parser": self.parser.name}

    def run(self, requests: list[Request], timer: Timer | None = None) -> list[Output | ClosetError]:
        """Run a batch; one Output or ClosetError per request, in order."""
        timer = timer or (lambda stage: nullcontext())
        swaps = [Swap(r) for r in requests]
        with timer("decode"):
            for s in swaps:
                _guard(s, self._decode)
        self._batch(swaps, timer, "segmentation", self._segment)
        self._batch(swaps, timer, "parsing", self._parse)
        self._batch(swaps, timer, "translation", self._translate)
        self._batch(swaps, timer, "composite", self._composite)
        with timer("encode"):
            return [s.error if s.error is not None else self._encode(s) for s in swaps]

    @staticmethod
    def _batch(swaps: list[Swap], timer: Timer, stage: str, step: Callable[[list[Swap]], None]) -> None:
        live = [s for s in swaps if s.error is None]
        if live:
            with timer(stage):
                step(live)

    # -- the steps, each on the requests still alive --------------------------------------------
    def _decode(self, s: Swap) -> None:
        req = s.request
        if req.format not in FORMATS:
            raise BadOption(f"unknown format '{safe_preview(req.format)}'", {"formats": list(FORMATS)})
        if req.color_profile not in COLOR_PROFILES:
            raise BadOption(f"unknown color_profile '{safe_preview(req.color_profile)}'",
                            {"color_profiles": list(COLOR_PROFILES)})
        s.style = self.translator.style(req.target, req.mode, req.seed, req.psi, req.reference,
                                        max_pixels=self.max_pixels, max_side=self.max_side)
        s.photo = decode_photo(req.image, self.max_pixels, self.max_side)
        if req.color_profile == "srgb":
            s.photo = s.photo.to_srgb()
        s.image = s.photo.working()
        s.content = frame.content_box(s.image)
        if s.content is not None:
            s.whole, s.image = s.image, np.ascontiguousarray(s.image[s.content])

    def _segment(self, live: list[Swap]) -> None:
        for s, mask in zip(live, self.segmenter([s.image for s in live])):
            s.person = mask

    def _parse(self, live: list[Swap]) -> None:
        for s, parsed in zip(live, self.parser([s.image for s in live], [s.person for s in live])):
            if isinstance(parsed, ClosetError):
                s.error = parsed
            elif not parsed.people:
                s.error = NoGarment("no upper-body garment found",
                                    "send a photo showing the person's torso (shirt, top, dress or coat)")
            else:
                if parsed.turns:  # the stages after the parse work on the photo as it turned it
                    s.turns = parsed.turns
                    s.image, s.person = upright.turn(s.image, s.turns), upright.turn(s.person, s.turns)
                s.found = parsed.people
                _guard(s, lambda s=s: setattr(s, "people", select(s.found, s.request.person)))

    def _translate(self, live: list[Swap]) -> None:
        size = self.translator.img_size
        default = default_render(self.translator.grayscale, self.translator.declared_render)
        for s in live:
            def plan(s=s):
                render = s.request.render or default
                made = [self.compositor.plan(s.image, p, render, s.style.target, size) for p in s.people]
                s.inputs, s.plans = [x for x, _ in made], [pl for _, pl in made]
            _guard(s, plan)
        live = [s for s in live if s.error is None]
        pairs = [(s, x) for s in live for x in s.inputs]
        outs = self.translator([x for _, x in pairs], [s.style for s, _ in pairs]) if pairs else []
        for (s, _), out in zip(pairs, outs):
            s.translated.append(out)

    def _composite(self, live: list[Swap]) -> None:
        host.each(self._composite_one, live)  # side by side on the host's cores

    def _composite_one(self, s: Swap) -> None:
        image, person = s.image, is_person(s.person)
        for p, translated, plan in zip(s.people, s.translated, s.plans):
            image, mask, cut = self.compositor(image, p, translated, plan, person, s.request.preserve_color)
            s.results.append(mask)
            s.cuts.append(cut)
        s.result = image

    def _encode(self, s: Swap) -> Output:
        req, style, parser, photo = s.request, s.style, self.parser.name, s.photo
        back, shape = -s.turns, s.image.shape  # the answer in the photo's own frame
        image, result = upright.turn(s.image, back), upright.turn(s.result, back)
        person, garment = upright.turn(is_person(s.person), back), upright.turn(s.garment, back)
        results = [upright.turn(m, back) for m in s.results]
        if s.content is not None:  # the border comes back as it was sent
            whole = s.whole.shape
            image, result = s.whole, frame.place_image(result, s.content, s.whole)
            person, garment = frame.place_mask(person, s.content, whole), frame.place_mask(garment, s.content, whole)
            results = [frame.place_mask(m, s.content, whole) for m in results]
        result_mask = np.logical_or.reduce(results)
        data, ctype = encode_image(np.ascontiguousarray(photo.merge(result, image)), req.format, icc=photo.icc,
                                   alpha=photo.alpha)
        alpha = "none" if photo.alpha is None else "kept" if req.format in ALPHA_FORMATS else "dropped"
        body: bytes | dict = data
        render = s.plans[0].render
        if req.want_json:
            people = [upright.turn_person(p, back, shape) for p in s.people] if back else s.people
            box = s.plans[0].box
            x0, y0, _, _ = upright.turn_box([box.left, box.top, box.left + box.size - 1, box.top + box.size - 1],
                                            back, shape)
            if s.content is not None:
                people = [frame.place_person(p, s.content, image.shape) for p in people]
                x0, y0 = x0 + s.content[1].start, y0 + s.content[0].start
            body = {
                "image": b64(data), "content_type": ctype,
                "person_mask": b64(encode_mask(person)), "garment_mask": b64(encode_mask(garment)),
                "result_mask": b64(encode_mask(result_mask)), "render": render,
                "people": [{**p.to_json(), "result_mask": b64(encode_mask(m)), **cut_json(cut)}
                           for p, m, cut in zip(people, results, s.cuts)],
                "box": [x0, y0, box.size], "target": style.target, "mode": style.mode, "seed": style.seed,
                "preserve_color": req.preserve_color, "parser": parser,
                "width": int(image.shape[1]), "height": int(image.shape[0]),
            }
            ctype = "application/json"
        return Output(body, ctype, style.target, style.mode, parser, result, person, garment, result_mask,
                      render, s.people, results, alpha, s.translated, s.turns, s.content)


def _guard(s: Swap, step: Callable[[Swap], None]) -> None:
    """Run one request's step; a ClosetError fails that request alone."""
    try:
        step(s)
    except ClosetError as e:
        s.error = e
