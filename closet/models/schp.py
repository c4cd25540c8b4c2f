"""SCHP (Self-Correction for Human Parsing) AugmentCE2P ResNet-101, pure PyTorch.

A re-implementation of GoGoDuck912/Self-Correction-Human-Parsing
`networks/AugmentCE2P.py` (commit eb84c432) without the compiled InPlace-ABN
extension. Attribute paths equal the official `state_dict` keys, in the same
order (603 entries), so released checkpoints load with `strict=True` once the
DataParallel `module.` prefix is stripped (in `load_checkpoint`, the one place
that rewrites keys). See tests/reference/schp_*.json and NOTES.md.

Layout: deep stem (3x3 convs 64, 64, 128) -> ResNet-101 layers (layer4 dilation
2, output stride 8) -> PSP context (bins 1, 2, 3, 6) -> parsing decoder and edge
module on layer1..3 -> fusion head. All upsampling is bilinear with
align_corners=True, as in the official code.
"""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from closet.checkpoints import CheckpointError, load_state_dict, strict_load, strip_prefix

log = logging.getLogger(__name__)

NUM_CLASSES = {"atr": 18, "lip": 20, "pascal": 7}
# Square network input side per dataset (simple_extractor.py dataset_settings).
INPUT_SIZE = {"atr": 512, "lip": 473, "pascal": 512}
CHECKPOINT_PREFIX = "module."
ABN_EPS = 1e-5
LEAKY_SLOPE = 0.01


class InPlaceABN(nn.Module):
    """Eval-mode equivalent of InPlace-ABN(Sync): batch norm with gamma = |weight| + eps, then activation.

    The official CUDA/CPU kernels scale by `abs(weight) + eps`, not `weight`, so
    this is not nn.BatchNorm2d (they differ where weight <= 0). The activation
    lives inside the module so that nn.Sequential indices match the checkpoint.
    The state dict holds exactly weight, bias, running_mean, running_var (no
    num_batches_tracked), like the official module.
    """

    def __init__(self, num_features: int, activation: str = "leaky_relu", eps: float = ABN_EPS, momentum: float = 0.1):
        super().__init__()
        if activation not in ("leaky_relu", "none"):
            raise ValueError(f"activation must be 'leaky_relu' or 'none', got {activation!r}")
        self.num_features = num_features
        self.activation = activation
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma = self.weight.abs() + self.eps
        x = F.batch_norm(
            x, self.running_mean, self.running_var, gamma, self.bias,
            training=self.training, momentum=self.momentum, eps=self.eps,
        )
        if self.activation == "leaky_relu":
            x = F.leaky_relu(x, negative_slope=LEAKY_SLOPE)
        return x

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, activation={self.activation}"


def _bn(num_features: int) -> InPlaceABN:
    """Backbone norm: InPlace-ABN without activation (the ResNet applies its own ReLU)."""
    return InPlaceABN(num_features, activation="none")


