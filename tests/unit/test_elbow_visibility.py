"""tools/elbow_visibility.py (`make elbow-visibility`): the sweep behind closet.body.ELBOW_SEEN, on
the real photos through the built archive. The mirrored astronaut's elbow, behind the helmet she
holds, reads just above BlazePose's own 0.5 and below ELBOW_SEEN, so it is listed and not seen."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from closet.body import ELBOW_SEEN, VISIBLE
from closet.config import ENSEMBLE, REPO_ROOT
from closet_dev.mar import mar_path


def test_the_sweep_lists_the_hidden_elbow_below_the_threshold(tmp_path):
    if not mar_path(ENSEMBLE).exists():
        pytest.skip("the archives are not built: run `make mars`")
    r = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "elbow_visibility.py"), "--variants",
                        str(tmp_path / "none")], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("astronaut_flip ")]
    hidden = [ln for ln in rows if "side -1" in ln]
    assert len(hidden) == 1, r.stdout
    elbow = float(re.search(r"elbow (\d\.\d+)", hidden[0]).group(1))
    assert VISIBLE <= elbow < ELBOW_SEEN and "seen False" in hidden[0]
    for ln in r.stdout.splitlines()[1:]:  # every listed arm counts as seen only from ELBOW_SEEN
        seen = float(re.search(r"elbow (\d\.\d+)", ln).group(1)) >= ELBOW_SEEN
        assert seen or "seen False" in ln, ln
