"""Body pose of every person in a photo: MediaPipe BlazePose's pre- and post-processing around
the PyTorch port in `closet.models.blazepose`.

Written from MediaPipe's graph configs and calculators (google-ai-edge/mediapipe), with the
number each step takes and where it comes from:
- detector input: the whole image letterboxed to 224x224, zero border, RGB in [-1, 1]
  (pose_detection_cpu.pbtxt, ImageToTensorCalculator: keep_aspect_ratio, BORDER_ZERO);
  MediaPipe stops there and misses people that are small in the photo, so ours adds square
  tiles at finer scales, in the same detector call (`detector_windows`, below: not MediaPipe);
- SSD anchors: 5 layers, strides 8, 16, 32, 32, 32, offset 0.5, fixed size, 2 anchors per
  cell per layer (interpolated_scale_aspect_ratio defaults to 1) -> 2254 anchors;
- decode: boxes and 4 keypoints as x, y, w, h / x, y (reverse_output_order) divided by 224,
  offsets from the anchor centre; score = sigmoid(logit clipped to +-100);
- a detection is kept from score 0.5 (MediaPipe's Python `min_detection_confidence`
  default; the bare graph says 0.2), then weighted non-maximum suppression at IoU 0.3
  (NonMaxSuppressionCalculator WEIGHTED: overlapping detections are averaged, weighted by
  score, into the highest-scoring one, which keeps its score);
- (ours) the tiles' detections join the whole image's unless they show a face it already
  has (`merge_scales`), and after the landmarks a person whose face and shoulders, or whose
  silhouette, repeat an earlier one's is dropped (`found_twice`); a photo where nobody is
  found, or the part of the segmentation's person mask that nobody found covers, is searched
  once more with finer tiles (`detect_people`, `missed_region`);
- region of interest (pose_detection_to_roi.pbtxt): centre = keypoint 0 (mid-hip), side =
  2 x |keypoint 1 - keypoint 0| x 1.25, square in pixels, rotated so that the hip -> keypoint 1
  vector points up (target angle 90 degrees);
- landmark input: that rotated square warped to 256x256, bilinear, border replicated, RGB
  in [0, 1] (pose_landmark_by_roi_cpu.pbtxt);
- landmarks (tensors_to_pose_landmarks_and_segmentation.pbtxt): 39 x (x, y, z, visibility,
  presence) in 256-pixel units; visibility = sigmoid; x, y refined on the 64x64 heatmap
  (7x7 window of sigmoid weights, when its peak is >= 0.5); the pose is present when the
  presence output is >= 0.5; the first 33 are the body landmarks;
- projection back to the image through the ROI; z scales like x (MediaPipe's z: depth
  relative to the hips, in units of the image width);
- segmentation: sigmoid of the 256x256 logits, warped back into image pixels through the
  inverse ROI affine, bilinear, zero outside the ROI
  (pose_landmarks_and_segmentation_inverse_projection.pbtxt).

The pixel convention is MediaPipe's/OpenCV's: a tensor of size S spans [0, S] in its own
units and the ROI's corners map to its corners; `roi` is the (2, 3) affine image px ->
landmark-input px that cv2.warpAffine takes.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from closet import config as closet_config
from closet import runtime
from closet.body import FACE, face_size, on_photo
from closet.checkpoints import load_state_dict, strict_load
from closet.config import NetworkRuntime
from closet.models.blazepose import (
    DETECTOR_INPUT_SIZE,
    LANDMARK_INPUT_SIZE,
    NUM_ANCHORS,
    BlazePoseDetector,
    BlazePoseLandmark,
    LandmarkOutputs,
)

log = logging.getLogger(__name__)

LANDMARK_NAMES = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
LANDMARK = {name: i for i, name in enumerate(LANDMARK_NAMES)}

# MediaPipe's POSE_CONNECTIONS (mediapipe/python/solutions/pose_connections.py), for drawing.
POSE_CONNECTIONS = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)  # fmt: skip

DETECTOR_WEIGHTS = "blazepose_detector.pth"
LANDMARK_WEIGHTS = "blazepose_landmark_full.pth"

MIN_DETECTION_SCORE = 0.5
NMS_MIN_IOU = 0.3
SCORE_CLIP = 100.0
ROI_SCALE = 1.25
ROI_TARGET_ANGLE = math.pi / 2
MIN_PRESENCE = 0.5
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
NUM_BODY_LANDMARKS = len(LANDMARK_NAMES)

# Multi-scale detection (ours, not MediaPipe's): tile sides as fractions of the image's short
# side; a level is used only when its tiles are at most MIN_SCALE_STEP times the side of the
# previous level (else it sees the same people at about the same scale); tiles overlap by at
# least half; a tile is never smaller than MIN_TILE_SIDE pixels (the detector's input is 224: a
# smaller tile adds nothing, and tiles of a phone-size or smaller photo would cost a detector pass
# each for people this small: a 512 x 512 photo gets the whole-image pass alone).
TILE_LEVELS = (1.0, 0.5)
MIN_SCALE_STEP = 0.7
MIN_TILE_SIDE = 320
# When those windows find nobody, the photo is searched once more with tiles down to this side (the
# detector's 224 px input then enlarges them up to 1.4x): people too small for the whole-image pass
# in a photo too small for tiles of MIN_TILE_SIDE (bus.jpg in grayscale at 3/4 and 1/2 size: nobody,
# then one). A photo whose people are found pays nothing for it.
FALLBACK_TILE_SIDE = 160
# ...and keeps only detections scoring at least this (MediaPipe's MIN_DETECTION_SCORE is 0.5): on 22
# person-free scikit-image photos at full and half size, its smaller tiles found 3 false people at
# 0.51-0.58 (`cell`, `logo`, `coffee` at half size), which could be swapped instead of a 422; the
# people it found that the first search missed scored 0.62-0.97. (`text` still gives two at 0.77;
# the served ensemble answers it, as every person-free photo there, with a 422 no_person.)
FALLBACK_MIN_SCORE = 0.6
# ...and so is the part of the segmentation's person mask that no found person's silhouette covers
# (widened by MISSED_MARGIN of the longer side; compared on a copy MISSED_CHECK_SIDE px long), when
# a piece of it is MISSED_MIN_SHARE of the smallest found person's silhouette or more (a person
# as large as a quarter of one found: a flag or a helmet beside a portrait is less), in the box
# around those pieces padded by MISSED_PAD. A person found there counts when MISSED_ON_MASK of
# their silhouette lies on that part.
MISSED_CHECK_SIDE = 256
MISSED_MARGIN = 0.02
MISSED_MIN_SHARE = 0.25
MISSED_PAD = 0.1
MISSED_ON_MASK = 0.5
MAX_DETECTOR_INPUTS = 9  # per image, the whole image included: the cost bound
# Landmarks are run for this many times `max_people` detections, so that the people kept, up to
# `max_people`, are not fewer because some candidates were one person found twice. In a mosaic of
# twelve package photos (3x4 people) one of the four best detections was a second look at a
# person already kept, and `person=all` swapped three people.
CANDIDATES_PER_PERSON = 2
# Two people whose landmarks 0-12 (face and shoulders) lie this close, on average, relative to
# the larger of their extents, are one person found twice.
UPPER_BODY = slice(0, 13)
DUPLICATE_DISTANCE = 0.25
# ...and so are two of whom the smaller silhouette (their own segmentation, on a copy
# DUPLICATE_CHECK_SIDE px long) lies SAME_SILHOUETTE or more on the other's. At a card table of six,
# one man was found twice, as two skeletons half a face apart on his body (0.49 of their extent),
# and got two garments (0.88 of the smaller silhouette on the other); in a portrait cut at the side,
# a second "person" was found on the man's own folded arm (0.92). Two distinct people on the
# evaluation photos share at most 0.14...
SAME_SILHOUETTE = 0.5
DUPLICATE_CHECK_SIDE = 256
# ...unless their noses lie DISTINCT_FACES face widths apart or more (the larger face) and the one
# found later holds its head up: its nose HEAD_UP face widths or more beyond its shoulders, seen
# from its own hips and from the other's. In a group photo the landmark network's segmentation of
# one person spills over their neighbours (0.58-0.98 of a neighbour's silhouette on five held-out
# group photos), and a man beside a woman, two of five children and three women were dropped as
# found twice. A man found twice lies 0.7 face widths from himself; the "person" on a man's folded
# arm, drawn upside down, has its nose below its shoulders in the man's frame. A woman seated at a
# card table, leaning forward, holds her nose 0.22-0.25 face widths above her shoulders.
DISTINCT_FACES = 1.0
HEAD_UP = 0.15
# An arm whose forearm (elbow to wrist) lies this much on another person's silhouette is that
# person's arm, read a second time: its elbow and wrist are taken as unseen (zidane.jpg: the grey-
# haired man's pose took Zidane's pointing forearm for his own, and `tshirt` bared it across Zidane's
# sleeve). Silhouettes are compared on a copy ARM_CHECK_SIDE px on its longer side.
FOREARM_ON_OTHER = 0.4
ARM_CHECK_SIDE = 512
# A nose lies on a face box when it lies within the box taken this much of its size wider each
# side: on the photos we evaluate on, most people's noses lie within 0.15 of their own box (the
# astronaut's 0.05, above it), Grace Hopper's, under her cap, 0.24 (0.42 cut at the chest).
FACE_MARGIN = 0.3
FOREARMS = ((LANDMARK["left_elbow"], LANDMARK["left_wrist"]), (LANDMARK["right_elbow"], LANDMARK["right_wrist"]))
# A detection scored this high whose landmarks say no pose is there (presence < MIN_PRESENCE) is run
# once more on the region its own landmarks' alignment points give (MediaPipe's ROI from landmarks,
# as its video mode tracks a person). In a row of five men cut at the thighs, the middle man's
# detection (0.93) put its region across all five (1,916 px; presence 0.26, 0.72 realigned), and
# the man beside him, whose skeleton ran onto him, got his maroon hoodie painted on a beige sweater.
REALIGN_SCORE = 0.8
ALIGNMENT_POINTS = slice(33, 35)  # the landmark output's hip centre and scale point (of its 39)
# A detection whose landmarks put the nose on another detection's face (`face_elsewhere`) is looked
# at again with the other faces painted out of its crop (the crop's mean colour), then on the region
# its own alignment points give, as MediaPipe's video mode tracks a person, until that region settles
# (its centre moves less than ALONE_SETTLED of its side) or the nose leaves its own face box, at most
# ALONE_PASSES landmark passes. In a row of four women (a held-out photo) the third one's crop, 2,600
# px across, held her neighbour's face, and the landmarks were the neighbour's every time: she was
# never found, and the neighbour's garment took her bare arm. Painted out, her nose came back to
# her own face in one pass, and her shoulders onto hers in four more, where the region settled.
ALONE_SETTLED = 0.01
ALONE_PASSES = 6
# ...and so is one whose nose lies this far from its detection's box centre (box sizes, along the
# farther axis), on no other detection's face: in a held-out photo of three men the landmarks of the
# man on the right (his box on his chin, his face partly above the frame) put his nose 1.4 box sizes
# off, between him and the man beside him, and his shoulders on both; his sweater's mask took the
# neighbour's shoulder and chin, and every target painted beige specks over the neighbour's maroon
# hoodie. Looked at alone his nose came back to his face. On the evaluation photos, their variants,
# the portraits and the other held-out photos nobody else changes: Grace Hopper's nose under her cap
# lies 0.68-0.92 off (0.92 cut at her chest); the cameraman's, whose face his camera hides, 0.63-0.98,
# and 1.02 in the variant cut at his side, where the look alone finds nothing and he is kept as found.
STRAYED_NOSE = 1.0
# ...and when the look alone finds nothing there, one is kept as first found only within this many box
# sizes, or when its detection lies below its nose along its own body (within STRAYED_ALONG degrees
# of the line from its nose to the middle of its shoulders): the detector saw the chin or the neck
# of the person the landmarks found. In a held-out close-up of three women two detections on hair
# put their noses 1.88 and 1.27 box sizes off, in the hair between two women, a shoulder on each,
# their detections 73 and 65 degrees off that line; kept as found, every target painted one dark
# block across the two. Kept: the cameraman, his face behind his camera, 1.02 off at most; Grace
# Hopper cut at her eyes, 1.38 off at 9 degrees, and cut at her face's side, 1.51 off at 21.
STRAYED_KEPT = 1.25
STRAYED_ALONG = 30.0
# Of two detections of one person (`twin_of`), the later one (lower detector score) is kept instead
# when its landmarks are surer of a pose by this much. At a card table a detection whose box held a
# man and the woman behind him (0.64) put his face between the two (presence 0.89): his garment
# took his chin and mouth, and every target painted cloth over them. Two later detections of him
# (0.61, 0.59) had his face right, at presence 0.99 and 1.0. A later detection on a face of its own
# (`same_face` false) does not take the place at once: the first is looked at alone (`_look_apart`).
# In a row of five men the nearest man's unsure landmarks (0.72) and the surer ones (0.99) of the man
# half hidden behind him ran together, and the second took his place: he was lost, and his hoodie
# went to a skeleton across the two.
SURER_PRESENCE = 0.05


@dataclass(frozen=True, eq=False)  # eq=False: the numpy fields have no single truth value
class PosePerson:
    """One person: the detector's box and score, the 33 landmarks, and the landmark crop."""

    box: tuple[float, float, float, float]  # detector box x0, y0, x1, y1 in image pixels (the face)
    score: float  # detector score in [0, 1]
    keypoints: np.ndarray  # (33, 4) float32: x, y in image px, z (MediaPipe scale), visibility [0, 1]
    presence: float  # landmark model's pose-presence score [0, 1]
    roi: np.ndarray  # (2, 3) float32 affine image px -> 256x256 landmark input px
    seg_logits: np.ndarray = field(repr=False)  # (256, 256) float32 person logits on the landmark input
    rank: int = 0  # the order in which the search kept this person (best score first, the second search after)

    def keypoint(self, name: str) -> np.ndarray:
        """(x, y, z, visibility) of the landmark called `name` (see LANDMARK_NAMES)."""
        return self.keypoints[LANDMARK[name]]

    def silhouette(self, image_shape: tuple[int, ...], f: float = 1.0) -> np.ndarray:
        """bool (H, W): this person's own segmentation (probability over one half) in an image of
        `image_shape` that is the photo reduced by `f` (closet.workscale; pixel centres scale)."""
        roi = self.roi.astype(np.float64).copy()
        # a reduced pixel centre p' + 0.5 = (p + 0.5) f: the photo's p = (p' + 0.5) / f - 0.5
        roi[:, 2] += roi[:, :2] @ np.full(2, 0.5 / f - 0.5)
        roi[:, :2] /= f
        return project_segmentation(self.seg_logits, roi, image_shape) > 0.5


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: the logits reach +-1600 (segmentation), beyond float range.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# --- detector side -------------------------------------------------------------------------


