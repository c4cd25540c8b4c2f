"""Fixtures every kind of test shares.

`torchserve`: one real TorchServe per test session, serving every built MAR on free loopback ports
(closet_dev.torchserve.ephemeral). Serve tests are marked `@pytest.mark.serve` and take it:

    @pytest.mark.serve
    def test_x(torchserve):
        r = torchserve.predict("segmentation", data=png_bytes)

A model whose MAR is not built is skipped with a reason (`torchserve.require`); nothing is
collect_ignore'd. The photos are the package photos the project may use (scikit-image, matplotlib).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from closet import config as closet_config
from closet.config import ENSEMBLE
from closet_dev.torchserve import MODEL_STORE, TorchServeSession, built_mars, ephemeral, local_properties


class Served(TorchServeSession):
    """The session server, plus `require`: skip a test whose MAR is not built, fail one that did not load."""

    @property
    def config(self) -> closet_config.ClosetConfig:
        return closet_config.load()

    def require(self, name: str) -> str:
        if name in self.failed:
            pytest.fail(f"model-store/{name}.mar is built but did not load: {self.failed[name]}")
        if name not in self.models:
            pytest.skip(f"model-store/{name}.mar is not built (run `make mars`); TorchServe serves {self.models}")
        return self.url(name)

    def predict(self, name: str, timeout: float = 120.0, **kwargs):
        return self.http.post(self.require(name), timeout=timeout, **kwargs)


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory):
    """A running TorchServe on free loopback ports serving every built MAR (Served)."""
    mars = built_mars(MODEL_STORE)
    if not mars:
        pytest.skip(f"no MAR in {MODEL_STORE} (run `make mars`)")
    # One broken MAR must not take every other model's tests down: require() reports it.
    with ephemeral(tmp_path_factory.mktemp("torchserve"), mars, allow_failed=True, session_class=Served) as session:
        yield session


def kserve_properties(ports: dict[str, int], store) -> str:
    """The kserve variant, narrowed for a test: loopback only, and the snapshot lists the ensemble alone."""
    import json

    text = local_properties("kserve")(ports, store)
    # TorchServe 0.12's kservev2 envelope answers only a batch's first request; the handler does v2 itself.
    assert "service_envelope" not in text
    lines = []
    for line in text.splitlines():
        if line.startswith("model_snapshot="):
            snap = json.loads(line.split("=", 1)[1])
            snap["models"] = {ENSEMBLE: snap["models"][ENSEMBLE]}
            snap["modelCount"] = 1
            line = "model_snapshot=" + json.dumps(snap)
        elif line.startswith("load_models="):
            line = f"load_models={ENSEMBLE}.mar"
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def kserve_torchserve(tmp_path_factory):
    """A TorchServe with the KServe variant of config.properties, serving the ensemble alone."""
    mars = built_mars(MODEL_STORE, [ENSEMBLE])
    if not mars:
        pytest.skip(f"model-store/{ENSEMBLE}.mar is not built (run `make mars`)")
    with ephemeral(tmp_path_factory.mktemp("kserve"), mars, properties=kserve_properties) as session:
        yield session


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (Eileen Collins), uint8 RGB 512x512."""
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """matplotlib's grace_hopper.jpg, uint8 RGB."""
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))
