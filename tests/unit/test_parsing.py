"""Label spaces, garment masks, palettised PNG and JSON summary."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from closet import parsing
from closet.config import REPO_ROOT

REF = REPO_ROOT / "tests" / "reference"


@pytest.mark.parametrize("dataset", ["atr", "lip", "pascal"])
def test_labels_and_palette_match_the_manifest(dataset):
    ref = json.loads((REF / f"schp_{dataset}.json").read_text())
    assert list(parsing.LABELS[dataset]) == ref["labels"]
    pal = np.array(parsing.PALETTE).reshape(-1, 3)
    assert pal[: ref["num_classes"]].tolist() == ref["palette_rgb"]


def test_pose_label_space_is_one_garment_per_person():
    assert parsing.LABELS[parsing.POSE_LABEL_SPACE][0] == "Background"
    assert parsing.parser_name(parsing.POSE_LABEL_SPACE) == "pose-garment"
    assert parsing.parser_name("lip") == "schp-lip"


def test_garment_labels_per_dataset():
    assert parsing.garment_labels("atr") == [4]
    assert parsing.garment_labels("lip") == [5]
    assert parsing.garment_labels("lip", ["upper-clothes", "coat", "dress"]) == [5, 7, 6]
    assert parsing.garment_labels("atr", ["upper-clothes", "coat"]) == [4]  # ATR has no coat
    assert parsing.garment_labels("pascal") == [2]  # Torso
    assert parsing.garment_labels(parsing.POSE_LABEL_SPACE) == [1, 2, 3, 4]  # every person's garment
    with pytest.raises(ValueError, match="unknown garment"):
        parsing.garment_labels("atr", ["cape"])


def test_garment_mask_summary_and_bbox():
    labels = np.zeros((10, 12), np.uint8)
    labels[2:5, 3:8] = 4  # upper clothes, 15 px
    labels[6:8, 1:3] = 7  # dress, 4 px
    labels[0, 0] = 11
    mask = parsing.garment_mask(labels, "atr")
    assert mask.sum() == 15
    s = parsing.summary(labels, "atr")
    assert s["parser"] == "schp-atr"
    assert s["garment"] == {"garments": ["upper-clothes"], "labels": ["Upper-clothes"], "pixels": 15, "bbox": [3, 2, 7, 4]}
    assert {d["name"]: d["pixels"] for d in s["labels"]} == {"Background": 100, "Face": 1, "Upper-clothes": 15, "Dress": 4}
    s2 = parsing.summary(labels, "atr", ["upper-clothes", "dress"])
    assert s2["garment"]["pixels"] == 19 and s2["garment"]["bbox"] == [1, 2, 7, 7]
    assert parsing.summary(np.zeros((3, 3), np.uint8), "lip")["garment"]["bbox"] is None
    json.dumps(s)


def test_label_png_is_palettised_and_lossless():
    labels = np.arange(20, dtype=np.uint8).repeat(3).reshape(6, 10)
    img = Image.open(io.BytesIO(parsing.label_png(labels)))
    assert img.format == "PNG" and img.mode == "P"
    np.testing.assert_array_equal(np.asarray(img), labels)
    assert img.getpalette()[: 3 * 5] == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128]