def ssd_anchors() -> np.ndarray:
    """(2254, 2) anchor centres x, y in [0, 1] of the 224x224 input, in the graph's order.

    SsdAnchorsCalculator with pose_detection_cpu.pbtxt's options: layers with equal strides
    share one grid, and each layer adds 2 anchors per cell (aspect 1 and the interpolated
    scale); fixed_anchor_size makes every anchor 1 x 1, so only the centres matter.
    """
    centres = []
    for stride, anchors_per_cell in ((8, 2), (16, 2), (32, 6)):
        cells = math.ceil(DETECTOR_INPUT_SIZE / stride)
        y, x = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        xy = (np.stack([x, y], axis=-1).reshape(-1, 2) + 0.5) / cells  # (cells*cells, 2), row-major
        centres.append(np.repeat(xy, anchors_per_cell, axis=0))
    anchors = np.concatenate(centres).astype(np.float32)
    assert anchors.shape == (NUM_ANCHORS, 2)
    return anchors


ANCHORS = ssd_anchors()


def rect_to_tensor_affine(cx: float, cy: float, width: float, height: float, rotation: float, size: int) -> np.ndarray:
    """(2, 3) affine mapping image px to the px of a size x size tensor that shows the rotated
    rectangle (centre, width, height in image px, rotation in radians, clockwise on screen).

    The inverse of MediaPipe's GetRotatedSubRectToRectTransformMatrix, in pixels: the
    rectangle's top-left corner goes to (0, 0), its bottom-right to (size, size).
    """
    c, s = math.cos(rotation), math.sin(rotation)
    to_image = np.array(
        [
            [c * width / size, -s * height / size, cx - 0.5 * (c * width - s * height)],
            [s * width / size, c * height / size, cy - 0.5 * (s * width + c * height)],
        ],
        dtype=np.float64,
    )
    return cv2.invertAffineTransform(to_image)


