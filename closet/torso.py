"""The default upper-garment estimator, used when no SCHP checkpoint is configured.

This is a geometric estimate, not a learned parser. Given an RGB photo:
  1. person mask: U^2-Net (closet.stages.segment.predict_masks) thresholded at 50%;
  2. face: OpenCV's bundled Haar frontal-face cascade (cv2.data.haarcascades); the
     face with the most cascade hits whose centre lies on the person wins;
  3. garment region: the rows from just below the face box (neck gap 0.1 face
     heights) down to TORSO_DEPTH face heights below it, within SIDE_REACH face
     widths of the face centre, inside the person mask;
  4. minus skin: pixels whose YCrCb chroma is both in the generic skin range and
     close to the face's own chroma (neck, hands, arms);
  5. clean-up: a small morphological opening and dropping specks below 1% of the region.
The result is a label map in the "torso" label space (closet.parsing.TORSO_LABELS):
ATR indices 0 Background, 4 Upper-clothes, 11 Face, plus 18 Person-other for the
rest of the person, so the garment mask code is the same as for SCHP.

It fails loudly: no person -> NoPerson (422); no face -> NoPerson (422) saying
no face was detected; nothing left after the skin test -> NoGarment (422).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from closet.errors import NoGarment, NoPerson
from closet.parsing import TORSO_LABELS
from closet.stages.segment import MIN_PERSON_FRACTION, is_person

log = logging.getLogger(__name__)

PARSER_NAME = "torso-estimate"
LABEL_SPACE = "torso"
BACKGROUND = TORSO_LABELS.index("Background")
UPPER_CLOTHES = TORSO_LABELS.index("Upper-clothes")
FACE = TORSO_LABELS.index("Face")
PERSON_OTHER = TORSO_LABELS.index("Person-other")

CASCADE_FILE = "haarcascade_frontalface_default.xml"
DETECT_MAX_SIDE = 640  # longest side the face search runs at (speed; fewer false hits on big photos)
# Geometry, in face-box units (a Haar box spans roughly brows to chin).
NECK_GAP = 0.1  # face heights between the box bottom and the garment's top row
TORSO_DEPTH = 3.0  # face heights from the box bottom to the garment's bottom row
SIDE_REACH = 2.25  # face widths either side of the face centre (shoulders and sleeves)
# Generic skin chroma (Chai & Ngan 1999) and the allowed distance from the face's own chroma.
SKIN_CR = (133, 173)
SKIN_CB = (77, 127)
SKIN_CHROMA_DIST = 12.0


@dataclass(frozen=True)
class Face:
    x: int
    y: int
    w: int
    h: int
    neighbours: int = 0  # the cascade's overlapping hits merged into this box

    @property
    def box(self) -> list[int]:
        """[x0, y0, x1, y1], inclusive."""
        return [self.x, self.y, self.x + self.w - 1, self.y + self.h - 1]


@dataclass
class TorsoResult:
    labels: np.ndarray  # (H, W) uint8 in TORSO_LABELS
    face: Face
    person: np.ndarray  # (H, W) bool
    region: list[int]  # [x0, y0, x1, y1] of the search region, inclusive


_cascade: cv2.CascadeClassifier | None = None


def face_cascade() -> cv2.CascadeClassifier:
    """OpenCV's bundled frontal-face Haar cascade (loaded once per process)."""
    global _cascade
    if _cascade is None:
        path = cv2.data.haarcascades + CASCADE_FILE
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade {path}")
        _cascade = cascade
    return _cascade


