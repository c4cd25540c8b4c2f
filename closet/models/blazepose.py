"""BlazePose (Bazarevsky et al., "BlazePose: On-device Real-time Body Pose Tracking", CVPR-W 2020):
the person detector and the GHUM-3D "full" landmark network, as shipped in MediaPipe 0.10.21.

Written from the two TFLite graphs (`pose_detection.tflite`, `pose_landmark_full.tflite`):
every convolution carries its folded BatchNorm as a bias, activations are ReLU6, and the
layout is NCHW (TFLite runs NHWC; the converter transposes the weights). Weights come from
`closet_dev.blazepose_convert`, which pairs the graphs' convolutions with these modules'
Conv2d layers in forward-call order and checks the result against LiteRT.

TFLite padding, which PyTorch does not spell the same way:
- the graphs pad explicitly (PAD) before every stride-2 convolution of the backbones, by
  k // 2 on each side: that is `padding=kernel_size // 2` here;
- SAME with stride 1 and an odd kernel is symmetric: also `padding=kernel_size // 2`;
- SAME with stride 2 on an even size pads one pixel less at the top/left than at the
  bottom/right (the landmark regression path): `same_padding` computes it.

Inputs: the detector takes (N, 3, 224, 224) RGB in [-1, 1]; the landmark network takes
(N, 3, 256, 256) RGB in [0, 1] (the graphs start with PAD: no normalisation inside).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

DETECTOR_INPUT_SIZE = 224
LANDMARK_INPUT_SIZE = 256
NUM_ANCHORS = 2254  # 28*28*2 + 14*14*2 + 7*7*6
NUM_LANDMARKS = 39  # 33 body landmarks + 6 auxiliary (2 for the next ROI, 4 unused by MediaPipe)


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TFLite SAME padding (before, after) along one axis: the extra pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def depth_to_space(x: torch.Tensor, block_size: int) -> torch.Tensor:
    """TFLite DEPTH_TO_SPACE in NCHW: channel (i * bs + j) * C + c goes to pixel offset (i, j).

    Not `pixel_shuffle`, which reads channel c * bs * bs + i * bs + j (a different order).
    """
    n, c, h, w = x.shape
    out_c = c // (block_size * block_size)
    x = x.view(n, block_size, block_size, out_c, h, w)  # (N, i, j, C, H, W)
    x = x.permute(0, 3, 4, 1, 5, 2)  # (N, C, H, i, W, j)
    return x.reshape(n, out_c, h * block_size, w * block_size)  # (N, C, H*bs, W*bs)


def relu6(x: torch.Tensor) -> torch.Tensor:
    """ReLU6 in place: every tensor it gets here is a fresh conv or add output read by nothing else."""
    return F.relu6(x, inplace=True)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """RESIZE_BILINEAR x2 with half_pixel_centers=True, align_corners=False."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def depthwise(channels: int, kernel_size: int, stride: int = 1, padding: int | None = None) -> nn.Conv2d:
    """A depthwise kxk convolution (one filter per channel), padded k // 2 unless told."""
    pad = kernel_size // 2 if padding is None else padding
    return nn.Conv2d(channels, channels, kernel_size=kernel_size, stride=stride, padding=pad, groups=channels)