def letterbox_affine(width: int, height: int, size: int = DETECTOR_INPUT_SIZE) -> np.ndarray:
    """Image px -> detector input px: the whole image, centred, its long side scaled to `size`.

    ImageToTensorCalculator's keep_aspect_ratio pads the image's rectangle to a square
    (PadRoi); removing that letterbox later (DetectionLetterboxRemovalCalculator) is the
    inverse of this affine.
    """
    side = float(max(width, height))
    return rect_to_tensor_affine(width / 2, height / 2, side, side, 0.0, size)


def _check_image(image: np.ndarray) -> None:
    ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    if not ok or image.shape[0] == 0 or image.shape[1] == 0:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"pose: expected a uint8 RGB image of shape (H, W, 3), H, W > 0; got {got}")


def detector_input(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 224x224x3 float32 detector input in [-1, 1] (letterbox is -1) and its affine."""
    _check_image(image)
    h, w = image.shape[:2]
    affine = letterbox_affine(w, h)
    size = DETECTOR_INPUT_SIZE
    # MediaPipe warps the uint8 image, then scales: the crop is rounded to integers first.
    crop = cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return crop.astype(np.float32) * (2.0 / 255.0) - 1.0, affine


def _tiles_per_axis(extent: float, side: float) -> int:
    """Tiles of `side` along `extent` so that neighbours overlap by at least half a tile."""
    return 1 if side >= extent else math.ceil(2 * extent / side - 1)


def _smallest_fitting_side(width: int, height: int, max_tiles: int) -> float:
    """The smallest tile side whose half-overlapping grid over the image has <= max_tiles tiles.

    n tiles cover `extent` at half overlap when side >= 2 * extent / (n + 1).
    """
    return min(
        max(2 * width / (nx + 1), 2 * height / (ny + 1))
        for nx in range(1, max_tiles + 1)
        for ny in range(1, max_tiles // nx + 1)
    )


def detector_windows(
    width: int, height: int, max_inputs: int = MAX_DETECTOR_INPUTS, min_tile: float = MIN_TILE_SIDE
) -> list[tuple[float, float, float]]:
    """The squares (centre x, centre y, side in image px) the detector looks at: the whole
    image first (letterboxed, as MediaPipe), then the tiles of each level of TILE_LEVELS.

    A level's tiles have side TILE_LEVELS[k] x the short side, or the smallest side whose
    grid still fits the inputs left; the level is skipped when that side is more than
    MIN_SCALE_STEP x the previous level's, or when TILE_LEVELS[k] x the short side is under
    `min_tile` (MIN_TILE_SIDE; FALLBACK_TILE_SIDE on the second search). Tiles are spread evenly from
    edge to edge, neighbours overlapping by at least half (on a panorama a tile can be taller
    than the image: it is letterboxed, like the whole image). Examples:
    810x1080 -> the whole + 2x3 tiles of 540; 1280x720 -> the whole + 3 tiles of 720;
    512x512 -> the whole image alone; 4000x3000 -> the whole + 3x2 tiles of 2000.
    """
    if max_inputs < 1:
        raise ValueError(f"pose: max_inputs must be >= 1, got {max_inputs}")
    short = min(width, height)
    previous = float(max(width, height))
    windows = [(width / 2, height / 2, previous)]
    for fraction in TILE_LEVELS:
        left = max_inputs - len(windows)
        if left < 1:
            break
        if fraction * short < min_tile:
            continue
        side = max(fraction * short, _smallest_fitting_side(width, height, left))
        if side > MIN_SCALE_STEP * previous:
            continue
        nx, ny = _tiles_per_axis(width, side), _tiles_per_axis(height, side)
        xs = [width / 2] if nx == 1 else [side / 2 + i * (width - side) / (nx - 1) for i in range(nx)]
        ys = [height / 2] if ny == 1 else [side / 2 + j * (height - side) / (ny - 1) for j in range(ny)]
        windows += [(x, y, side) for y in ys for x in xs]
        previous = side
    return windows


def detector_inputs(image: np.ndarray, max_inputs: int = MAX_DETECTOR_INPUTS,
                    min_tile: float = MIN_TILE_SIDE, region: tuple[int, int, int, int] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(K, 224, 224, 3) float32 detector inputs of `detector_windows` and their (K, 2, 3)
    affines image px -> input px; the first is `detector_input(image)`. With `region` (x0, y0,
    x1, y1 in image px) the windows are that box's, the box whole first."""
    _check_image(image)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = region or (0, 0, w, h)
    size = DETECTOR_INPUT_SIZE
    windows = [(x0 + x, y0 + y, s) for x, y, s in detector_windows(x1 - x0, y1 - y0, max_inputs, min_tile)]
    if region is not None:
        # A region's square sees the photo around it rather than black beyond the photo's edge.
        windows = [(_inside(x, s, w), _inside(y, s, h), s) for x, y, s in windows]
    affines = np.stack([rect_to_tensor_affine(x, y, s, s, 0.0, size) for x, y, s in windows])
    crops = [
        cv2.warpAffine(image, a, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) for a in affines
    ]
    return np.stack(crops).astype(np.float32) * (2.0 / 255.0) - 1.0, affines


def _inside(centre: float, side: float, extent: float) -> float:
    """A window's centre moved, along one axis, so that its `side` lies on the photo's `extent` as
    far as it can (centred on the photo when it is the longer)."""
    return extent / 2 if side >= extent else min(max(centre, side / 2), extent - side / 2)


@dataclass(frozen=True, eq=False)
class Detections:
    """Detector output for one image after decoding: in detector-input pixels (0..224), or in
    image pixels after `to_image`."""

    scores: np.ndarray  # (K,) in [0, 1], highest first
    boxes: np.ndarray  # (K, 4) x0, y0, x1, y1
    keypoints: np.ndarray  # (K, 4, 2) mid-hip, full-body scale point, mid-shoulder, upper-body scale point

    def __len__(self) -> int:
        return len(self.scores)


def decode_detections(
    score_logits: np.ndarray, raw_boxes: np.ndarray, min_score: float = MIN_DETECTION_SCORE
) -> Detections:
    """Detections above `min_score` from one image's raw outputs ((2254,) logits, (2254, 12)).

    TensorsToDetectionsCalculator: x, y, w, h and keypoints in 224-px units around the anchor
    centre (x_scale = y_scale = w_scale = h_scale = 224, anchors 1 x 1).
    """
    scores = _sigmoid(np.clip(score_logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP))
    keep = np.nonzero(scores >= min_score)[0]
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    raw = raw_boxes[keep].astype(np.float64)  # (K, 12)
    anchors = ANCHORS[keep].astype(np.float64) * DETECTOR_INPUT_SIZE  # (K, 2) in px
    centre = raw[:, 0:2] + anchors
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)  # (K, 4)
    keypoints = raw[:, 4:12].reshape(-1, 4, 2) + anchors[:, None, :]  # (K, 4, 2)
    return Detections(scores[keep], boxes, keypoints)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(dets: Detections, min_iou: float = NMS_MIN_IOU) -> Detections:
    """NonMaxSuppressionCalculator, algorithm WEIGHTED, overlap INTERSECTION_OVER_UNION.

    Take the best remaining detection; every remaining one that overlaps it by more than
    `min_iou` (itself included) is averaged into it, weighted by score (box corners and
    keypoints); the result keeps the best one's score. `dets` must be sorted by score.
    """
    remaining = np.arange(len(dets))
    scores, boxes, keypoints = [], [], []
    while len(remaining):
        best = remaining[0]
        overlap = _iou(dets.boxes[best], dets.boxes[remaining]) > min_iou
        # A box of zero area overlaps nothing, itself included; MediaPipe then keeps it as it is
        # and stops. Grouping it with itself keeps it too, and goes on with the rest.
        overlap[0] = True
        group = remaining[overlap]
        w = dets.scores[group][:, None]  # (G, 1)
        scores.append(dets.scores[best])
        boxes.append((dets.boxes[group] * w).sum(0) / w.sum())
        keypoints.append((dets.keypoints[group] * w[:, :, None]).sum(0) / w.sum())
        remaining = remaining[~overlap]
    if not scores:
        return Detections(np.zeros(0), np.zeros((0, 4)), np.zeros((0, 4, 2)))
    return Detections(np.array(scores), np.array(boxes), np.array(keypoints))


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 2) points through a (2, 3) affine."""
    return points @ affine[:, :2].T + affine[:, 2]


def to_image(dets: Detections, affine: np.ndarray) -> Detections:
    """Detections of the detector input that `affine` (image px -> input px) made, in image px."""
    back = cv2.invertAffineTransform(affine.astype(np.float64))
    boxes = apply_affine(back, dets.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
    return Detections(dets.scores, boxes, apply_affine(back, dets.keypoints))


def same_face(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: which of `boxes` show the face that `box` shows, seen at another scale.

    The detector's face box of one person shrinks with the tile and moves (bus.jpg's man in
    the light coat: 216 px wide on the whole image, 108 px on two tiles, IoU 0.25; the two
    people composition: 222 and 120 px, IoU 0.29), so NMS's IoU > 0.3 does not join them;
    the centre of one still lies in the other.
    """
    centre = (box[:2] + box[2:]) / 2
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    in_boxes = np.all((boxes[:, :2] <= centre) & (centre <= boxes[:, 2:]), axis=1)
    in_box = np.all((box[:2] <= centres) & (centres <= box[2:]), axis=1)
    return in_boxes | in_box


