"""U^2-Net and U^2-Net-P (Qin et al., "U^2-Net: Going Deeper with Nested U-Structure
for Salient Object Detection", Pattern Recognition 2020).

Written from the paper and the reference manifests (tests/reference/u2net*.json):
attribute paths equal the official `state_dict` keys, in the same order, so the
released `u2net.pth` / `u2netp.pth` / `u2net_human_seg.pth` load with strict=True.
`forward` returns the seven sigmoid maps, fused map first: (S_fuse, S1, ..., S6).
"""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from closet.checkpoints import load_state_dict, strict_load

log = logging.getLogger(__name__)


def _upsample_like(src: torch.Tensor, tar: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of `src` to the spatial size of `tar` (align_corners=False, as upstream)."""
    return F.interpolate(src, size=tar.shape[2:], mode="bilinear", align_corners=False)


def _pool() -> nn.MaxPool2d:
    # ceil_mode keeps odd sizes from shrinking twice, so any H, W works.
    return nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)


class REBNCONV(nn.Module):
    """Conv 3x3 (dilation `dirate`) -> BatchNorm -> ReLU, the unit every RSU is built from."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, dirate: int = 1):
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=dirate, dilation=dirate)
        self.bn_s1 = nn.BatchNorm2d(out_ch)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


class RSU(nn.Module):
    """Residual U-block RSU-L: a height-L U-Net whose output is added to its input conv.

    Encoder: rebnconv1..rebnconv(L-1), max-pooled after each but the last; the bottom
    rebnconvL uses dilation 2 instead of a further pool. Decoder: rebnconv(L-1)d..rebnconv1d
    on cat(deeper, skip), upsampling the deeper map to the skip's size.
    """

    height: int = 0  # L in the paper; set by RSU7 .. RSU4

    def __init__(self, in_ch: int = 3, mid_ch: int = 12, out_ch: int = 3):
        super().__init__()
        L = self.height
        # Registration order = official state_dict order: in, enc (with pools), bottom, dec.
        self.rebnconvin = REBNCONV(in_ch, out_ch, dirate=1)
        self.rebnconv1 = REBNCONV(out_ch, mid_ch, dirate=1)
        self.pool1 = _pool()
        for i in range(2, L):
            setattr(self, f"rebnconv{i}", REBNCONV(mid_ch, mid_ch, dirate=1))
            if i < L - 1:
                setattr(self, f"pool{i}", _pool())
        setattr(self, f"rebnconv{L}", REBNCONV(mid_ch, mid_ch, dirate=2))
        for i in range(L - 1, 1, -1):
            setattr(self, f"rebnconv{i}d", REBNCONV(mid_ch * 2, mid_ch, dirate=1))
        self.rebnconv1d = REBNCONV(mid_ch * 2, out_ch, dirate=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = self.height
        hxin = self.rebnconvin(x)
        skips = []  # hx1 .. hx(L-1), from fine to coarse
        hx = hxin
        for i in range(1, L):
            hx = getattr(self, f"rebnconv{i}")(hx)
            skips.append(hx)
            if i < L - 1:
                hx = getattr(self, f"pool{i}")(hx)
        hx = getattr(self, f"rebnconv{L}")(hx)
        for i in range(L - 1, 0, -1):
            skip = skips[i - 1]
            if i < L - 1:
                hx = _upsample_like(hx, skip)
            hx = getattr(self, f"rebnconv{i}d")(torch.cat((hx, skip), dim=1))
        return hx + hxin


class RSU7(RSU):
    height = 7


class RSU6(RSU):
    height = 6


class RSU5(RSU):
    height = 5


class RSU4(RSU):
    height = 4


class RSU4F(nn.Module):
    """RSU-4F: RSU-4 with dilations 1, 2, 4, 8 instead of pooling, for the low-resolution stages."""

    def __init__(self, in_ch: int = 3, mid_ch: int = 12, out_ch: int = 3):
        super().__init__()
        self.rebnconvin = REBNCONV(in_ch, out_ch, dirate=1)
        self.rebnconv1 = REBNCONV(out_ch, mid_ch, dirate=1)
        self.rebnconv2 = REBNCONV(mid_ch, mid_ch, dirate=2)
        self.rebnconv3 = REBNCONV(mid_ch, mid_ch, dirate=4)
        self.rebnconv4 = REBNCONV(mid_ch, mid_ch, dirate=8)
        self.rebnconv3d = REBNCONV(mid_ch * 2, mid_ch, dirate=4)
        self.rebnconv2d = REBNCONV(mid_ch * 2, mid_ch, dirate=2)
        self.rebnconv1d = REBNCONV(mid_ch * 2, out_ch, dirate=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        hx1 = self.rebnconv1(hxin)
        hx2 = self.rebnconv2(hx1)
        hx3 = self.rebnconv3(hx2)
        hx4 = self.rebnconv4(hx3)
        hx3d = self.rebnconv3d(torch.cat((hx4, hx3), dim=1))
        hx2d = self.rebnconv2d(torch.cat((hx3d, hx2), dim=1))
        hx1d = self.rebnconv1d(torch.cat((hx2d, hx1), dim=1))
        return hx1d + hxin


class _U2NetBase(nn.Module):
    """Six-stage encoder, five-stage decoder of RSUs, six side outputs and a 1x1 fusion.

    Subclasses give `encoder` and `decoder` as (block, mid_ch, out_ch); the input
    width of each block follows from the previous one (decoders see cat(deeper, skip)).
    """

    encoder: tuple = ()  # stage1 .. stage6
    decoder: tuple = ()  # stage5d .. stage1d

    def __init__(self, in_ch: int = 3, out_ch: int = 1):
        super().__init__()
        enc_out = []
        width = in_ch
        for i, (block, mid, out) in enumerate(self.encoder, start=1):
            setattr(self, f"stage{i}", block(width, mid, out))
            if i < len(self.encoder):
                setattr(self, f"pool{i}{i + 1}", _pool())
            enc_out.append(out)
            width = out
        side_in = [enc_out[-1]]  # side6 reads stage6 directly
        for i, (block, mid, out) in zip(range(5, 0, -1), self.decoder):
            setattr(self, f"stage{i}d", block(width + enc_out[i - 1], mid, out))
            side_in.insert(0, out)
            width = out
        for i, ch in enumerate(side_in, start=1):
            setattr(self, f"side{i}", nn.Conv2d(ch, out_ch, kernel_size=3, padding=1))
        self.outconv = nn.Conv2d(6 * out_ch, out_ch, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        enc = []  # hx1 .. hx6
        hx = x
        for i in range(1, 7):
            hx = getattr(self, f"stage{i}")(hx)
            enc.append(hx)
            if i < 6:
                hx = getattr(self, f"pool{i}{i + 1}")(hx)
        feats = [hx]  # becomes hx1d, hx2d, hx3d, hx4d, hx5d, hx6
        for i in range(5, 0, -1):
            skip = enc[i - 1]
            hx = getattr(self, f"stage{i}d")(torch.cat((_upsample_like(hx, skip), skip), dim=1))
            feats.insert(0, hx)
        d1 = self.side1(feats[0])
        sides = [d1] + [_upsample_like(getattr(self, f"side{i}")(feats[i - 1]), d1) for i in range(2, 7)]
        d0 = self.outconv(torch.cat(sides, dim=1))  # (N, out_ch, H, W)
        return tuple(torch.sigmoid(d) for d in [d0, *sides])


class U2NET(_U2NetBase):
    """Full U^2-Net (176 MB, 44.0 M parameters)."""

    encoder = ((RSU7, 32, 64), (RSU6, 32, 128), (RSU5, 64, 256), (RSU4, 128, 512), (RSU4F, 256, 512), (RSU4F, 256, 512))
    decoder = ((RSU4F, 256, 512), (RSU4, 128, 256), (RSU5, 64, 128), (RSU6, 32, 64), (RSU7, 16, 64))


class U2NETP(_U2NetBase):
    """U^2-Net-P, the small variant (4.7 MB, 1.13 M parameters)."""

    encoder = ((RSU7, 16, 64), (RSU6, 16, 64), (RSU5, 16, 64), (RSU4, 16, 64), (RSU4F, 16, 64), (RSU4F, 16, 64))
    decoder = ((RSU4F, 16, 64), (RSU4, 16, 64), (RSU5, 16, 64), (RSU6, 16, 64), (RSU7, 16, 64))


ARCHS: dict[str, type[_U2NetBase]] = {"u2net": U2NET, "u2netp": U2NETP}


def build(arch: str = "u2netp", in_ch: int = 3, out_ch: int = 1) -> _U2NetBase:
    """A freshly initialised network of architecture `arch` ('u2netp' or 'u2net')."""
    if arch not in ARCHS:
        raise ValueError(f"unknown U^2-Net arch {arch!r}; expected one of {sorted(ARCHS)}")
    return ARCHS[arch](in_ch=in_ch, out_ch=out_ch)


def optimize_for_inference(net: _U2NetBase) -> _U2NetBase:
    """Fold every BatchNorm into its conv (bn_s1 becomes Identity) and switch to channels_last, in place.

    Eval only. Outputs move by float rounding (~3e-5 on the maps); on the 2-core CPU a forward
    pass was ~30% faster in interleaved runs. The result has no bn_s1 keys: never save it as a checkpoint.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net.eval()
    for block in net.modules():
        if isinstance(block, REBNCONV) and isinstance(block.bn_s1, nn.BatchNorm2d):
            block.conv_s1 = fuse_conv_bn_eval(block.conv_s1, block.bn_s1)
            block.bn_s1 = nn.Identity()
    return net.to(memory_format=torch.channels_last)


def load_checkpoint(path: str | os.PathLike, arch: str = "u2netp", optimize: bool = False) -> _U2NetBase:
    """Build `arch`, strict-load the official-format state dict at `path`, return it in eval mode (CPU).

    `optimize=True` also applies `optimize_for_inference` (BN folding + channels_last) for serving.
    """
    net = build(arch)
    strict_load(net, load_state_dict(path), what=f"{arch} from {os.fspath(path)}")
    net.eval()
    return optimize_for_inference(net) if optimize else net