def pointwise(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 1x1 convolution."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand (ReLU6), kxk depthwise (ReLU6), 1x1 project (linear),
    plus the input when stride is 1 and the width is unchanged. `expanded == in_channels`
    means no expansion layer (the first block of the backbones)."""

    def __init__(self, in_channels: int, out_channels: int, *, expanded: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.expand = pointwise(in_channels, expanded) if expanded != in_channels else None
        self.depthwise = depthwise(expanded, kernel_size, stride=stride)
        self.project = pointwise(expanded, out_channels)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = relu6(self.expand(x)) if self.expand is not None else x
        h = self.project(relu6(self.depthwise(h)))
        if self.residual:
            h += x  # in place: h is this block's fresh output
        return h


class SeparableConv(nn.Module):
    """Depthwise 3x3 then pointwise 1x1 (ReLU6 after the pointwise; after the depthwise too
    when `depthwise_relu`). The detector's laterals and the landmark network's skips."""

    def __init__(self, in_channels: int, out_channels: int, *, depthwise_relu: bool):
        super().__init__()
        self.depthwise = depthwise(in_channels, 3)
        self.pointwise = pointwise(in_channels, out_channels)
        self.depthwise_relu = depthwise_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.depthwise(x)
        if self.depthwise_relu:
            h = relu6(h)
        return relu6(self.pointwise(h))


class BlazeBlock(nn.Module):
    """BlazeFace's residual block: depthwise 3x3, pointwise 1x1 (linear), add the shortcut,
    ReLU6. Stride 2 uses TFLite SAME padding and a 2x2 max-pool shortcut. The landmark
    network puts a ReLU6 after the depthwise (`depthwise_relu`); the detector does not."""

    def __init__(self, channels: int, *, stride: int = 1, depthwise_relu: bool):
        super().__init__()
        self.stride = stride
        self.depthwise = depthwise(channels, 3, stride=stride, padding=1 if stride == 1 else 0)
        self.pointwise = pointwise(channels, channels)
        self.depthwise_relu = depthwise_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            h, shortcut = self.depthwise(x), x
        else:
            top, bottom = same_padding(x.shape[2], 3, self.stride)
            left, right = same_padding(x.shape[3], 3, self.stride)
            h = self.depthwise(F.pad(x, (left, right, top, bottom)))
            shortcut = F.max_pool2d(x, kernel_size=self.stride, stride=self.stride)
        if self.depthwise_relu:
            h = relu6(h)
        h = self.pointwise(h)
        h += shortcut  # in place: saves a 256x256 buffer per block in the segmentation path
        return relu6(h)


class SSDHead(nn.Module):
    """Per-level SSD outputs from one feature map, each a stride-2 separable conv (linear):
    a score logit per anchor and 12 box numbers per anchor (x, y, w, h, then 4 keypoints x, y;
    in 224-pixel units relative to the anchor centre)."""

    def __init__(self, channels: int, anchors_per_cell: int):
        super().__init__()
        self.anchors_per_cell = anchors_per_cell
        self.classifier_depthwise = depthwise(channels, 3, stride=2)
        self.classifier = pointwise(channels, anchors_per_cell)
        self.regressor_depthwise = depthwise(channels, 3, stride=2)
        self.regressor = pointwise(channels, anchors_per_cell * 12)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        scores = self.classifier(self.classifier_depthwise(x))  # (N, A, H, W)
        boxes = self.regressor(self.regressor_depthwise(x))  # (N, A*12, H, W)
        # TFLite flattens NHWC: anchors run over rows, then columns, then the cell's anchors.
        scores = scores.permute(0, 2, 3, 1).reshape(n, -1, 1)  # (N, H*W*A, 1)
        boxes = boxes.permute(0, 2, 3, 1).reshape(n, -1, 12)  # (N, H*W*A, 12)
        return scores, boxes


class BlazePoseDetector(nn.Module):
    """SSD person detector on (N, 3, 224, 224) RGB in [-1, 1].

    MobileNetV2 backbone to 28x28, 14x14 and 7x7 features; a top-down pyramid (upsample,
    1x1, add the lateral, two BlazeBlocks); each level's map goes through DEPTH_TO_SPACE
    to twice the resolution and an SSDHead that strides back down. Returns raw
    (scores (N, 2254, 1) logits, boxes (N, 2254, 12)), in the graph's anchor order.
    """

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 24, kernel_size=3, stride=2, padding=1)  # 112x112
        self.stage28 = nn.Sequential(
            InvertedResidual(24, 16, expanded=24, kernel_size=3),
            InvertedResidual(16, 24, expanded=64, kernel_size=3, stride=2),  # 56x56
            InvertedResidual(24, 24, expanded=144, kernel_size=3),
            InvertedResidual(24, 40, expanded=144, kernel_size=5, stride=2),  # 28x28
            InvertedResidual(40, 40, expanded=240, kernel_size=5),
        )
        self.lateral28 = SeparableConv(40, 96, depthwise_relu=False)
        self.stage14 = nn.Sequential(
            InvertedResidual(40, 80, expanded=240, kernel_size=3, stride=2),  # 14x14
            InvertedResidual(80, 80, expanded=480, kernel_size=3),
            InvertedResidual(80, 80, expanded=480, kernel_size=3),
            InvertedResidual(80, 112, expanded=480, kernel_size=5),
            InvertedResidual(112, 112, expanded=672, kernel_size=5),
            InvertedResidual(112, 112, expanded=672, kernel_size=5),
        )
        self.lateral14 = SeparableConv(112, 192, depthwise_relu=False)
        self.stage7 = nn.Sequential(
            InvertedResidual(112, 192, expanded=672, kernel_size=5, stride=2),  # 7x7
            InvertedResidual(192, 192, expanded=1152, kernel_size=5),
            InvertedResidual(192, 192, expanded=1152, kernel_size=5),
            InvertedResidual(192, 192, expanded=1152, kernel_size=5),
        )
        # The last block stops after its depthwise: 1152 wide features for the 7x7 level.
        self.top_expand = pointwise(192, 1152)
        self.top_depthwise = depthwise(1152, 3)
        self.top_down14 = pointwise(1152, 192)
        self.refine14 = nn.Sequential(BlazeBlock(192, depthwise_relu=False), BlazeBlock(192, depthwise_relu=False))
        self.top_down28 = pointwise(192, 96)
        self.refine28 = nn.Sequential(BlazeBlock(96, depthwise_relu=False), BlazeBlock(96, depthwise_relu=False))
        self.head28 = SSDHead(24, anchors_per_cell=2)  # from 56x56x24 = depth_to_space(28x28x96)
        self.head14 = SSDHead(48, anchors_per_cell=2)  # from 28x28x48 = depth_to_space(14x14x192)
        self.head7 = SSDHead(288, anchors_per_cell=6)  # from 14x14x288 = depth_to_space(7x7x1152)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = relu6(self.stem(x))
        c28 = self.stage28(x)  # (N, 40, 28, 28)
        lateral28 = self.lateral28(c28)  # (N, 96, 28, 28)
        c14 = self.stage14(c28)  # (N, 112, 14, 14)
        lateral14 = self.lateral14(c14)  # (N, 192, 14, 14)
        c7 = self.stage7(c14)
        c7 = relu6(self.top_depthwise(relu6(self.top_expand(c7))))  # (N, 1152, 7, 7)
        p14 = self.refine14(lateral14 + relu6(self.top_down14(upsample2x(c7))))  # (N, 192, 14, 14)
        p28 = self.refine28(lateral28 + relu6(self.top_down28(upsample2x(p14))))  # (N, 96, 28, 28)
        levels = [
            self.head28(depth_to_space(p28, 2)),  # 28x28 cells, 2 anchors each
            self.head14(depth_to_space(p14, 2)),  # 14x14 cells, 2 anchors each
            self.head7(depth_to_space(c7, 2)),  # 7x7 cells, 6 anchors each
        ]
        scores = torch.cat([s for s, _ in levels], dim=1)  # (N, 2254, 1)
        boxes = torch.cat([b for _, b in levels], dim=1)  # (N, 2254, 12)
        return scores, boxes


class LandmarkOutputs(NamedTuple):
    """The landmark network's five outputs, in the graph's output order."""

    landmarks: torch.Tensor  # (N, 195): 39 x (x, y, z, visibility logit, presence logit), x, y in 256-px
    presence: torch.Tensor  # (N, 1): pose-presence probability (the graph ends in a sigmoid)
    segmentation: torch.Tensor  # (N, 1, 256, 256): person logits on the crop
    heatmap: torch.Tensor  # (N, 39, 64, 64): per-landmark logits, for the sub-pixel refinement
    world: torch.Tensor  # (N, 117): 39 x (x, y, z) in metres around the hips


class BlazePoseLandmark(nn.Module):
    """BlazePose GHUM 3D "full" landmark network on an (N, 3, 256, 256) RGB crop in [0, 1].

    A MobileNetV2 encoder down to 8x8 with skip convs at 128, 64, 32 and 16 pixels; a
    decoder that upsamples and adds the skips to 64x64 (the heatmap) and on to 256x256
    (the segmentation); and a BlazeBlock regression path from 8x8 to 2x2 whose 2x2
    convolutions give the landmarks, world landmarks and pose presence.
    """

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 24, kernel_size=3, stride=2, padding=1)  # 128x128
        self.block128 = InvertedResidual(24, 16, expanded=24, kernel_size=3)
        self.skip128 = SeparableConv(16, 8, depthwise_relu=True)
        self.stage64 = nn.Sequential(
            InvertedResidual(16, 24, expanded=64, kernel_size=3, stride=2),
            InvertedResidual(24, 24, expanded=144, kernel_size=3),
        )
        self.skip64 = SeparableConv(24, 48, depthwise_relu=True)
        self.stage32 = nn.Sequential(
            InvertedResidual(24, 32, expanded=144, kernel_size=5, stride=2),
            InvertedResidual(32, 32, expanded=192, kernel_size=5),
        )
        self.skip32 = SeparableConv(32, 48, depthwise_relu=True)
        self.stage16 = nn.Sequential(
            InvertedResidual(32, 64, expanded=192, kernel_size=3, stride=2),
            InvertedResidual(64, 64, expanded=384, kernel_size=3),
            InvertedResidual(64, 64, expanded=384, kernel_size=3),
            InvertedResidual(64, 88, expanded=384, kernel_size=5),
            InvertedResidual(88, 88, expanded=528, kernel_size=5),
            InvertedResidual(88, 88, expanded=528, kernel_size=5),
        )
        self.skip16 = SeparableConv(88, 48, depthwise_relu=True)
        self.stage8 = nn.Sequential(
            InvertedResidual(88, 144, expanded=528, kernel_size=5, stride=2),
            InvertedResidual(144, 144, expanded=864, kernel_size=5),
            InvertedResidual(144, 144, expanded=864, kernel_size=5),
            InvertedResidual(144, 144, expanded=864, kernel_size=5),
        )
        # The last block stops after its depthwise, like the detector's.
        self.top_expand = pointwise(144, 864)
        self.top_depthwise = depthwise(864, 3)
        # Decoder: heatmap at 64x64, segmentation at 256x256.
        self.decoder_in = SeparableConv(864, 48, depthwise_relu=True)
        self.heatmap = pointwise(48, NUM_LANDMARKS)
        self.segmentation_in = SeparableConv(48, 8, depthwise_relu=True)
        self.segmentation128 = nn.Sequential(BlazeBlock(8, depthwise_relu=True), BlazeBlock(8, depthwise_relu=True))
        self.segmentation256 = nn.Sequential(BlazeBlock(8, depthwise_relu=True), BlazeBlock(8, depthwise_relu=True))
        self.segmentation = nn.Conv2d(8, 1, kernel_size=3, padding=1)
        # Regression: 8x8 -> 4x4 -> 2x2, then 2x2 "fully connected" convolutions.
        self.regression_in = SeparableConv(864, 288, depthwise_relu=True)
        self.regression = nn.Sequential(
            BlazeBlock(288, stride=2, depthwise_relu=True),  # 4x4
            *[BlazeBlock(288, depthwise_relu=True) for _ in range(4)],
            BlazeBlock(288, stride=2, depthwise_relu=True),  # 2x2
            *[BlazeBlock(288, depthwise_relu=True) for _ in range(5)],
        )
        self.landmarks = nn.Conv2d(288, NUM_LANDMARKS * 5, kernel_size=2)
        self.world = nn.Conv2d(288, NUM_LANDMARKS * 3, kernel_size=2)
        self.presence = nn.Conv2d(288, 1, kernel_size=2)

    def forward(self, x: torch.Tensor) -> LandmarkOutputs:
        x = relu6(self.stem(x))
        f128 = self.block128(x)  # (N, 16, 128, 128)
        s128 = self.skip128(f128)  # (N, 8, 128, 128)
        f64 = self.stage64(f128)  # (N, 24, 64, 64)
        s64 = self.skip64(f64)  # (N, 48, 64, 64)
        f32 = self.stage32(f64)  # (N, 32, 32, 32)
        s32 = self.skip32(f32)  # (N, 48, 32, 32)
        f16 = self.stage16(f32)  # (N, 88, 16, 16)
        s16 = self.skip16(f16)  # (N, 48, 16, 16)
        f8 = self.stage8(f16)
        f8 = relu6(self.top_depthwise(relu6(self.top_expand(f8))))  # (N, 864, 8, 8)

        d = self.decoder_in(f8)  # (N, 48, 8, 8)
        d = upsample2x(d) + s16
        d = upsample2x(d) + s32
        d64 = upsample2x(d) + s64  # (N, 48, 64, 64)
        seg = upsample2x(self.segmentation_in(d64)) + s128  # (N, 8, 128, 128)
        seg = self.segmentation256(upsample2x(self.segmentation128(seg)))  # (N, 8, 256, 256)
        segmentation = self.segmentation(seg)  # (N, 1, 256, 256)
        heatmap = self.heatmap(d64)  # (N, 39, 64, 64)

        r = self.regression(self.regression_in(f8))  # (N, 288, 2, 2)
        landmarks = self.landmarks(r).flatten(1)  # (N, 195)
        world = self.world(r).flatten(1)  # (N, 117)
        presence = torch.sigmoid(self.presence(r)).flatten(1)  # (N, 1)
        return LandmarkOutputs(landmarks, presence, segmentation, heatmap, world)
