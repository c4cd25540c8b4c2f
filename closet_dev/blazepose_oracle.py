"""The LiteRT oracle for the BlazePose port, and the pictures in docs/pose.

`OraclePoseEstimator` runs MediaPipe's own .tflite files with ai_edge_litert but the same
pre/post-processing as `closet.pose.PoseEstimator` (`closet.pose.detect_people`), so a
difference between the two is a difference between the networks.

    python -m closet_dev.blazepose_oracle --draw docs/pose     # keypoints, skeleton, segmentation
    python -m closet_dev.blazepose_oracle --draw-fetched out/pose   # bus, zidane: never committed
    python -m closet_dev.blazepose_oracle --compare            # port vs LiteRT on the package photos
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from closet import pose
from closet.config import REPO_ROOT

log = logging.getLogger("blazepose_oracle")

TFLITE_DIR = REPO_ROOT / ".cache" / "blazepose"
DETECTOR_TFLITE = "pose_detection.tflite"
LANDMARK_TFLITE = "pose_landmark_full.tflite"
WEIGHTS_DIR = REPO_ROOT / "model-store" / "weights"


class OraclePoseEstimator:
    """`detect()` / `segmentation()` of closet.pose.PoseEstimator, with LiteRT running the networks."""

    def __init__(self, detector_tflite: str | os.PathLike, landmark_tflite: str | os.PathLike, num_threads: int = 2):
        from ai_edge_litert import interpreter as litert

        # Default op resolver: XNNPACK on, as MediaPipe's InferenceCalculator runs these graphs.
        self._detector = litert.Interpreter(model_path=os.fspath(detector_tflite), num_threads=num_threads)
        self._landmark = litert.Interpreter(model_path=os.fspath(landmark_tflite), num_threads=num_threads)
        self._detector.allocate_tensors()
        self._landmark.allocate_tensors()

    @classmethod
    def load(cls, tflite_dir: str | os.PathLike = TFLITE_DIR, num_threads: int = 2) -> OraclePoseEstimator:
        tflite_dir = Path(tflite_dir)
        return cls(tflite_dir / DETECTOR_TFLITE, tflite_dir / LANDMARK_TFLITE, num_threads)

    @staticmethod
    def _invoke(it, x: np.ndarray) -> list[np.ndarray]:
        """One image through a batch-1 graph: outputs in output order."""
        it.set_tensor(it.get_input_details()[0]["index"], x[None].astype(np.float32))
        it.invoke()
        return [np.array(it.get_tensor(d["index"]))[0] for d in it.get_output_details()]

    def run_detector(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Same contract as PoseEstimator.run_detector; the graph takes one image at a time."""
        outs = [self._invoke(self._detector, x) for x in batch]  # each [boxes (2254, 12), scores (2254, 1)]
        return np.stack([o[1][:, 0] for o in outs]), np.stack([o[0] for o in outs])

    def run_landmark(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Same contract as PoseEstimator.run_landmark."""
        outs = [self._invoke(self._landmark, x) for x in batch]  # landmarks, presence, seg, heatmap, world
        return {
            "landmarks": np.stack([o[0] for o in outs]),
            "presence": np.stack([o[1][0] for o in outs]),
            "segmentation": np.stack([o[2][:, :, 0] for o in outs]),
            "heatmap": np.stack([o[3].transpose(2, 0, 1) for o in outs]),
        }

    def detect(
        self, images: list[np.ndarray], max_people: int = 4, max_inputs: int = pose.MAX_DETECTOR_INPUTS
    ) -> list[list[pose.PosePerson]]:
        return pose.detect_people(images, self.run_detector, self.run_landmark, max_people, max_inputs)

    def segmentation(self, image_shape: tuple[int, ...], person: pose.PosePerson) -> np.ndarray:
        return pose.project_segmentation(person.seg_logits, person.roi, image_shape)


# --- pictures -----------------------------------------------------------------------------

# Colours (RGB) of the drawing: left side orange, right side blue, centre line white.
LEFT, RIGHT, CENTRE = (255, 140, 0), (0, 150, 255), (255, 255, 255)


def _side(i: int) -> tuple[int, int, int]:
    name = pose.LANDMARK_NAMES[i]
    return LEFT if name.startswith("left") or name == "mouth_left" else RIGHT if "right" in name else CENTRE


def draw(image: np.ndarray, people: list[pose.PosePerson], masks: list[np.ndarray]) -> np.ndarray:
    """The photo with each person's segmentation tinted, the ROI square, the face box, and
    the skeleton (landmarks with visibility < 0.5 drawn hollow)."""
    out = image.astype(np.float32)
    tints = [(0, 255, 120), (255, 0, 200), (255, 220, 0), (0, 200, 255)]
    for k, mask in enumerate(masks):
        tint = np.array(tints[k % len(tints)], np.float32)
        out = out * (1 - 0.45 * mask[..., None]) + tint * (0.45 * mask[..., None])
    out = out.clip(0, 255).astype(np.uint8)
    scale = max(1, round(max(image.shape[:2]) / 512))
    for p in people:
        corners = np.array([[0, 0], [256, 0], [256, 256], [0, 256]], np.float64)
        square = pose.apply_affine(cv2.invertAffineTransform(p.roi.astype(np.float64)), corners)
        cv2.polylines(out, [np.round(square).astype(np.int32)], True, (255, 255, 0), scale, cv2.LINE_AA)
        x0, y0, x1, y1 = (round(v) for v in p.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 0, 0), scale, cv2.LINE_AA)
        xy = np.round(p.keypoints[:, :2]).astype(int)
        for a, b in pose.POSE_CONNECTIONS:
            colour = _side(a) if _side(a) == _side(b) else CENTRE
            cv2.line(out, tuple(xy[a]), tuple(xy[b]), colour, 2 * scale, cv2.LINE_AA)
        for i, (x, y) in enumerate(xy):
            filled = p.keypoints[i, 3] >= 0.5
            cv2.circle(out, (x, y), 3 * scale, _side(i), -1 if filled else scale, cv2.LINE_AA)
        label, origin = f"score {p.score:.2f} presence {p.presence:.2f}", (x0, y1 + 14 * scale)
        for colour, width in (((0, 0, 0), 3 * scale), ((255, 255, 255), scale)):  # outlined, legible anywhere
            cv2.putText(out, label, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * scale, colour, width, cv2.LINE_AA)
    return out


def draw_windows(picture: np.ndarray) -> np.ndarray:
    """The detector's tiles (closet.pose.detector_windows, the whole image left out) as thin
    squares over a picture, each inset by 2 px more than the previous one so that shared edges
    stay apart, numbered at its top-left corner; the picture is left as it is."""
    out = picture.copy()
    h, w = out.shape[:2]
    for k, (x, y, side) in enumerate(pose.detector_windows(w, h)[1:], start=1):
        inset = 2 * k
        x0, y0 = round(x - side / 2) + inset, round(y - side / 2) + inset
        x1, y1 = round(x + side / 2) - 1 - inset, round(y + side / 2) - 1 - inset
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 255), 1, cv2.LINE_AA)
        label = f"tile {k}: {side:.0f} px"
        for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(out, label, (x0 + 4, y0 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, width, cv2.LINE_AA)
    return out


def draw_all(out_dir: Path, photos: dict[str, np.ndarray], show_windows: tuple[str, ...] = ()) -> None:
    """<name>.png per photo (see `draw`); the photos in `show_windows` also show the detector's tiles."""
    est = pose.PoseEstimator.load(WEIGHTS_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, photo in photos.items():
        people = est.detect([photo])[0]
        masks = [est.segmentation(photo.shape, p) for p in people]
        picture = draw(photo, people, masks)
        if name in show_windows:
            picture = draw_windows(picture)
        cv2.imwrite(str(out_dir / f"{name}.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        log.info("%s: %d people -> %s", name, len(people), out_dir / f"{name}.png")


def compare_all() -> None:
    """Port vs oracle keypoints and masks on the package photos (logged)."""
    from closet_dev import pose_photos

    port = pose.PoseEstimator.load(WEIGHTS_DIR)
    oracle = OraclePoseEstimator.load()
    for name, photo in pose_photos.photos().items():
        a, b = port.detect([photo])[0], oracle.detect([photo])[0]
        if len(a) != len(b):
            log.info("%s: port %d people, oracle %d", name, len(a), len(b))
            continue
        for k, (p, q) in enumerate(zip(a, b)):
            kp = np.abs(p.keypoints[:, :2] - q.keypoints[:, :2]).max()
            vis = np.abs(p.keypoints[:, 3] - q.keypoints[:, 3]).max()
            seg = np.abs(port.segmentation(photo.shape, p) - oracle.segmentation(photo.shape, q)).max()
            log.info(
                "%s person %d: keypoints %.3f px, visibility %.2e, presence %.2e, score %.2e, box %.3f px, mask %.2e",
                name,
                k,
                kp,
                vis,
                abs(p.presence - q.presence),
                abs(p.score - q.score),
                np.abs(np.subtract(p.box, q.box)).max(),
                seg,
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draw", metavar="DIR", help="write <photo>.png with keypoints and segmentation")
    p.add_argument(
        "--draw-fetched",
        metavar="DIR",
        help="the same for `make photos`' bus and zidane (AGPL-3.0: keep DIR out of git, e.g. out/pose)",
    )
    p.add_argument("--compare", action="store_true", help="log port vs LiteRT differences")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    from closet_dev import pose_photos

    if args.draw:
        draw_all(Path(args.draw), pose_photos.photos(), show_windows=("two_people_swapped",))
    if args.draw_fetched:
        fetched = pose_photos.fetched_photos()
        draw_all(Path(args.draw_fetched), fetched, show_windows=tuple(fetched))
    if args.compare:
        compare_all()
    if not (args.draw or args.draw_fetched or args.compare):
        p.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
