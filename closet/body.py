"""Body geometry of one person from pose keypoints: shoulders, hips, arms, head, and a body scale.

Keypoints are MediaPipe BlazePose's 33 landmarks as a float array (33, >=3): x, y in image
pixels and visibility in [0, 1] in column 2 (a (33, 4) array from closet.pose, x, y, z,
visibility, is read through `as_xyv`). "Left" is the person's left (landmark 11 is the left
shoulder), so in a frontal photo it lies on the image's right.

Everything here is plain arithmetic on the landmarks, shared by the garment mask
(closet.garment), the flat lay (closet.flatlay) and the shape render (closet.render).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from closet.errors import NoGarment

NOSE, L_EYE, R_EYE, L_EAR, R_EAR, MOUTH_L, MOUTH_R = 0, 2, 5, 7, 8, 9, 10
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 11, 12, 13, 14, 15, 16
# Each hand's pinky, index and thumb knuckles (BlazePose's landmarks 17-22).
L_KNUCKLES, R_KNUCKLES = (17, 19, 21), (18, 20, 22)
L_HIP, R_HIP = 23, 24
L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 25, 26, 27, 28
FACE = tuple(range(11))

# A landmark counts as seen at this visibility (BlazePose's own output, a sigmoid).
VISIBLE = 0.5
# An arm counts as seen from its elbow's visibility, surer than VISIBLE: a seen arm is drawn where
# pose puts it, across the chest too, over what the photo shows there. On the evaluation photos and
# their variants (`make elbow-visibility`), elbows hidden behind what the person holds (the astronaut's
# behind her helmet) or below the photo read 0.48-0.56, elbows seen 0.59-0.99: this lies between. At
# 0.5002 (0.4998 in another runtime) a bared arm was painted over the astronaut's name tag.
ELBOW_SEEN = 0.57
# Shoulder joints are hidden by nothing in a photo where the torso shows; below this even the
# estimate of where they are is a guess (a face close-up, legs only).
SHOULDER_SEEN = 0.2
# Torso length (mid-shoulder to mid-hip) per shoulder span, for a hip below the frame or unseen:
# about 1.35 on the package photos where both show (astronaut 1.34), and on adult body charts.
TORSO_PER_SPAN = 1.35
# Hip joints are this fraction of the shoulder span apart, when extrapolated.
HIP_PER_SPAN = 0.75
# Torso length per face width (ear span), a floor for a profile whose hips are not seen.
FACE_PER_TORSO = 2.6
# A frontal torso is at least this wide per torso length; a narrower shoulder span is a
# profile (foreshortened shoulders), widened to it.
MIN_WIDTH_PER_LENGTH = 0.6
# Hips seen closer to the shoulders than this many face widths are a pose error (a torso is about
# FACE_PER_TORSO face widths long; bent toward the camera it is foreshortened, but not to a point):
# they are taken as unseen. On the hips on the shoulders the torso quad collapsed and mapped the
# whole photo onto a line. Seen hips measured 2.2-3.5 face widths down on the 17 people of the
# evaluation photos and their reductions; on a crowded card-table photo BlazePose put four seated
# people's hips at 1.0-2.0, at their elbows or the table's edge, and their garments, read as coats,
# were cut to a top's length across the chest and inpainted there.
MIN_TORSO_PER_FACE = 2.0
# An upper arm is at least this many shoulder spans long in the photo unless it points toward or
# away from the camera (about 0.85 straight across; the evaluation photos and the portraits read
# 0.57-1.10 where seen). One that short, its elbow farther than its shoulder (BlazePose's z),
# is behind the body: `body_from_keypoints` takes it as unseen.
FORESHORTENED = 0.45
# Mid-shoulder lies about NECK face widths below the mouth (0.67-1.29 on the evaluation photos,
# their other variants and the portraits, median 0.9; 0.59 for Obama at a podium, whose hips BlazePose put
# on its lip). Under SQUEEZED_NECK the skeleton is squeezed up onto the head: BlazePose put the
# astronaut's shoulders on her helmet ring when she is cut at her side (0.50), and her hips on her
# name patch, 2.05 face widths below them and seen at 0.95, so `pullover` cut her suit there and drew
# trousers over her chest; at a held-out card table four of six people read 0.11-0.52. Such hips are
# not trusted, and unseen hips lie as far below the mouth as usual (NECK + FACE_PER_TORSO).
NECK = 0.9
SQUEEZED_NECK = 0.6


@dataclass(frozen=True)
class Arm:
    """One arm: shoulder, elbow, wrist (x, y), whether the elbow is seen, and whether the arm runs
    off the photo from a seen shoulder (a portrait: BlazePose extrapolates the elbow below the
    frame, with a low visibility because it is off the photo)."""

    shoulder: np.ndarray
    elbow: np.ndarray
    wrist: np.ndarray
    seen: bool
    off_photo: bool = False
    knuckles: np.ndarray | None = None  # (3, 2): the hand's pinky, index and thumb knuckles


@dataclass(frozen=True)
class Body:
    """The torso quad and arms of one person, in image pixels.

    `right_shoulder`, `left_shoulder`, `left_hip`, `right_hip` are the torso quad's corners,
    already widened for a profile and extrapolated for hips below the frame (`hips_seen`
    says whether they were). `axis` is the unit vector from mid-shoulder to mid-hip (down the
    body), `across` the unit vector from the right to the left shoulder, perpendicular to it.
    `scale` is the torso's width in pixels (the shoulder span, or the widened one).
    """

    right_shoulder: np.ndarray
    left_shoulder: np.ndarray
    left_hip: np.ndarray
    right_hip: np.ndarray
    axis: np.ndarray
    across: np.ndarray
    length: float
    scale: float
    hips_seen: bool
    left_arm: Arm
    right_arm: Arm
    face: np.ndarray  # (11, 2) face landmarks 0-10
    face_seen: bool
    # (N, 3, 2): each leg whose knee is seen, as pose gives it: hip joint, knee, ankle.
    legs: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 2)))

    @property
    def neck(self) -> np.ndarray:
        return (self.left_shoulder + self.right_shoulder) / 2

    @property
    def quad(self) -> np.ndarray:
        """(4, 2) float32: right shoulder, left shoulder, left hip, right hip."""
        return np.float32([self.right_shoulder, self.left_shoulder, self.left_hip, self.right_hip])

    @property
    def face_size(self) -> float:
        return face_size(self.face)

    def scaled(self, f: float) -> Body:
        """This body in the photo resized by `f` (closet.workscale's reduced copy)."""
        def arm(a: Arm) -> Arm:
            return replace(a, shoulder=a.shoulder * f, elbow=a.elbow * f, wrist=a.wrist * f,
                           knuckles=None if a.knuckles is None else a.knuckles * f)

        return replace(self, right_shoulder=self.right_shoulder * f, left_shoulder=self.left_shoulder * f,
                       left_hip=self.left_hip * f, right_hip=self.right_hip * f, length=self.length * f,
                       scale=self.scale * f, left_arm=arm(self.left_arm), right_arm=arm(self.right_arm),
                       face=self.face * f, legs=self.legs * f)


def face_of(keypoints) -> tuple[np.ndarray, bool]:
    """(11, 2) face landmarks of BlazePose keypoints, and whether pose sees the face (their median
    visibility VISIBLE or more)."""
    kp = as_xyv(keypoints)
    return kp[list(FACE), :2], bool(np.median(kp[list(FACE), 2]) >= VISIBLE)


def face_size(face: np.ndarray) -> float:
    """Face width in pixels: the ear span, or 2.2 eye-to-mouth heights in a profile."""
    ears = float(np.linalg.norm(face[L_EAR] - face[R_EAR]))
    eyes = (face[L_EYE] + face[R_EYE]) / 2
    mouth = (face[MOUTH_L] + face[MOUTH_R]) / 2
    return max(ears, 2.2 * float(np.linalg.norm(mouth - eyes)), 1.0)


def as_xyv(keypoints) -> np.ndarray:
    """(33, 3) float64 x, y, visibility from (33, 3) or closet.pose's (33, 4) x, y, z, visibility."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[0] != 33 or kp.shape[1] < 3:
        raise ValueError(f"keypoints must be (33, 3) or (33, 4), got {kp.shape}")
    return kp[:, [0, 1, 3]] if kp.shape[1] >= 4 else kp[:, :3]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else v


def on_photo(p: np.ndarray, shape: tuple[int, ...], margin: float = 0.0):
    """Whether image points `p` ((2,) or (N, 2), x y) lie on a photo of `shape`, or within `margin`
    pixels past its edges: a bool, or bool (N,)."""
    h, w = shape[:2]
    x, y = p[..., 0], p[..., 1]
    return (x >= -margin) & (x < w + margin) & (y >= -margin) & (y < h + margin)


def body_from_keypoints(keypoints, shape: tuple[int, ...]) -> Body:
    """The Body of one person in an image of `shape`.

    Raises:
        NoGarment: the shoulders are not seen or not in the image (a face close-up: shoulders
            below the frame; legs only: shoulders above it or unseen). The detail says which.
    """
    kp = as_xyv(keypoints)
    xy, vis = kp[:, :2], kp[:, 2]
    h, w = shape[:2]
    sl, sr = xy[L_SHOULDER], xy[R_SHOULDER]
    if max(vis[L_SHOULDER], vis[R_SHOULDER]) < SHOULDER_SEEN:
        raise NoGarment("no torso visible",
                        {"missing": "shoulders", "hint": "the shoulders are not visible; send a photo showing the upper body"})
    mid = (sl + sr) / 2
    if not on_photo(mid, shape):
        where = "below" if mid[1] >= h else "above" if mid[1] < 0 else "beside"
        raise NoGarment("no torso visible",
                        {"missing": "shoulders", "hint": f"the shoulders are {where} the frame; send a photo showing the upper body"})
    span = float(np.linalg.norm(sl - sr))
    hl, hr = xy[L_HIP], xy[R_HIP]
    face, face_seen = face_of(kp)
    face_width = face_size(face)
    neck = float(np.linalg.norm(mid - (face[MOUTH_L] + face[MOUTH_R]) / 2))
    squeezed = neck < SQUEEZED_NECK * face_width
    hips_seen = bool(min(vis[L_HIP], vis[R_HIP]) >= VISIBLE and on_photo(hl, shape) and on_photo(hr, shape)
                     and np.linalg.norm((hl + hr) / 2 - mid) >= MIN_TORSO_PER_FACE * face_width and not squeezed)
    if hips_seen:
        hip_mid = (hl + hr) / 2
        axis = _unit(hip_mid - mid)
        length = float(np.linalg.norm(hip_mid - mid))
    else:
        # Down the body: perpendicular to the shoulder line, away from the face.
        perp = _unit(np.array([-(sl - sr)[1], (sl - sr)[0]]))
        nose = xy[NOSE]
        if np.dot(perp, nose - mid) > 0:
            perp = -perp
        if span < 1e-6:
            perp = np.array([0.0, 1.0])
        axis = perp
        # A profile's span is foreshortened: the face (about 1/3 of the torso length) bounds it below.
        length = max(TORSO_PER_SPAN * span, FACE_PER_TORSO * face_width)
        if squeezed:  # the shoulders are too high: the hips lie as far below the mouth as usual
            length = max(length, (NECK + FACE_PER_TORSO) * face_width - neck)
    across = np.array([-axis[1], axis[0]])  # right -> left in a frontal photo
    if np.dot(across, sl - sr) < 0:
        across = -across
    width = max(abs(float(np.dot(sl - sr, across))), MIN_WIDTH_PER_LENGTH * length)
    shoulder_mid = mid
    right_s = shoulder_mid - across * width / 2
    left_s = shoulder_mid + across * width / 2
    hip_mid = shoulder_mid + axis * length
    if hips_seen:
        hip_half = max(abs(float(np.dot(hl - hr, across))), HIP_PER_SPAN * width) / 2
        hip_mid = (hl + hr) / 2
    else:
        hip_half = HIP_PER_SPAN * width / 2
    right_h = hip_mid - across * hip_half
    left_h = hip_mid + across * hip_half

    depth = np.asarray(keypoints, dtype=np.float64)[:, 2] if np.shape(keypoints)[1] >= 4 else None

    def arm(s: int, e: int, wr: int, knuckles: tuple[int, ...], shoulder: np.ndarray) -> Arm:
        # An upper arm foreshortened to under FORESHORTENED shoulder spans, its elbow farther from the
        # camera than its shoulder, runs behind the body, not across the chest (zidane.jpg's pointing
        # arm, read as a short arm bent on his chest, going away: `dress` painted skin there).
        behind = depth is not None and depth[e] > depth[s] and np.linalg.norm(xy[e] - xy[s]) < FORESHORTENED * span
        seen = bool(vis[e] >= ELBOW_SEEN and on_photo(xy[e], shape) and not behind)
        # The elbow or the wrist off the photo: BlazePose's visibility falls for the whole arm (the
        # astronaut cut at her chest: her elbow in the photo at 0.29, her wrist below it).
        off_photo = bool(not seen and not (on_photo(xy[e], shape) and on_photo(xy[wr], shape))
                         and vis[s] >= VISIBLE and on_photo(shoulder, shape))
        return Arm(shoulder=shoulder, elbow=xy[e].copy(), wrist=xy[wr].copy(), seen=seen, off_photo=off_photo,
                   knuckles=xy[list(knuckles)].copy())

    return Body(
        right_shoulder=right_s, left_shoulder=left_s, left_hip=left_h, right_hip=right_h,
        axis=axis, across=across, length=length, scale=width, hips_seen=hips_seen,
        left_arm=arm(L_SHOULDER, L_ELBOW, L_WRIST, L_KNUCKLES, sl.copy()),
        right_arm=arm(R_SHOULDER, R_ELBOW, R_WRIST, R_KNUCKLES, sr.copy()),
        face=face.copy(), face_seen=face_seen,
        legs=np.array([xy[[hip, knee, ankle]] for hip, knee, ankle in ((L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE))
                       if vis[knee] >= VISIBLE and on_photo(xy[knee], shape)]).reshape(-1, 3, 2),
    )
