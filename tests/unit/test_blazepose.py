"""BlazePose: the PyTorch port (closet.models.blazepose + closet.pose) against MediaPipe's own
numbers, against LiteRT running the original .tflite files, and on real photos of people.

Needs `make weights` (a prerequisite of `make test`): the two state dicts in
model-store/weights/ and the two .tflite files in .cache/blazepose/.

Boxes are (x0, y0, x1, y1) in the photos' own pixels, read off the photos by eye (a grid
drawn over them), before looking at any keypoint:
  astronaut (512x512): face from hairline to chin and ear to ear ASTRONAUT_FACE; her right
    shoulder joint (image left) under the helmet ring ASTRONAUT_RIGHT_SHOULDER, her left
    ASTRONAUT_LEFT_SHOULDER;
  Grace Hopper (512 wide, 600 high): face under the cap to the chin HOPPER_FACE; the
    jacket's shoulders HOPPER_RIGHT_SHOULDER (image left), HOPPER_LEFT_SHOULDER;
  camera (512x512, a man in profile behind a camera): his head CAMERA_FACE. His shoulders
    are not checked: BlazePose puts his left shoulder on his cheek (LiteRT too; see docs/pose).
Tolerances port vs LiteRT are stated next to each test with what was measured.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from closet import pose
from closet.config import REPO_ROOT, NetworkRuntime
from closet.models import blazepose
from closet_dev.blazepose_oracle import DETECTOR_TFLITE, LANDMARK_TFLITE, TFLITE_DIR, WEIGHTS_DIR

NEEDED = [
    WEIGHTS_DIR / pose.DETECTOR_WEIGHTS,
    WEIGHTS_DIR / pose.LANDMARK_WEIGHTS,
    TFLITE_DIR / DETECTOR_TFLITE,
    TFLITE_DIR / LANDMARK_TFLITE,
]

ASTRONAUT_FACE = (165, 60, 285, 185)
ASTRONAUT_RIGHT_SHOULDER = (50, 190, 160, 300)
ASTRONAUT_LEFT_SHOULDER = (260, 200, 370, 310)
HOPPER_FACE = (150, 130, 370, 345)
HOPPER_RIGHT_SHOULDER = (30, 350, 170, 480)
HOPPER_LEFT_SHOULDER = (360, 350, 510, 480)
CAMERA_FACE = (150, 60, 280, 210)
FACE_LANDMARKS = [pose.LANDMARK[n] for n in pose.LANDMARK_NAMES[:11]]  # nose .. mouth_right


def _scaled(box, scale, dx):
    """A box of the astronaut photo as it appears in the two-people composition."""
    return (box[0] * scale + dx, box[1] * scale, box[2] * scale + dx, box[3] * scale)


TWO_PEOPLE_ASTRONAUT_SCALE = 600 / 512  # scaled to Grace Hopper's height, right of her 512 px
EXPECTED = {
    # photo: [(face, right shoulder, left shoulder) per person, left to right]
    "astronaut": [(ASTRONAUT_FACE, ASTRONAUT_RIGHT_SHOULDER, ASTRONAUT_LEFT_SHOULDER)],
    "grace_hopper": [(HOPPER_FACE, HOPPER_RIGHT_SHOULDER, HOPPER_LEFT_SHOULDER)],
    "camera": [(CAMERA_FACE, None, None)],
    "two_people": [
        (HOPPER_FACE, HOPPER_RIGHT_SHOULDER, HOPPER_LEFT_SHOULDER),
        tuple(
            _scaled(b, TWO_PEOPLE_ASTRONAUT_SCALE, 512)
            for b in (ASTRONAUT_FACE, ASTRONAUT_RIGHT_SHOULDER, ASTRONAUT_LEFT_SHOULDER)
        ),
    ],
}


def inside(point, box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


@pytest.fixture(scope="module")
def built():
    missing = [str(p.relative_to(REPO_ROOT)) for p in NEEDED if not p.is_file()]
    if missing:
        pytest.skip(f"BlazePose weights not built ({', '.join(missing)}): run `make weights`")


@pytest.fixture(scope="module")
def port(built):
    return pose.PoseEstimator.load(WEIGHTS_DIR)


@pytest.fixture(scope="module")
def oracle(built):
    from closet_dev.blazepose_oracle import OraclePoseEstimator

    return OraclePoseEstimator.load(TFLITE_DIR)


@pytest.fixture(scope="module")
def photos():
    from closet_dev import pose_photos

    return pose_photos.photos()


@pytest.fixture(scope="module")
def found(port, photos):
    """People per photo from ONE batched detect() over all the photos."""
    return dict(zip(photos, port.detect(list(photos.values()))))


@pytest.fixture(scope="module")
def found_oracle(oracle, photos):
    return dict(zip(photos, oracle.detect(list(photos.values()))))


# --- MediaPipe's arithmetic, without networks ------------------------------------------------


def test_anchors_follow_the_ssd_grid():
    a = pose.ssd_anchors()
    assert a.shape == (2254, 2)
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[1], a[0])  # two anchors per cell on the 28x28 grid
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28])  # then the next column
    np.testing.assert_allclose(a[28 * 28 * 2], [0.5 / 14, 0.5 / 14])  # the 14x14 grid starts
    np.testing.assert_allclose(a[-6:], np.full((6, 2), 6.5 / 7))  # six anchors in the last 7x7 cell


def test_roi_reproduces_mediapipes_expected_rect():
    # mediapipe/tasks/testdata/vision/pose_expected_detection.pbtxt -> pose_expected_expanded_rect.pbtxt
    # (normalised coordinates; the rect is square in pixels: width / height = 0.9471 / 0.6317 = 1000 / 667).
    w, h = 1000.0, 667.0
    hip = np.array([0.49192297 * w, 0.7013345 * h])
    scale_point = np.array([0.48453212 * w, 0.32265595 * h])
    cx, cy, side, rotation = pose.roi_from_alignment(hip, scale_point)
    assert cx / w == pytest.approx(0.49192297, abs=1e-6) and cy / h == pytest.approx(0.7013345, abs=1e-6)
    assert side / w == pytest.approx(0.6317167, abs=1e-5) and side / h == pytest.approx(0.9471016, abs=1e-5)
    assert rotation == pytest.approx(-0.029253244, abs=1e-5)


@pytest.mark.parametrize("rotation", [0.0, 0.4, -2.5])
def test_roi_affine_matches_opencvs_rotated_rect_crop(rotation):
    # ImageToTensorCalculator (OpenCV): cv::boxPoints of the RotatedRect -> the tensor's corners.
    cx, cy, w, h, size = 300.0, 200.0, 180.0, 120.0, 256
    corners = cv2.boxPoints(((cx, cy), (w, h), math.degrees(rotation)))
    dst = np.array([[0, size], [0, 0], [size, 0], [size, size]], np.float32)
    expected = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    np.testing.assert_allclose(expected[2], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(pose.rect_to_tensor_affine(cx, cy, w, h, rotation, size), expected[:2], atol=1e-3)


def test_letterbox_centres_the_long_side():
    a = pose.letterbox_affine(600, 300)  # wide: 600 px -> 224, 75 px bands above and below
    np.testing.assert_allclose(pose.apply_affine(a, np.array([[0.0, 0.0], [600.0, 300.0]])), [[0, 56], [224, 168]])


def test_weighted_nms_averages_overlaps_and_keeps_the_best_score():
    dets = pose.Detections(
        scores=np.array([0.9, 0.6, 0.5]),
        boxes=np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float),
        keypoints=np.array([np.zeros((4, 2)), np.ones((4, 2)), np.full((4, 2), 55.0)]),
    )
    out = pose.weighted_nms(dets)
    assert len(out) == 2
    np.testing.assert_allclose(out.scores, [0.9, 0.5])
    np.testing.assert_allclose(out.boxes[0], [0.4, 0.4, 10.4, 10.4])  # (0.9 * 0 + 0.6 * 1) / 1.5
    np.testing.assert_allclose(out.keypoints[0], np.full((4, 2), 0.4))
    np.testing.assert_allclose(out.boxes[1], [50, 50, 60, 60])


def test_weighted_nms_keeps_a_degenerate_box_and_goes_on():
    dets = pose.Detections(
        scores=np.array([0.9, 0.8]),
        boxes=np.array([[5, 5, 5, 5], [20, 20, 30, 30]], float),  # the best has zero area
        keypoints=np.zeros((2, 4, 2)),
    )
    out = pose.weighted_nms(dets)
    np.testing.assert_allclose(out.boxes, dets.boxes)


def test_heatmap_refinement_moves_to_the_weighted_peak():
    heatmap = np.full((1, 64, 64), -20.0)
    heatmap[0, 30, 40] = 20.0  # one confident cell
    out = pose.refine_with_heatmap(np.array([[41.7 / 64, 31.2 / 64]]), heatmap)
    np.testing.assert_allclose(out, [[40 / 64, 30 / 64]], atol=1e-6)  # the cell index, as MediaPipe
    weak = np.full((1, 64, 64), -1.0)  # peak sigmoid 0.27 < 0.5: untouched
    np.testing.assert_allclose(pose.refine_with_heatmap(np.array([[0.3, 0.3]]), weak), [[0.3, 0.3]])


def test_depth_to_space_is_tflites_order():
    x = torch.arange(2 * 8 * 3 * 5, dtype=torch.float32).reshape(2, 8, 3, 5)  # NCHW, C = 2 * 2 * 2
    nhwc = x.permute(0, 2, 3, 1).numpy()  # TF: out[h*2+i, w*2+j, c] = in[h, w, (i*2+j)*2+c]
    ref = nhwc.reshape(2, 3, 5, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(2, 6, 10, 2)
    np.testing.assert_array_equal(blazepose.depth_to_space(x, 2).permute(0, 2, 3, 1).numpy(), ref)


def test_same_padding_puts_the_odd_pixel_after():
    assert blazepose.same_padding(8, 3, 2) == (0, 1)
    assert blazepose.same_padding(7, 3, 2) == (1, 1)
    assert blazepose.same_padding(16, 5, 1) == (2, 2)


def test_converter_pairs_by_signature_and_refuses_a_graph_that_does_not_fit():
    from closet_dev import blazepose_convert as bc

    calls = bc.module_convs(blazepose.BlazePoseDetector(), 224)
    graph = [
        bc.TfliteConv(
            op_index=i,
            depthwise=sig[0],
            weight_tensor=0,
            bias_tensor=0,
            weight_name=f"w{i}",
            in_channels=sig[1],
            out_channels=sig[2],
            kernel=sig[3],
            stride=sig[4],
            out_hw=sig[5],
        )
        for i, (_, _, sig) in enumerate(calls)
    ]
    assert [key for _, key in bc.pair_convs(graph, calls)] == [key for key, _, _ in calls]
    graph[5] = dataclasses.replace(graph[5], out_channels=graph[5].out_channels + 1)
    with pytest.raises(bc.ConversionError, match="no module conv"):
        bc.pair_convs(graph, calls)
    with pytest.raises(bc.ConversionError, match="convolutions"):
        bc.pair_convs(graph[:-1], calls)


def test_converter_writes_nothing_when_the_port_does_not_match_litert(built, tmp_path, monkeypatch):
    from closet_dev import blazepose_convert as bc

    real_convert = bc.convert

    def one_wrong_bias(model, tflite_path):
        state, pairs = real_convert(model, tflite_path)
        state["head7.regressor.bias"] = state["head7.regressor.bias"].float() + 10  # boxes off by 10 px
        return state, pairs

    monkeypatch.setattr(bc, "convert", one_wrong_bias)
    out = tmp_path / "detector.pth"
    with pytest.raises(bc.ConversionError, match="does not match LiteRT"):
        bc.main(["--model", "detector", "--tflite", str(TFLITE_DIR / DETECTOR_TFLITE), "--out", str(out)])
    assert list(tmp_path.iterdir()) == []


# --- the networks: port vs LiteRT on the same inputs ---------------------------------------


def test_detector_outputs_match_litert(port, oracle, photos):
    x = np.stack([pose.detector_input(p)[0] for p in photos.values()])
    (s_port, b_port), (s_lite, b_lite) = port.run_detector(x), oracle.run_detector(x)
    # Measured: logits 4.1e-4 (of up to 483), boxes 1.5e-3 (224-px units, of up to 829).
    assert np.abs(s_port - s_lite).max() < 5e-3
    assert np.abs(b_port - b_lite).max() < 1e-2


def test_landmark_outputs_match_litert(port, oracle, photos, found):
    crops = np.stack([pose.landmark_input(photos[n], p.roi.astype(np.float64)) for n in photos for p in found[n]])
    a, b = port.run_landmark(crops), oracle.run_landmark(crops)
    # Measured on these six crops: landmarks 1.7e-3 (256-px units, of up to 231), presence 1.9e-6,
    # heatmap 3.3e-4 (logits up to 72), segmentation probability 4.8e-3 (logits up to 1639).
    assert np.abs(a["landmarks"] - b["landmarks"]).max() < 2e-2
    assert np.abs(a["presence"] - b["presence"]).max() < 1e-4
    assert np.abs(a["heatmap"] - b["heatmap"]).max() < 5e-3
    sig = lambda z: 1 / (1 + np.exp(-np.clip(z, -60, 60)))  # noqa: E731
    assert np.abs(sig(a["segmentation"]) - sig(b["segmentation"])).max() < 2e-2


def test_whole_pipeline_matches_litert(port, oracle, photos, found, found_oracle):
    for name, image in photos.items():
        assert len(found[name]) == len(found_oracle[name]), name
        for p, q in zip(found[name], found_oracle[name]):
            # Measured: keypoints 0.97 px at most (the camera), visibility 6.1e-3, presence 3.9e-4.
            # The networks agree to 1e-3 px on one crop; the rest is the crop's uint8 rounding
            # moving with the detector's last digits (identical in MediaPipe itself).
            assert np.abs(p.keypoints[:, :2] - q.keypoints[:, :2]).max() < 2.0, name
            assert np.abs(p.keypoints[:, 3] - q.keypoints[:, 3]).max() < 0.02, name
            assert abs(p.presence - q.presence) < 1e-3 and abs(p.score - q.score) < 1e-3, name
            mp, mq = port.segmentation(image.shape, p), oracle.segmentation(image.shape, q)
            # Measured: mean 2.7e-4, pixels on different sides of 0.5: 2.7e-4 of the image.
            assert np.abs(mp - mq).mean() < 1e-3 and ((mp > 0.5) != (mq > 0.5)).mean() < 1e-3, name


# --- real photos -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_faces_and_shoulders_land_where_a_person_would_put_them(found, name):
    people = found[name]
    assert len(people) == len(EXPECTED[name]), f"{name}: {len(people)} people"
    for p, (face, right_shoulder, left_shoulder) in zip(people, EXPECTED[name]):
        assert p.keypoints.shape == (33, 4) and p.keypoints.dtype == np.float32
        for i in FACE_LANDMARKS:
            assert inside(p.keypoints[i], face), f"{name}: {pose.LANDMARK_NAMES[i]} {p.keypoints[i, :2]} not in {face}"
        # The detector's box sits on the face (MediaPipe: "the bounding box of the detected face").
        cx = (p.box[0] + p.box[2]) / 2
        assert face[0] <= cx <= face[2] and p.box[1] < face[3] and p.box[3] > face[1], f"{name}: box {p.box}"
        if right_shoulder is not None:
            assert inside(p.keypoint("right_shoulder"), right_shoulder), f"{name}: {p.keypoint('right_shoulder')}"
            assert inside(p.keypoint("left_shoulder"), left_shoulder), f"{name}: {p.keypoint('left_shoulder')}"
        assert 0.5 <= p.presence <= 1 and 0.5 <= p.score <= 1


def test_two_people_come_left_to_right(found):
    hopper, astronaut = found["two_people"]
    assert hopper.box[2] < 512 < astronaut.box[0]


def test_a_mirrored_photo_gives_mirrored_landmarks(found, photos):
    (p,) = found["astronaut"]
    (m,) = found["astronaut_mirrored"]
    width = photos["astronaut"].shape[1]
    swap = [
        pose.LANDMARK[n.replace("left", "@").replace("right", "left").replace("@", "right")]
        for n in pose.LANDMARK_NAMES
    ]
    mirrored = p.keypoints[swap].copy()
    mirrored[:, 0] = width - mirrored[:, 0]  # x -> W - x; left and right trade names
    upper_body = [*FACE_LANDMARKS, pose.LANDMARK["left_shoulder"], pose.LANDMARK["right_shoulder"]]
    # Measured: 10.4 px at most, at the shoulders (the network is not exactly mirror-symmetric).
    assert np.abs(m.keypoints[upper_body, :2] - mirrored[upper_body, :2]).max() < 25


def test_the_segmentation_covers_the_person_not_the_background(port, found, photos):
    (p,) = found["astronaut"]
    mask = port.segmentation(photos["astronaut"].shape, p)
    assert mask.shape == (512, 512) and mask.dtype == np.float32 and 0 <= mask.min() and mask.max() <= 1
    assert mask[300:360, 180:260].mean() > 0.9  # the orange suit's chest
    assert mask[120:150, 200:250].mean() > 0.9  # her face
    assert mask[20:120, 400:500].mean() < 0.1  # the wall and the shuttle model
    (h,) = found["grace_hopper"]
    hopper_mask = port.segmentation(photos["grace_hopper"].shape, h)
    assert hopper_mask[450:550, 200:300].mean() > 0.9  # jacket, shirt and tie
    assert hopper_mask[50:250, 0:100].mean() < 0.1  # the flag


def test_the_silhouette_at_a_reduced_size_is_the_segmentation_reduced(port, found, photos):
    """PosePerson.silhouette: the segmentation over one half, at the photo's size or on a copy
    reduced by f (closet.workscale's), where it is the full-size one reduced."""
    (p,) = found["grace_hopper"]
    shape = photos["grace_hopper"].shape
    full = p.silhouette(shape)
    assert np.array_equal(full, port.segmentation(shape, p) > 0.5)
    f = 0.4
    small = p.silhouette((round(shape[0] * f), round(shape[1] * f)), f)
    reduced = cv2.resize(full.astype(np.uint8), small.shape[::-1], interpolation=cv2.INTER_AREA) > 0
    assert (small & reduced).sum() / (small | reduced).sum() > 0.95


@pytest.mark.parametrize(
    "image",
    [
        skimage.data.coffee(),  # a cup on a saucer
        np.full((240, 320, 3), 128, np.uint8),  # nothing at all
    ],
    ids=["coffee", "flat"],
)
def test_no_person_gives_an_empty_list(port, image):
    assert port.detect([image]) == [[]]


def test_max_people_keeps_the_best_detections(port, photos):
    (only,) = port.detect([photos["two_people"]], max_people=1)
    assert len(only) == 1 and only[0].box[2] < 512  # Grace Hopper scores higher (0.65 vs 0.54)


def test_detect_repeats_exactly(port, photos, found):
    again = dict(zip(photos, port.detect(list(photos.values()))))
    for name in photos:
        assert len(again[name]) == len(found[name])
        for p, r in zip(found[name], again[name]):
            np.testing.assert_array_equal(p.keypoints, r.keypoints)
            np.testing.assert_array_equal(p.seg_logits, r.seg_logits)
            assert p.box == r.box and p.score == r.score and p.presence == r.presence


def test_a_batch_equals_single_calls(port, photos, found):
    for name in ["astronaut", "grace_hopper", "two_people"]:  # `found` came from one batch of five
        (single,) = port.detect([photos[name]])
        assert len(single) == len(found[name])
        for p, s in zip(found[name], single):
            # Batched convolutions sum in another order: measured 2.4e-4 px inside the photo. A guessed
            # keypoint far outside it (a foot 1,600 px below the frame) extrapolates that: 0.04 px seen.
            h, w = photos[name].shape[:2]
            diff = np.abs(p.keypoints[:, :2] - s.keypoints[:, :2]).max(axis=1)
            inside = (s.keypoints[:, 0] >= 0) & (s.keypoints[:, 0] < w) & (s.keypoints[:, 1] >= 0) & (s.keypoints[:, 1] < h)
            assert inside.any() and diff[inside].max() < 1e-2 and diff.max() < 0.25
            assert p.box == pytest.approx(s.box, abs=1e-3)


@pytest.mark.parametrize("exported", ["openvino", "onnxruntime"])
def test_the_cpu_runtimes_agree(exported, port, photos):
    """The port exported to ONNX, in OpenVINO (the CPU default) and ONNX Runtime, against the
    PyTorch port itself: the same people and boxes; keypoints within a pixel (0.5 px measured, as
    torch's own thread counts move them: the ROI's last digits change the crop's uint8 rounding);
    masks alike."""
    assert port.runtime == "openvino"
    fast_port = pose.PoseEstimator.load(WEIGHTS_DIR, choice=NetworkRuntime(exported))
    eager = pose.PoseEstimator.load(WEIGHTS_DIR, choice=NetworkRuntime("torch"))
    for name in ["astronaut", "grace_hopper", "two_people", "camera"]:
        (fast,), (slow,) = fast_port.detect([photos[name]]), eager.detect([photos[name]])
        assert len(fast) == len(slow) >= 1
        h, w = photos[name].shape[:2]
        for p, q in zip(fast, slow):
            assert p.box == pytest.approx(q.box, abs=1e-2)
            inside = (q.keypoints[:, 0] >= 0) & (q.keypoints[:, 0] < w) & (q.keypoints[:, 1] >= 0) & (q.keypoints[:, 1] < h)
            assert np.abs(p.keypoints[inside, :2] - q.keypoints[inside, :2]).max() < 1.0, name
            assert np.abs(p.keypoints[:, 3] - q.keypoints[:, 3]).max() < 0.01  # visibility
            a, b = fast_port.segmentation(photos[name].shape, p), eager.segmentation(photos[name].shape, q)
            assert np.abs(a - b).mean() < 1e-3 and ((a > 0.5) != (b > 0.5)).mean() < 1e-3, name


def test_packed_exports_need_no_pytorch_modules(port, photos, tmp_path):
    """A folder that holds both ONNX exports (an archive after `make mars`) never builds or loads the
    PyTorch networks (0.2-0.4 s of CPU at a worker's start), and finds what the port finds."""
    for name, data in pose.export(*pose.PoseEstimator.networks(WEIGHTS_DIR / pose.DETECTOR_WEIGHTS,
                                                               WEIGHTS_DIR / pose.LANDMARK_WEIGHTS)).items():
        (tmp_path / name).write_bytes(data)

    def refuse():
        raise AssertionError("the PyTorch networks were built")

    packed = pose.PoseEstimator(refuse, model_dir=tmp_path)
    assert not hasattr(packed, "detector")
    ((a,),), ((b,),) = packed.detect([photos["astronaut"]]), port.detect([photos["astronaut"]])
    assert np.abs(a.keypoints - b.keypoints).max() < 1e-3


def test_an_unknown_runtime_is_refused(built):
    with pytest.raises(ValueError, match="runtime"):
        pose.PoseEstimator.load(WEIGHTS_DIR, choice=NetworkRuntime("tflite"))


def test_bad_images_are_refused_with_a_clear_error(port):
    with pytest.raises(ValueError, match="uint8 RGB"):
        port.detect([np.zeros((64, 64), np.uint8)])
    with pytest.raises(ValueError, match="uint8 RGB"):
        port.detect([np.zeros((64, 64, 3), np.float32)])
    with pytest.raises(ValueError, match="H, W > 0"):
        port.detect([np.zeros((0, 64, 3), np.uint8)])
    with pytest.raises(ValueError, match="max_people"):
        port.detect([np.zeros((64, 64, 3), np.uint8)], max_people=0)
    assert port.detect([]) == []


@pytest.mark.gpu
def test_cuda_matches_cpu(port, photos):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gpu = pose.PoseEstimator.load(WEIGHTS_DIR, device="cuda")
    images = [photos["two_people"], photos["astronaut"]]
    for a, b in zip(port.detect(images), gpu.detect(images)):
        assert len(a) == len(b)
        for p, q in zip(a, b):
            assert np.abs(p.keypoints[:, :2] - q.keypoints[:, :2]).max() < 2.0