def detect_faces(rgb: np.ndarray) -> list[Face]:
    """Frontal faces in image pixels, best first. Faces under 1/20 of the (searched) short side are ignored."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # Big photos are searched at DETECT_MAX_SIDE: the cascade's cost grows with the pixel count.
    scale = min(1.0, DETECT_MAX_SIDE / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    min_side = max(24, min(gray.shape) // 20)
    found, neighbours = face_cascade().detectMultiScale2(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    faces = [
        Face(int(round(x / scale)), int(round(y / scale)), int(round(w / scale)), int(round(h / scale)), int(n))
        for (x, y, w, h), n in zip(found if len(found) else [], neighbours if len(found) else [])
    ]
    # Real faces gather many overlapping hits (about 20-45 on the test photos); collars,
    # helmets and patches that pass the cascade gather few (about 6), so hits rank first.
    return sorted(faces, key=lambda f: (f.neighbours, f.w * f.h), reverse=True)


def skin_mask(rgb: np.ndarray, face: Face) -> np.ndarray:
    """Boolean mask of skin-coloured pixels, calibrated on the face's central patch."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    cr, cb = ycrcb[:, :, 1], ycrcb[:, :, 2]
    generic = (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])
    # Cheeks/nose: the box's middle half horizontally, 40-80% down (below glasses and brows).
    patch = ycrcb[face.y + int(0.4 * face.h): face.y + int(0.8 * face.h), face.x + face.w // 4: face.x + 3 * face.w // 4]
    face_cr, face_cb = np.median(patch[:, :, 1]), np.median(patch[:, :, 2])
    near = np.hypot(cr - face_cr, cb - face_cb) <= SKIN_CHROMA_DIST
    return generic & near


def _face_ellipse(shape: tuple[int, int], face: Face) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    centre = (face.x + face.w // 2, face.y + face.h // 2)
    axes = (max(1, int(0.45 * face.w)), max(1, int(0.6 * face.h)))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, thickness=-1)
    return mask.astype(bool)


def estimate(rgb: np.ndarray, person_mask: np.ndarray) -> TorsoResult:
    """Label map of one RGB uint8 (H, W, 3) image given its U^2-Net mask (uint8 or bool, H x W).

    Raises:
        NoPerson: the person mask is (nearly) empty, or no frontal face was detected.
        NoGarment: a face was found but no garment pixels remained.
    """
    h, w = rgb.shape[:2]
    person = person_mask if person_mask.dtype == bool else is_person(person_mask)
    if person.mean() < MIN_PERSON_FRACTION:
        raise NoPerson("no person detected", _detail("the segmentation mask is empty; send a photo of one person"))
    faces = detect_faces(rgb)
    if not faces:
        raise NoPerson(
            "no face detected",
            _detail(
                "the default parser (torso-estimate) places the garment below a frontal face; "
                "send an upright, frontal photo, or configure an SCHP checkpoint"
            ),
        )
    on_person = [f for f in faces if person[min(h - 1, f.y + f.h // 2), min(w - 1, f.x + f.w // 2)]]  # best first
    face = (on_person or faces)[0]

    cx = face.x + face.w / 2
    y0 = int(round(face.y + face.h * (1 + NECK_GAP)))
    y1 = int(round(face.y + face.h * (1 + TORSO_DEPTH)))
    x0 = int(round(cx - SIDE_REACH * face.w))
    x1 = int(round(cx + SIDE_REACH * face.w))
    y0, y1 = max(0, y0), min(h - 1, y1)
    x0, x1 = max(0, x0), min(w - 1, x1)
    region = np.zeros((h, w), dtype=bool)
    if y0 <= y1:
        region[y0: y1 + 1, x0: x1 + 1] = True

    face_px = _face_ellipse((h, w), face) & person
    garment = region & person & ~skin_mask(rgb, face) & ~face_px
    garment = _clean(garment, min_pixels=max(16, int(0.01 * region.sum())))

    labels = np.full((h, w), BACKGROUND, dtype=np.uint8)
    labels[person] = PERSON_OTHER
    labels[face_px] = FACE
    labels[garment] = UPPER_CLOTHES
    if not garment.any():
        raise NoGarment(
            "no upper garment found",
            _detail(f"a face was detected at {face.box} but nothing below it looks like clothing on the person"),
        )
    return TorsoResult(labels=labels, face=face, person=person, region=[x0, y0, x1, y1])


def _detail(hint: str) -> dict:
    """Error detail naming the parser, so a refusal says which parser refused."""
    return {"parser": PARSER_NAME, "hint": hint}


def _clean(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """Opening with a 5x5 ellipse, then drop connected components smaller than `min_pixels`."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    n, cc, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    keep = np.zeros(n, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_pixels
    return keep[cc]