def merge_scales(whole: Detections, tiles: list[Detections]) -> Detections:
    """One image's detections, in image px: the whole image's (after NMS, as MediaPipe) and
    then, best score first, each tile detection whose face is not one already kept
    (`same_face`); sorted by score. A person the whole image shows keeps MediaPipe's own
    detection; the tiles add the people it missed."""
    scores, boxes, keypoints = list(whole.scores), list(whole.boxes), list(whole.keypoints)
    pool = [(float(t.scores[k]), t.boxes[k], t.keypoints[k]) for t in tiles for k in range(len(t))]
    for score, box, kps in sorted(pool, key=lambda d: -d[0]):  # stable: ties keep tile order
        if boxes and same_face(box, np.array(boxes)).any():
            continue
        scores.append(score)
        boxes.append(box)
        keypoints.append(kps)
    order = np.argsort(-np.array(scores), kind="stable")
    if not len(order):
        return Detections(np.zeros(0), np.zeros((0, 4)), np.zeros((0, 4, 2)))
    return Detections(np.array(scores)[order], np.array(boxes)[order], np.array(keypoints)[order])


def normalize_radians(angle: float) -> float:
    """Angle in [-pi, pi), as MediaPipe's NormalizeRadians."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_alignment(hip: np.ndarray, scale_point: np.ndarray) -> tuple[float, float, float, float]:
    """(cx, cy, side, rotation) of the landmark ROI from the detection's first two keypoints (image px).

    AlignmentPointsRectsCalculator: centre at the mid-hip, box size twice the distance to
    the scale point, rotation so that hip -> scale point points up on screen; then
    RectTransformationCalculator: square_long, scale 1.25.
    """
    dx, dy = float(scale_point[0] - hip[0]), float(scale_point[1] - hip[1])
    side = 2.0 * math.hypot(dx, dy) * ROI_SCALE
    rotation = normalize_radians(ROI_TARGET_ANGLE - math.atan2(-dy, dx))
    return float(hip[0]), float(hip[1]), side, rotation


def landmark_roi(hip: np.ndarray, scale_point: np.ndarray) -> np.ndarray | None:
    """The landmark ROI affine (image px -> LANDMARK_INPUT_SIZE px) of two alignment points, the
    detector's or the landmark network's own; None where they coincide (no region)."""
    cx, cy, side, rotation = roi_from_alignment(hip, scale_point)
    return rect_to_tensor_affine(cx, cy, side, side, rotation, LANDMARK_INPUT_SIZE) if side > 0 else None


def landmark_input(image: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """The 256x256x3 float32 landmark input in [0, 1]: the ROI warped, border replicated."""
    size = LANDMARK_INPUT_SIZE
    crop = cv2.warpAffine(image, roi, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop.astype(np.float32) * (1.0 / 255.0)


# --- landmark side -------------------------------------------------------------------------


def refine_with_heatmap(xy: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """RefineLandmarksFromHeatmapCalculator (kernel 7, min confidence 0.5).

    xy: (L, 2) in [0, 1] of the landmark input; heatmap: (L, 64, 64) logits. Each landmark
    inside the map moves to the sigmoid-weighted mean cell index of the 7x7 window around
    its cell (MediaPipe uses the index, not the cell centre), if that window's peak is >= 0.5.
    """
    n, hm_h, hm_w = heatmap.shape
    out = xy.copy()
    half = (HEATMAP_KERNEL - 1) // 2
    for i in range(n):
        col, row = int(xy[i, 0] * hm_w), int(xy[i, 1] * hm_h)  # C++ int(): truncates toward 0
        if not (0 <= col < hm_w and 0 <= row < hm_h):
            continue
        r0, r1 = max(0, row - half), min(hm_h, row + half + 1)
        c0, c1 = max(0, col - half), min(hm_w, col + half + 1)
        conf = _sigmoid(heatmap[i, r0:r1, c0:c1].astype(np.float64))
        total = conf.sum()
        if conf.max() >= HEATMAP_MIN_CONFIDENCE and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i, 0] = (cols * conf).sum() / hm_w / total
            out[i, 1] = (rows * conf).sum() / hm_h / total
    return out


def decode_landmarks(raw: np.ndarray, heatmap: np.ndarray, roi: np.ndarray, image_width: int) -> np.ndarray:
    """(33, 4) x, y (image px), z, visibility from one (195,) landmark output and its ROI.

    z scales like x (LandmarkProjectionCalculator multiplies it by the ROI's normalised
    width): MediaPipe's depth relative to the hips, in units of the image width.
    """
    size = LANDMARK_INPUT_SIZE
    lm = raw.reshape(-1, 5).astype(np.float64)  # (39, 5): x, y, z, visibility logit, presence logit
    xy = refine_with_heatmap(lm[:, :2] / size, heatmap)  # (39, 2) in [0, 1]
    to_image = cv2.invertAffineTransform(roi.astype(np.float64))
    xy_image = apply_affine(to_image, xy * size)  # (39, 2) image px
    roi_width_px = math.hypot(to_image[0, 0], to_image[1, 0]) * size
    z = lm[:, 2] / size * roi_width_px / image_width
    out = np.concatenate([xy_image, z[:, None], _sigmoid(lm[:, 3:4])], axis=1)
    return out[:NUM_BODY_LANDMARKS].astype(np.float32)


def project_segmentation(seg_logits: np.ndarray, roi: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) float32 person probability in image px from the 256x256 logits of one ROI."""
    h, w = image_shape[:2]
    mask = _sigmoid(seg_logits.astype(np.float32))
    return cv2.warpAffine(
        mask,
        roi.astype(np.float64),
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


# --- the estimator -------------------------------------------------------------------------


# How the two networks run (closet/runtime.py; config networks.blazepose): on CPU, their ONNX export
# in OpenVINO by default, else ONNX Runtime. On this project's 2-core CPU, one thread, ONNX Runtime ran
# these depthwise-heavy networks about 1.6x as fast as PyTorch eager (`make bench-pose`: detector 24 ->
# 15 ms, landmark 33 -> 19 ms), and with two threads OpenVINO's detect() at 512 px takes 12.0 ms against
# ONNX Runtime's 14.3 (`make bench-pose`, docs/pose.md); the same numbers to 1e-3 px on one crop
# (tests/unit/test_blazepose.py).
DETECTOR_ONNX = "blazepose_detector.onnx"
LANDMARK_ONNX = "blazepose_landmark_full.onnx"


def _nchw(batch: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(batch, np.float32).transpose(0, 3, 1, 2))


def export(detector: BlazePoseDetector, landmark: BlazePoseLandmark) -> dict[str, bytes]:
    """Both networks in ONNX, named as an archive packs them (`make mars`)."""
    return {DETECTOR_ONNX: runtime.export_onnx(detector, (3, DETECTOR_INPUT_SIZE, DETECTOR_INPUT_SIZE)),
            LANDMARK_ONNX: runtime.export_onnx(landmark, (3, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE))}


class PoseEstimator:
    """BlazePose detector + landmark network, batched: one forward pass of each per call."""

    def __init__(self, networks: Callable[[], tuple[BlazePoseDetector, BlazePoseLandmark]],
                 device: torch.device | str = "cpu", choice: NetworkRuntime | None = None,
                 model_dir: str | os.PathLike | None = None):
        """`networks` loads the (detector, landmark) pair, only when needed: a worker whose archive
        packs both ONNX exports never builds the PyTorch modules (0.2-0.4 s of CPU at its start).
        `choice` defaults to config/closet.yaml's networks.blazepose; an archive's `model_dir` holds
        the ONNX exports (otherwise they are made now)."""
        self.device = torch.device(device)
        self.choice = choice or closet_config.load(model_dir=model_dir).network("blazepose")
        self.runtime = runtime.resolve("blazepose", self.choice, self.device)
        pair = functools.cache(networks)
        self._sessions = {}
        if self.runtime in runtime.EXPORT_RUNTIMES:
            folder = model_dir or ""
            exports = {"detector": (DETECTOR_ONNX, 0, DETECTOR_INPUT_SIZE), "landmark": (LANDMARK_ONNX, 1, LANDMARK_INPUT_SIZE)}
            self._sessions = {
                key: runtime.export_session(self.runtime, runtime.packed_or_exported(
                    folder, name, lambda i=i: pair()[i], (3, size, size)), self.choice.precision)
                for key, (name, i, size) in exports.items()}
            return
        detector, landmark = pair()
        self.detector = detector.eval().to(self.device, memory_format=torch.channels_last)
        self.landmark = landmark.eval().to(self.device, memory_format=torch.channels_last)

    @staticmethod
    def networks(detector_path: str | os.PathLike, landmark_path: str | os.PathLike
                 ) -> tuple[BlazePoseDetector, BlazePoseLandmark]:
        """Both networks, strict-loaded."""
        detector, landmark = BlazePoseDetector(), BlazePoseLandmark()
        for net, path in ((detector, detector_path), (landmark, landmark_path)):
            strict_load(net, load_state_dict(path), what=f"BlazePose {Path(path).name}")
        return detector, landmark

    @classmethod
    def load(cls, weights_dir: str | os.PathLike, device: torch.device | str = "cpu",
             choice: NetworkRuntime | None = None) -> PoseEstimator:
        """Both networks from `weights_dir` (an archive folder, or model-store/weights)."""
        weights_dir = Path(weights_dir)
        return cls(lambda: cls.networks(weights_dir / DETECTOR_WEIGHTS, weights_dir / LANDMARK_WEIGHTS),
                   device, choice, weights_dir)

    # The two network calls: numpy NHWC batches in, numpy out (OraclePoseEstimator swaps these).

    def run_detector(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, 224, 224, 3) in [-1, 1] -> score logits (B, 2254), boxes (B, 2254, 12)."""
        if self._sessions:
            scores, boxes = self._sessions["detector"].run(None, {"x": _nchw(batch)})
            return scores[..., 0], boxes
        x = self._to_device(batch)
        with torch.inference_mode(), runtime.autocast(self.choice.precision, self.device):
            scores, boxes = self.detector(x)
        return scores[..., 0].float().cpu().numpy(), boxes.float().cpu().numpy()

    def run_landmark(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """(K, 256, 256, 3) in [0, 1] -> landmarks (K, 195), presence (K,), segmentation
        (K, 256, 256) logits, heatmap (K, 39, 64, 64) logits."""
        if self._sessions:
            out = LandmarkOutputs(*self._sessions["landmark"].run(None, {"x": _nchw(batch)}))
        else:
            x = self._to_device(batch)
            with torch.inference_mode(), runtime.autocast(self.choice.precision, self.device):
                out = LandmarkOutputs(*(t.float().cpu().numpy() for t in self.landmark(x)))
        return {
            "landmarks": out.landmarks,
            "presence": out.presence[:, 0],
            "segmentation": out.segmentation[:, 0],
            "heatmap": out.heatmap,
        }

    def _to_device(self, batch: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)  # (B, H, W, 3)
        # NHWC memory viewed as NCHW is exactly torch's channels_last layout: no copy.
        return x.permute(0, 3, 1, 2)  # (B, 3, H, W)

    def detect(
        self, images: list[np.ndarray], max_people: int = 4, max_inputs: int = MAX_DETECTOR_INPUTS,
        person_masks: list[np.ndarray] | None = None,
    ) -> list[list[PosePerson]]:
        """The people in each image (uint8 RGB HWC), sorted left to right by box centre; see `detect_people`.

        max_inputs=1 is MediaPipe's single-scale detection (the whole image only). `person_masks`
        (bool (H, W) each, the segmentation's) send a second search where they show more than the
        people found."""
        return detect_people(images, self.run_detector, self.run_landmark, max_people, max_inputs, person_masks)

    def segmentation(self, image_shape: tuple[int, ...], person: PosePerson) -> np.ndarray:
        """(H, W) float32 in [0, 1]: the person's segmentation in the image's pixels."""
        return project_segmentation(person.seg_logits, person.roi, image_shape)


DetectorFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
LandmarkFn = Callable[[np.ndarray], dict[str, np.ndarray]]


def face_elsewhere(person: PosePerson, faces: list[tuple[float, float, float, float]]) -> bool:
    """Whether `person`'s landmarks put its nose off its own face box (the detector's) and on
    another detected face's (`faces`), each box taken FACE_MARGIN of its size wider: the landmarks
    are that other person's, or run across both. In a tight group the landmark crop around one
    woman's face held her neighbour's body too: its nose fell on the neighbour's face, its shoulders
    on both women, and every target painted one garment across the two. (How far off its own box
    alone does not tell: the cameraman's face, hidden by his camera, lies 0.63 box sizes off his
    box when blurred, one of those women's 0.66.)"""
    return not nose_on(person, person.box) and any(nose_on(person, f) for f in faces)


def nearer_another_face(person: PosePerson, faces: list[tuple[float, float, float, float]]) -> bool:
    """Whether `person`'s nose lies on another detected face's box (`faces`, each taken FACE_MARGIN of
    its size wider) nearer that box's centre than its own's (`nose_off`), a box of its own face
    (`same_face`) aside: the landmarks run across both people. In a held-out group photo cut at the
    chests a man's nose fell between his face and his neighbour's, on the margins of both boxes, 0.59
    box sizes from the neighbour's centre against 0.64 from his own, and his shoulders on both men:
    his garment took the neighbour's hoodie, and every target drew a maroon block over his own
    beige sweater."""
    own = np.asarray(person.box, np.float64)
    return any(nose_on(person, f) and nose_off(person, f) < nose_off(person, person.box)
               for f in faces if not same_face(own, np.asarray([f], np.float64))[0])


def nose_off(person: PosePerson, box: tuple[float, float, float, float]) -> float:
    """How far `person`'s nose lies from the centre of a face `box`, along the farther axis, in the
    box's size (its larger side): 0.5 at its edge."""
    x, y = (float(v) for v in person.keypoints[LANDMARK["nose"], :2])
    return max(abs(x - (box[0] + box[2]) / 2), abs(y - (box[1] + box[3]) / 2)) / max(box[2] - box[0], box[3] - box[1])


def detected_along(person: PosePerson) -> bool:
    """Whether `person`'s detection box lies below its landmarks' nose along their own body: its
    centre within STRAYED_ALONG degrees of the line from the nose to the middle of the shoulders."""
    kp = person.keypoints
    nose = kp[LANDMARK["nose"], :2]
    down = (kp[LANDMARK["left_shoulder"], :2] + kp[LANDMARK["right_shoulder"], :2]) / 2 - nose
    box = person.box
    off = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]) - nose
    norms = float(np.linalg.norm(down) * np.linalg.norm(off))
    return norms > 0 and float(np.dot(down, off)) / norms >= math.cos(math.radians(STRAYED_ALONG))