class Bottleneck(nn.Module):
    """ResNet bottleneck (expansion 4); the stride and dilation sit on the 3x3 conv."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, kernel_size=3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = _bn(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class AdaptiveAvgPool(nn.AdaptiveAvgPool2d):
    """nn.AdaptiveAvgPool2d, exportable at any size: ONNX has no adaptive pooling whose output does
    not divide its input (the PSP's 3x3 and 6x6 bins of a 32x32 map at 512 px), so the export
    computes the same bins as two pooling matrices (`bin_average`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bin_average(x, self.output_size) if torch.onnx.is_in_onnx_export() else super().forward(x)


def bin_average(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Adaptive average pooling of (N, C, h, w) to (N, C, *size) as (k, h) @ x @ (w, k) matrices."""
    rows, cols = (bins(n, k, x.dtype) for n, k in zip(x.shape[2:], size))
    return rows @ x @ cols.T


def bins(n: int, k: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(k, n): row i averages the inputs adaptive pooling puts in output bin i, floor(i n / k) to
    ceil((i + 1) n / k)."""
    out = torch.zeros(k, n, dtype=dtype)
    for i in range(k):
        start, stop = (i * n) // k, -(-((i + 1) * n) // k)
        out[i, start:stop] = 1.0 / (stop - start)
    return out


class PSPModule(nn.Module):
    """Pyramid pooling: pooled 1x1 branches at each bin size, concatenated with the input."""

    def __init__(self, features: int = 2048, out_features: int = 512, sizes: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        self.stages = nn.ModuleList([self._make_stage(features, out_features, size) for size in sizes])
        self.bottleneck = nn.Sequential(
            nn.Conv2d(features + len(sizes) * out_features, out_features, kernel_size=3, padding=1, bias=False),
            InPlaceABN(out_features),
        )

    @staticmethod
    def _make_stage(features: int, out_features: int, size: int) -> nn.Sequential:
        return nn.Sequential(
            AdaptiveAvgPool(output_size=(size, size)),
            nn.Conv2d(features, out_features, kernel_size=1, bias=False),
            InPlaceABN(out_features),
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        h, w = feats.shape[2:]
        priors = [
            F.interpolate(stage(feats), size=(h, w), mode="bilinear", align_corners=True) for stage in self.stages
        ]
        return self.bottleneck(torch.cat(priors + [feats], dim=1))  # (N, 4096 -> 512, h, w)


class EdgeModule(nn.Module):
    """Edge branch on layer1..3 features; one shared 3x3 edge classifier (conv4)."""

    def __init__(self, in_fea: tuple[int, int, int] = (256, 512, 1024), mid_fea: int = 256, out_fea: int = 2):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_fea[0], mid_fea, kernel_size=1, bias=False), InPlaceABN(mid_fea))
        self.conv2 = nn.Sequential(nn.Conv2d(in_fea[1], mid_fea, kernel_size=1, bias=False), InPlaceABN(mid_fea))
        self.conv3 = nn.Sequential(nn.Conv2d(in_fea[2], mid_fea, kernel_size=1, bias=False), InPlaceABN(mid_fea))
        self.conv4 = nn.Conv2d(mid_fea, out_fea, kernel_size=3, padding=1, bias=True)
        self.conv5 = nn.Conv2d(out_fea * 3, out_fea, kernel_size=1, bias=True)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = x1.shape[2:]
        fea = [self.conv1(x1), self.conv2(x2), self.conv3(x3)]
        edges = [self.conv4(f) for f in fea]
        up = lambda t: F.interpolate(t, size=(h, w), mode="bilinear", align_corners=True)  # noqa: E731
        fea = [fea[0]] + [up(f) for f in fea[1:]]
        edges = [edges[0]] + [up(e) for e in edges[1:]]
        edge = self.conv5(torch.cat(edges, dim=1))  # (N, 6 -> 2, h, w)
        return edge, torch.cat(fea, dim=1)  # edge_fea: (N, 768, h, w)


class DecoderModule(nn.Module):
    """Parsing decoder: PSP output upsampled to layer1 size, fused with low-level layer1 features."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(512, 256, kernel_size=1, bias=False), InPlaceABN(256))
        self.conv2 = nn.Sequential(nn.Conv2d(256, 48, kernel_size=1, bias=False), InPlaceABN(48))
        self.conv3 = nn.Sequential(
            nn.Conv2d(304, 256, kernel_size=1, bias=False),
            InPlaceABN(256),
            nn.Conv2d(256, 256, kernel_size=1, bias=False),
            InPlaceABN(256),
        )
        self.conv4 = nn.Conv2d(256, num_classes, kernel_size=1, bias=True)

    def forward(self, xt: torch.Tensor, xl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = xl.shape[2:]
        xt = F.interpolate(self.conv1(xt), size=(h, w), mode="bilinear", align_corners=True)
        x = self.conv3(torch.cat([xt, self.conv2(xl)], dim=1))  # (N, 256 + 48 -> 256, h, w)
        return self.conv4(x), x


class SCHP(nn.Module):
    """AugmentCE2P ResNet-101 (the official class is `ResNet(Bottleneck, [3, 4, 23, 3], num_classes)`)."""

    def __init__(self, num_classes: int, layers: tuple[int, int, int, int] = (3, 4, 23, 3)):
        super().__init__()
        self.num_classes = num_classes
        self.inplanes = 128
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = _bn(64)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = _bn(64)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn3 = _bn(128)
        self.relu3 = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        # multi_grid (1, 1, 1): every layer4 block uses dilation 2.
        self.layer4 = self._make_layer(512, layers[3], stride=1, dilation=2)
        self.context_encoding = PSPModule(2048, 512)
        self.edge = EdgeModule()
        self.decoder = DecoderModule(num_classes)
        self.fushion = nn.Sequential(  # (sic) the official attribute name
            nn.Conv2d(1024, 256, kernel_size=1, bias=False),
            InPlaceABN(256),
            nn.Dropout2d(0.1),
            nn.Conv2d(256, num_classes, kernel_size=1, bias=True),
        )

    def _make_layer(self, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, kernel_size=1, stride=stride, bias=False),
                _bn(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride=stride, dilation=dilation, downsample=downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """x: (N, 3, S, S) normalised BGR. Returns [[parsing, fusion], [edge]], each at stride 4."""
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.relu3(self.bn3(self.conv3(x)))
        x = self.maxpool(x)
        x2 = self.layer1(x)  # (N, 256, S/4, S/4)
        x3 = self.layer2(x2)  # (N, 512, S/8, S/8)
        x4 = self.layer3(x3)  # (N, 1024, S/16, S/16)
        x5 = self.layer4(x4)  # (N, 2048, S/16, S/16)
        ctx = self.context_encoding(x5)
        parsing_result, parsing_fea = self.decoder(ctx, x2)
        edge_result, edge_fea = self.edge(x2, x3, x4)
        fusion_result = self.fushion(torch.cat([parsing_fea, edge_fea], dim=1))  # (N, 256 + 768 -> C, S/4, S/4)
        return [[parsing_result, fusion_result], [edge_result]]


class FusionLogits(nn.Module):
    """The fusion head's logits (N, C, S/4, S/4) alone: what parsing reads (the official
    simple_extractor.py takes output[0][-1]), and the one output the ONNX export carries."""

    def __init__(self, net: SCHP):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0][-1]


def build(dataset: str = "atr") -> SCHP:
    """An SCHP network with random weights for `dataset` (atr, lip or pascal)."""
    if dataset not in NUM_CLASSES:
        raise ValueError(f"unknown SCHP dataset {dataset!r}; expected one of {sorted(NUM_CLASSES)}")
    return SCHP(NUM_CLASSES[dataset])


def load_checkpoint(path: str | os.PathLike, dataset: str = "atr") -> SCHP:
    """Load an official SCHP checkpoint (e.g. exp-schp-201908301523-atr.pth) in eval mode on the CPU.

    The official file is `{'state_dict': {'module.<key>': tensor}}` (saved from a
    DataParallel wrapper). This is the one function that rewrites keys: it strips
    `module.` and loads with strict=True. A bare, unprefixed state dict is
    accepted too (e.g. one re-saved from `SCHP.state_dict()`).

    Raises:
        CheckpointError: unreadable/unsafe file, or keys/shapes that do not fit
            (e.g. an LIP checkpoint loaded with dataset="atr").
    """
    net = build(dataset)
    try:
        state = load_state_dict(path, key="state_dict")
    except CheckpointError as e:
        if "has no top-level key" not in str(e):  # unreadable, unsafe or a broken 'state_dict'
            raise
        state = load_state_dict(path)  # a bare state dict (or the error that says what the file is)
    state = strip_prefix(state, CHECKPOINT_PREFIX)
    strict_load(net, state, f"SCHP ({dataset})")
    return net.eval()
