"""The `closet` console command against the session's real TorchServe: describe, one photo (REST and
KServe v2), a folder of five at concurrency 2, and a folder with a file the API refuses."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
from PIL import Image

CLOSET = Path(sys.executable).with_name("closet")  # the console entry point `make venv` installs
pytestmark = pytest.mark.serve


def closet(ts, *args, timeout=600) -> subprocess.CompletedProcess:
    ts.require("closet")
    assert CLOSET.is_file(), f"{CLOSET} missing: `make venv` installs the console script"
    return subprocess.run([str(CLOSET), "--url", ts.inference_url, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """The astronaut and Grace Hopper in several formats and sizes."""
    d = tmp_path_factory.mktemp("photos")
    astronaut = Image.fromarray(skimage.data.astronaut())
    grace = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg"))
    out = {"astronaut.png": d / "astronaut.png", "grace.jpg": d / "grace.jpg"}
    astronaut.save(out["astronaut.png"])
    shutil.copy(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), out["grace.jpg"])
    out["astronaut-mirror.jpg"] = d / "astronaut-mirror.jpg"
    astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out["astronaut-mirror.jpg"], quality=92)
    out["astronaut-small.webp"] = d / "astronaut-small.webp"
    astronaut.resize((384, 384), Image.Resampling.LANCZOS).save(out["astronaut-small.webp"], lossless=True)
    out["grace-small.png"] = d / "grace-small.png"
    grace.resize((384, 450), Image.Resampling.LANCZOS).save(out["grace-small.png"])
    return out


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_describe_lists_the_ensembles_targets(torchserve):
    r = closet(torchserve, "describe")
    assert r.returncode == 0, r.stderr
    url = f"{torchserve.management_url}/models/closet?customized=true"
    with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 (loopback)
        meta = json.loads(resp.read())[0]["customizedMetadata"]  # TorchServe 0.12 sends it as an object
    targets = (json.loads(meta) if isinstance(meta, str) else meta)["targets"]
    assert r.stdout.split() == targets  # the translation model's domains are the ensemble's targets


def test_one_photo_rest_and_v2_give_the_same_swap(torchserve, photos, tmp_path):
    src = photos["astronaut.png"]
    rest = closet(torchserve, "swap", src, "--target", "dress", "--seed", 3, "-o", tmp_path / "rest.png")
    assert rest.returncode == 0, rest.stderr
    v2 = closet(torchserve, "--protocol", "v2", "swap", src, "--target", "dress", "--seed", 3, "--json",
                "-o", tmp_path / "v2.png")
    assert v2.returncode == 0, v2.stderr
    out = pixels(tmp_path / "rest.png")
    assert out.shape == pixels(src).shape
    changed = (out != pixels(src)).any(axis=2).mean()
    assert 0.005 < changed < 0.9, f"{changed:.1%} of the pixels changed"
    assert np.array_equal(out, pixels(tmp_path / "v2.png"))
    meta = json.loads((tmp_path / "v2.png.json").read_text())
    assert (meta["target"], meta["seed"], meta["mode"]) == ("dress", 3, "latent")
    assert "ok      astronaut.png" in rest.stderr and "swapped 1 of 1 photo(s)" in rest.stderr


def test_a_folder_of_five_at_concurrency_two(torchserve, photos, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, path in photos.items():
        shutil.copy(path, folder / name)
    r = closet(torchserve, "swap", folder, "--target", "coat", "-o", tmp_path / "out", "--concurrency", 2)
    assert r.returncode == 0, r.stderr
    assert "swapped 5 of 5 photo(s)" in r.stderr and "(2 at a time)" in r.stderr
    for name in photos:
        out = tmp_path / "out" / f"{Path(name).stem}.png"
        assert Image.open(out).format == "PNG"
        assert pixels(out).shape == pixels(folder / name).shape, name


def test_a_bad_file_is_reported_and_the_rest_go_on(torchserve, photos, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photos["astronaut.png"], folder / "astronaut.png")
    shutil.copy(photos["grace.jpg"], folder / "grace.jpg")
    (folder / "notes.txt").write_text("not a photo\n")
    r = closet(torchserve, "swap", folder, "--target", "shirt", "--format", "jpeg", "-o", tmp_path / "out",
               "--concurrency", 2)
    assert r.returncode == 1, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["astronaut.jpeg", "grace.jpeg"]
    assert Image.open(io.BytesIO((tmp_path / "out" / "grace.jpeg").read_bytes())).format == "JPEG"
    assert "FAILED  notes.txt: This file is not a photo the server can read." in r.stderr
    assert "swapped 2 of 3 photo(s)" in r.stderr and "notes.txt: bad_image (HTTP 400)" in r.stderr