def nose_on(person: PosePerson, box: tuple[float, float, float, float]) -> bool:
    """Whether `person`'s nose lies on a face `box`, taken FACE_MARGIN of its size wider each side."""
    x, y = (float(v) for v in person.keypoints[LANDMARK["nose"], :2])
    m = FACE_MARGIN * max(box[2] - box[0], box[3] - box[1])
    return box[0] - m <= x <= box[2] + m and box[1] - m <= y <= box[3] + m


def found_twice(person: PosePerson, kept: list[PosePerson], image_shape: tuple[int, ...]) -> bool:
    """Whether `person` is one of `kept` found again (`twin_of`)."""
    return twin_of(person, kept, image_shape) is not None


def twin_of(person: PosePerson, kept: list[PosePerson], image_shape: tuple[int, ...]) -> int | None:
    """The index in `kept` of the person `person` is found again, None when none: the same face and
    shoulders (`same_person`), or, where its face is not the other's (`another_face`), the smaller
    of two silhouettes lying SAME_SILHOUETTE or more on the other."""
    for k, q in enumerate(kept):
        if same_person(person.keypoints, q.keypoints):
            return k
    others = [k for k, q in enumerate(kept) if not another_face(person, q)]
    if not others:
        return None
    silhouettes = _silhouettes([person, *(kept[k] for k in others)], image_shape[:2], DUPLICATE_CHECK_SIDE)[0]
    areas = silhouettes.reshape(len(silhouettes), -1).sum(axis=1)
    shared = (silhouettes[1:] & silhouettes[0]).reshape(len(others), -1).sum(axis=1)
    twins = np.nonzero(shared >= SAME_SILHOUETTE * np.maximum(np.minimum(areas[1:], areas[0]), 1))[0]
    return others[int(twins[0])] if len(twins) else None


