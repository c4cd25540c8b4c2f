"""Fixtures for the pure image tests: the package photos with their keypoints and U^2-Net-P
person masks, computed once per session (one forward pass for the three photos)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

WEIGHTS = Path(__file__).resolve().parents[2] / "model-store/weights/u2netp.pth"


@pytest.fixture(scope="session")
def photo_people():
    """{name: (Scene, person mask)} for astronaut, camera, grace_hopper."""
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} missing: run `make weights`")
    from closet_dev import package_photos as pp

    scenes = [pp.photo(n) for n in pp.PHOTOS]
    masks = pp.person_masks([s.image for s in scenes], str(WEIGHTS))
    return {s.name: (s, m) for s, m in zip(scenes, masks)}


@pytest.fixture(scope="module")
def people(photo_people):
    """{name: (image, GarmentParse)} for the three package photos."""
    from closet import garment as gm

    return {name: (scene.image, gm.garment_mask(scene.image, person, scene.people[0]))
            for name, (scene, person) in photo_people.items()}


@pytest.fixture(scope="session")
def translator():
    from closet.models.stargan_v2 import load_with_sidecar

    root = Path(__file__).resolve().parents[2] / "assets/stargan-fmnist"
    return load_with_sidecar(str(root / "nets_ema.ckpt"), str(root / "meta.json")).eval()


@pytest.fixture(scope="session")
def fmnist_samples() -> dict[str, np.ndarray]:
    """The committed Fashion-MNIST test image of each domain, 28x28 gray upsampled to 32 (the
    generator's size): garments drawn as the translator draws them."""
    import cv2

    root = Path(__file__).resolve().parents[2] / "assets/stargan-fmnist/samples"
    return {p.stem: cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (32, 32), interpolation=cv2.INTER_LINEAR)
            for p in sorted(root.glob("*.png"))}


@pytest.fixture(scope="session")
def random_u2netp(tmp_path_factory):
    """An official-format u2netp.pth of seeded random-init weights (an archive's contents, not quality)."""
    import torch

    from closet.models.u2net import build

    weights = tmp_path_factory.mktemp("weights") / "u2netp.pth"
    torch.manual_seed(0)
    torch.save(build("u2netp").state_dict(), weights)
    return weights


@pytest.fixture(scope="session")
def segmentation_mar(tmp_path_factory, random_u2netp):
    """A real segmentation.mar built by the archive table (random-init weights: contents, not quality)."""
    from closet_dev import mar

    tmp = tmp_path_factory.mktemp("mar")
    env = {"U2NETP_WEIGHTS": str(random_u2netp), "PATH": ""}
    return mar.build("segmentation", store=tmp / "store", env=env, stage_dir=tmp / "stage")