def _up(keypoints: np.ndarray) -> np.ndarray:
    """The unit vector from a person's mid-hip to their mid-shoulder (up their body)."""
    shoulders = (keypoints[LANDMARK["left_shoulder"]] + keypoints[LANDMARK["right_shoulder"]]) / 2
    up = shoulders - (keypoints[LANDMARK["left_hip"]] + keypoints[LANDMARK["right_hip"]]) / 2
    return up / max(float(np.linalg.norm(up)), 1e-9)


def another_face(person: PosePerson, other: PosePerson) -> bool:
    """Whether `person`'s face is not `other`'s: their noses DISTINCT_FACES face widths apart or
    more, and `person`'s head held up (HEAD_UP) above its shoulders, up its own body and up the
    other's (a skeleton drawn upside down on a folded arm holds its head "up" its own body)."""
    a, b = person.keypoints[:, :2].astype(np.float64), other.keypoints[:, :2].astype(np.float64)
    mine = face_size(a[list(FACE)])
    nose = LANDMARK["nose"]
    if np.linalg.norm(a[nose] - b[nose]) < DISTINCT_FACES * max(mine, face_size(b[list(FACE)])):
        return False
    head = a[nose] - (a[LANDMARK["left_shoulder"]] + a[LANDMARK["right_shoulder"]]) / 2
    return min(float(head @ _up(a)), float(head @ _up(b))) >= HEAD_UP * mine


def same_person(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two (33, 4) landmark sets are one person found twice: their face and shoulders
    (landmarks 0-12) lie within DUPLICATE_DISTANCE of the larger of their extents of each
    other, on average. Two real people's faces are at least a face apart."""
    pa, pb = a[UPPER_BODY, :2].astype(np.float64), b[UPPER_BODY, :2].astype(np.float64)
    extent = max(np.ptp(pa, axis=0).max(), np.ptp(pb, axis=0).max())
    return bool(np.linalg.norm(pa - pb, axis=1).mean() <= DUPLICATE_DISTANCE * extent)


def disown_crossing_arms(people: list[PosePerson], image_shape: tuple[int, ...]) -> list[PosePerson]:
    """`people` of one image, each arm whose forearm lies FOREARM_ON_OTHER or more on another
    person's silhouette made unseen (its elbow's and wrist's visibility 0)."""
    if len(people) < 2:
        return people
    silhouettes, f = _silhouettes(people, image_shape[:2], ARM_CHECK_SIDE)
    shape = silhouettes.shape[1:]
    t = np.linspace(0.0, 1.0, 21)[:, None]
    out = []
    for i, p in enumerate(people):
        others = np.logical_or.reduce([s for k, s in enumerate(silhouettes) if k != i])
        keypoints = p.keypoints
        for elbow, wrist in FOREARMS:
            pts = np.round((keypoints[elbow, :2] * (1 - t) + keypoints[wrist, :2] * t + 0.5) * f - 0.5).astype(int)
            inside = on_photo(pts, shape)
            on_other = np.zeros(len(pts), bool)
            on_other[inside] = others[pts[inside, 1], pts[inside, 0]]
            if on_other.mean() >= FOREARM_ON_OTHER:
                log.debug("pose: an arm of person %d lies on another person: taken as unseen", i)
                keypoints = keypoints.copy()
                keypoints[[elbow, wrist], 3] = 0.0
        out.append(p if keypoints is p.keypoints else dataclasses.replace(p, keypoints=keypoints))
    return out


def detect_people(
    images: list[np.ndarray],
    run_detector: DetectorFn,
    run_landmark: LandmarkFn,
    max_people: int = 4,
    max_inputs: int = MAX_DETECTOR_INPUTS,
    person_masks: list[np.ndarray] | None = None,
) -> list[list[PosePerson]]:
    """MediaPipe's pre/post-processing around two network calls (see PoseEstimator.run_*),
    with multi-scale detection (ours).

    One detector call for every window of every image (`detector_windows`: the whole image
    and up to max_inputs - 1 tiles), one landmark call for every candidate of every image.
    Each window's detections get MediaPipe's weighted NMS; `merge_scales` joins them per
    image; the candidates are the CANDIDATES_PER_PERSON x `max_people` best. A candidate stays
    when the landmark network says a pose is present (>= 0.5; a strong detection where it says
    none is run once more on its own alignment points, `realigned`), does not put the face on another
    detection's (`face_elsewhere`; such a one is looked at again with the other faces painted out,
    `looked_at_alone`), and it is not a person already kept (`found_twice`, best
    score first), up to `max_people`. People come ranked in the order they were kept
    (`PosePerson.rank`), sorted left to right by box centre, an arm
    that lies on another person taken as unseen (`disown_crossing_arms`); [] for an image where
    nobody is. Multi-scale detection only: an image where nobody is found is searched once more
    with tiles down to FALLBACK_TILE_SIDE, and so is the part of its `person_masks` (bool, the
    segmentation's) that nobody found covers, when that part could be a person (`missed_region`).
    """
    if not images:
        return []
    if max_people < 1:
        raise ValueError(f"pose: max_people must be >= 1, got {max_people}")
    if person_masks is not None and [m.shape[:2] for m in person_masks] != [im.shape[:2] for im in images]:
        raise ValueError("pose: each person mask must have its image's height and width")
    people = _detect(images, [None] * len(images), run_detector, run_landmark, max_people, max_inputs,
                     MIN_TILE_SIDE, MIN_DETECTION_SCORE)
    if max_inputs == 1:
        return _arranged(images, people)

    def search_again(regions: dict[int, tuple[int, int, int, int]]) -> None:
        todo = [i for i, r in regions.items() if r is not None]
        if not todo:
            return
        more = _detect([images[i] for i in todo], [regions[i] for i in todo], run_detector, run_landmark,
                       max_people, max_inputs, FALLBACK_TILE_SIDE, FALLBACK_MIN_SCORE)
        for i, extra in zip(todo, more):
            people[i] = _join(people[i], extra, person_masks[i] if person_masks is not None else None, max_people)

    # Once per image: the whole of it when nobody was found, else what the person mask shows beside them.
    search_again({i: (0, 0, im.shape[1], im.shape[0]) if not people[i]
                  else missed_region(people[i], person_masks[i]) if person_masks is not None and len(people[i]) < max_people
                  else None
                  for i, im in enumerate(images)})
    return _arranged(images, people)


def _arranged(images: list[np.ndarray], people: list[list[PosePerson]]) -> list[list[PosePerson]]:
    """Each image's people ranked in the order they were kept, sorted left to right by box centre,
    arms on another person unseen."""
    return [disown_crossing_arms(sorted((dataclasses.replace(p, rank=k) for k, p in enumerate(persons)),
                                        key=lambda p: p.box[0] + p.box[2]), image.shape)
            for image, persons in zip(images, people)]


def _silhouettes(people: list[PosePerson], shape: tuple[int, int], longest: int) -> tuple[np.ndarray, float]:
    """The people's silhouettes (bool (N, h, w)) on a copy of an image of `shape` at most `longest`
    px on its longer side, and that copy's scale."""
    h, w = shape
    f = min(1.0, longest / max(h, w))
    small = (max(1, round(h * f)), max(1, round(w * f)))
    return np.array([p.silhouette(small, f) for p in people]).reshape(len(people), *small), f


def _missed(found: list[PosePerson], person_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The person mask's pixels that no found person's silhouette (widened by MISSED_MARGIN of
    the copy's longer side) covers, on the `_silhouettes` copy; the silhouettes; the copy's scale."""
    silhouettes, f = _silhouettes(found, person_mask.shape[:2], MISSED_CHECK_SIDE)
    h, w = silhouettes.shape[1:]
    mask = cv2.resize(person_mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    r = max(1, round(MISSED_MARGIN * max(h, w)))
    covered = cv2.dilate(silhouettes.any(axis=0).astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))).astype(bool)
    return mask & ~covered, silhouettes, f


def missed_region(found: list[PosePerson], person_mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box (x0, y0, x1, y1, image px) around the parts of `person_mask` (bool (H, W)) that
    none of `found` covers and that are as large as a person could be (MISSED_MIN_SHARE of the
    smallest found person's silhouette, or more), padded by MISSED_PAD of its size; None when
    there are none. The segmentation shows a man in a black coat beside the one found, in
    bus.jpg at 0.45 of its size, whose face is too small for the usual windows."""
    missed, silhouettes, f = _missed(found, person_mask)
    smallest = silhouettes.reshape(len(found), -1).sum(axis=1).min()
    n, _, stats, _ = cv2.connectedComponentsWithStats(missed.astype(np.uint8), connectivity=8)
    parts = [stats[k] for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= MISSED_MIN_SHARE * smallest]
    if not parts:
        return None
    x0 = min(p[0] for p in parts)
    y0 = min(p[1] for p in parts)
    x1 = max(p[0] + p[2] for p in parts)
    y1 = max(p[1] + p[3] for p in parts)
    pad = MISSED_PAD * max(x1 - x0, y1 - y0)
    h, w = person_mask.shape[:2]
    box = np.array([x0 - pad, y0 - pad, x1 + pad, y1 + pad]) / f
    x0, y0 = np.maximum(np.floor(box[:2]), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(box[2:]), (w, h)).astype(int)
    return (int(x0), int(y0), int(x1), int(y1)) if x1 > x0 and y1 > y0 else None


def _join(found: list[PosePerson], extra: list[PosePerson], person_mask: np.ndarray | None,
          max_people: int) -> list[PosePerson]:
    """The people of a second search where nobody was `found`; else `found` and those of them
    that are not one of them (`found_twice`), whose landmarks do not put the face on theirs
    (`face_elsewhere`), and whose silhouette lies at least MISSED_ON_MASK on the part of
    `person_mask` nobody found covered or whose face is none of theirs (`another_face`): up to
    `max_people`, best score first."""
    if not found:
        return extra[:max_people]
    missed = _missed(found, person_mask)[0]
    out = list(found)
    for p in sorted(extra, key=lambda p: -p.score):
        if len(out) >= max_people or face_elsewhere(p, [q.box for q in out]) or found_twice(p, out, person_mask.shape):
            continue
        own = _silhouettes([p], person_mask.shape[:2], MISSED_CHECK_SIDE)[0][0]
        # Found silhouettes spill over neighbours (DISTINCT_FACES): a face of its own counts as missed.
        if own.any() and ((own & missed).sum() >= MISSED_ON_MASK * own.sum() or all(another_face(p, q) for q in out)):
            out.append(p)
    return out


def realigned(images: list[np.ndarray], candidates: list, out: dict[str, np.ndarray],
              run_landmark: LandmarkFn) -> list:
    """`candidates` (image index, score, box, roi) after one more landmark pass, in one call, for
    those scored REALIGN_SCORE or more whose pose the landmark outputs `out` say is absent: on the
    ROI of their own alignment points. `out` is updated in place where they were run again."""
    again, rois = [], []
    for k, (_, score, _, roi) in enumerate(candidates):
        if score < REALIGN_SCORE or out["presence"][k] >= MIN_PRESENCE:
            continue
        points = out["landmarks"][k].reshape(-1, 5)[ALIGNMENT_POINTS, :2].astype(np.float64)
        new_roi = landmark_roi(*apply_affine(cv2.invertAffineTransform(roi.astype(np.float64)), points))
        if new_roi is not None:
            again.append(k)
            rois.append(new_roi)
    if not again:
        return candidates
    candidates = list(candidates)
    more = run_landmark(np.stack([landmark_input(images[candidates[k][0]], roi) for k, roi in zip(again, rois)]))
    for j, (k, roi) in enumerate(zip(again, rois)):
        for key in out:
            out[key][k] = more[key][j]
        candidates[k] = (*candidates[k][:3], roi)
        log.debug("pose: a detection (score %.2f) realigned: presence %.2f", candidates[k][1], float(more["presence"][j]))
    return candidates


def _detect(images: list[np.ndarray], regions: list[tuple[int, int, int, int] | None], run_detector: DetectorFn,
            run_landmark: LandmarkFn, max_people: int, max_inputs: int, min_tile: float,
            min_score: float) -> list[list[PosePerson]]:
    """detect_people with one set of windows per image (over its `region`, None: all of it; tiles
    down to `min_tile`), detections from `min_score`; unsorted."""
    inputs, affines = zip(*(detector_inputs(im, max_inputs, min_tile, r) for im, r in zip(images, regions)))
    score_logits, raw_boxes = run_detector(np.concatenate(inputs))
    candidates = []  # (image index, score, box in image px, roi)
    first = 0
    for i, image_affines in enumerate(affines):
        windows = [
            to_image(weighted_nms(decode_detections(score_logits[first + k], raw_boxes[first + k], min_score)), affine)
            for k, affine in enumerate(image_affines)
        ]
        first += len(image_affines)
        dets = merge_scales(windows[0], windows[1:])
        for k in range(min(len(dets), CANDIDATES_PER_PERSON * max_people)):
            roi = landmark_roi(dets.keypoints[k, 0], dets.keypoints[k, 1])
            if roi is None:
                continue
            candidates.append((i, float(dets.scores[k]), tuple(float(v) for v in dets.boxes[k]), roi))
    people: list[list[PosePerson]] = [[] for _ in images]
    if not candidates:
        return people
    elsewhere = []  # (person, image index, the other face boxes): landmarks that took another's face
    strayed = []  # (person, image index): ...or whose face lies far off their detection, on nobody's
    torn = []  # (person, image index): ...or on their own face's box but nearer another's
    ran_together = {}  # (image index, box): (kept person, the other face boxes, later detections run into it)
    out = run_landmark(np.stack([landmark_input(images[i], roi) for i, _, _, roi in candidates]))
    candidates = realigned(images, candidates, out, run_landmark)
    landmarks = [decode_landmarks(out["landmarks"][k], out["heatmap"][k], roi, images[i].shape[1])
                 for k, (i, _, _, roi) in enumerate(candidates)]
    noses = [kp[LANDMARK["nose"], :2] for kp in landmarks]
    for k, (i, score, box, roi) in enumerate(candidates):  # per image, best score first
        if len(people[i]) >= max_people:
            continue
        presence = float(out["presence"][k])
        if presence < MIN_PRESENCE:
            continue
        person = PosePerson(
            box=box,
            score=score,
            keypoints=landmarks[k],
            presence=presence,
            roi=roi.astype(np.float32),
            seg_logits=out["segmentation"][k].astype(np.float32),
        )
        faces = [b for j, (m, _, b, _) in enumerate(candidates) if m == i and j != k]
        if face_elsewhere(person, faces):
            log.debug("pose: image %d: landmarks whose face is another detection's (score %.2f)", i, score)
            elsewhere.append((person, i, faces))
            continue
        if nose_off(person, person.box) > STRAYED_NOSE:
            log.debug("pose: image %d: landmarks whose face is far off the detection's (score %.2f)", i, score)
            elsewhere.append((person, i, faces))
            strayed.append((person, i))
            continue
        twin = twin_of(person, people[i], images[i].shape)
        if twin is not None:
            first = people[i][twin]
            if person.presence < first.presence + SURER_PRESENCE:
                log.debug("pose: image %d: dropped a second detection of one person (score %.2f)", i, score)
            elif same_face(np.asarray(first.box), np.asarray([person.box]))[0]:
                log.debug("pose: image %d: a person found again with surer landmarks (score %.2f, presence %.2f)",
                          i, score, presence)
                people[i][twin] = person
            else:  # surer landmarks on a face of their own: both are looked at alone first (`_look_apart`)
                log.debug("pose: image %d: surer landmarks run into another's on a face of their own (score %.2f)",
                          i, score)
                others = [b for m, _, b, _ in candidates if m == i and b != first.box]
                ran_together.setdefault((i, first.box), (first, others, []))[2].append((person, faces))
            continue
        # Another's face: a box whose own landmarks put the nose elsewhere (not this person found twice).
        theirs = [b for j, (m, _, b, _) in enumerate(candidates) if m == i and j != k
                  and np.linalg.norm(noses[j] - noses[k]) > 0.5 * max(b[2] - b[0], b[3] - b[1])]
        if nearer_another_face(person, theirs):
            log.debug("pose: image %d: landmarks whose face is nearer another detection's (score %.2f)", i, score)
            elsewhere.append((person, i, theirs))
            torn.append((person, i))
            continue
        people[i].append(person)
    elsewhere += _look_apart(images, people, ran_together, run_landmark)
    alone = looked_at_alone(images, elsewhere, run_landmark)
    kept_alone, torn_boxes = set(), {(i, p.box) for p, i in torn}
    for person, i, faces in alone:
        if len(people[i]) < max_people and not face_elsewhere(person, faces) \
                and not ((i, person.box) in torn_boxes and nearer_another_face(person, faces)) \
                and not found_twice(person, people[i], images[i].shape):
            log.debug("pose: image %d: found with the other faces painted out (score %.2f)", i, person.score)
            people[i].append(person)
            kept_alone.add((i, person.box))
    # One whose face is simply hidden (the cameraman's, behind his camera) is kept as first found,
    # when its nose is not farther off than STRAYED_KEPT or its detection lies below it.
    again = {(i, p.box) for p, i, _ in alone}
    for person, i in strayed:
        if (i, person.box) not in again and len(people[i]) < max_people \
                and (nose_off(person, person.box) <= STRAYED_KEPT or detected_along(person)) \
                and not found_twice(person, people[i], images[i].shape):
            people[i].append(person)
    # ...and so is one whose nose lay on its own face's box too, when the look alone does not find it.
    for person, i in torn:
        if (i, person.box) not in kept_alone and len(people[i]) < max_people \
                and not found_twice(person, people[i], images[i].shape):
            people[i].append(person)
    return people


def _look_apart(images: list[np.ndarray], people: list[list[PosePerson]], ran_together: dict,
                run_landmark: LandmarkFn) -> list[tuple[PosePerson, int, list]]:
    """Each person of `people` (per image, updated in place) whom the surer landmarks of a later
    detection on a face of its own ran into (`ran_together`: (image index, box) -> (that person,
    the other face boxes, [(later detection, its other face boxes)])), looked at alone
    (`looked_at_alone`). Where the look finds that person, the later detections are returned
    (person, image index, faces) for a look alone of their own; where it does not, the surest of
    them takes that person's place, as one person found twice does."""
    if not ran_together:
        return []
    found = {(i, p.box): p for p, i, faces in
             looked_at_alone(images, [(first, i, faces) for (i, _), (first, faces, _) in ran_together.items()], run_landmark)
             if not face_elsewhere(p, faces)}
    again = []
    for (i, box), (first, _, later) in ran_together.items():
        k = next((k for k, p in enumerate(people[i]) if p is first), None)
        if k is None:  # itself found again since, with surer landmarks (one face, `same_face`)
            again += [(person, i, faces) for person, faces in later]
            continue
        if (i, box) in found:
            log.debug("pose: image %d: a person others' landmarks ran into, looked at alone", i)
            people[i][k] = found[(i, box)]
            again += [(person, i, faces) for person, faces in later]
            continue
        people[i][k] = max((person for person, _ in later), key=lambda p: p.presence)  # each surer than it
    return again


def _alone_input(image: np.ndarray, roi: np.ndarray, own: tuple[float, ...], faces: list[tuple[float, ...]]) -> np.ndarray:
    """landmark_input with each of `faces` (image px boxes) that is not the `own` face painted in
    the crop's mean colour, the own box left as it is."""
    crop = landmark_input(image, roi)
    size = crop.shape[0]

    def polygon(box: tuple[float, ...]) -> np.ndarray:
        x0, y0, x1, y1 = box
        return np.round(apply_affine(roi, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64))).astype(np.int32)

    others = [f for f in faces if not same_face(np.asarray(own, np.float64), np.asarray([f], np.float64))[0]]
    if not others:
        return crop
    painted = np.zeros((size, size), np.uint8)
    cv2.fillPoly(painted, [polygon(f) for f in others], 1)
    cv2.fillPoly(painted, [polygon(own)], 0)
    crop[painted.astype(bool)] = crop.reshape(-1, 3).mean(axis=0)
    return crop


def looked_at_alone(images: list[np.ndarray], elsewhere: list[tuple[PosePerson, int, list]],
                    run_landmark: LandmarkFn) -> list[tuple[PosePerson, int, list]]:
    """Each of `elsewhere` (person, image index, the other detections' face boxes), whose landmarks
    put the face on another's, looked at again with those faces painted out, then realigned until
    its region settles (ALONE_SETTLED, ALONE_PASSES): the (person, image index, faces) of those
    whose pose is present with the nose on their own face box, one landmark call a pass for all."""
    found = []
    active = [(p, i, faces, p.roi.astype(np.float64), None) for p, i, faces in elsewhere]
    half = np.full(2, LANDMARK_INPUT_SIZE / 2)
    for _ in range(ALONE_PASSES):
        if not active:
            break
        out = run_landmark(np.stack([_alone_input(images[i], roi, p.box, faces) for p, i, faces, roi, _ in active]))
        going = []
        for j, (p, i, faces, roi, best) in enumerate(active):
            person = dataclasses.replace(
                p, keypoints=decode_landmarks(out["landmarks"][j], out["heatmap"][j], roi, images[i].shape[1]),
                presence=float(out["presence"][j]), roi=roi.astype(np.float32),
                seg_logits=out["segmentation"][j].astype(np.float32))
            if person.presence < MIN_PRESENCE or not nose_on(person, person.box):
                found += [(best, i, faces)] if best is not None else []
                continue
            back = cv2.invertAffineTransform(roi)
            points = out["landmarks"][j].reshape(-1, 5)[ALIGNMENT_POINTS, :2].astype(np.float64)
            new_roi = landmark_roi(*apply_affine(back, points))
            side = float(np.linalg.norm(back[:, 0])) * LANDMARK_INPUT_SIZE
            if new_roi is None or np.linalg.norm(apply_affine(cv2.invertAffineTransform(new_roi), half)
                                                 - apply_affine(back, half)) < ALONE_SETTLED * side:
                found.append((person, i, faces))
                continue
            going.append((p, i, faces, new_roi, person))
        active = going
    return found + [(best, i, faces) for _, i, faces, _, best in active if best is not None]
