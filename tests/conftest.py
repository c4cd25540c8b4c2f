"""Fixtures every kind of test shares.

`torchserve`: one real TorchServe per test session, serving every built MAR on free loopback ports
(closet_dev.torchserve.ephemeral). `kserve`: the same MARs on the KServe runtime (closet/kserve,
closet_dev.kserve.ephemeral). `server`: both in turn (params torchserve, kserve): a test that takes
it runs once per runtime, against the same API (inference_url, predict, require, describe,
worker_pids, metrics_text, management_url). Serve tests are marked `@pytest.mark.serve`:

    @pytest.mark.serve
    def test_x(server):
        r = server.predict("segmentation", data=png_bytes)

A model whose MAR is not built is skipped with a reason (`server.require`); nothing is
collect_ignore'd. The photos are the package photos the project may use (scikit-image, matplotlib).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from closet import config as closet_config
from closet.config import ENSEMBLE
from closet_dev.torchserve import MODEL_STORE, TorchServeSession, built_mars, ephemeral, local_properties

RUNTIMES = ("torchserve", "kserve")


class Served(TorchServeSession):
    """The session server, plus `require`: skip a test whose MAR is not built, fail one that did not load."""

    runtime = "torchserve"
    # Where the handlers' log lines (request ids, refusals) go.
    log_name = "model_log.log"

    @property
    def log_file(self):
        return self.log_dir / self.log_name

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


class KServed(Served):
    """The KServe runtime's session: the same API, plus its gRPC address."""

    runtime = "kserve"
    log_name = "kserve.log"

    @property
    def grpc_target(self) -> str:
        return self.server.grpc_target


@pytest.fixture(scope="session")
def kserve(tmp_path_factory):
    """The KServe runtime (closet/kserve) on free loopback ports serving every built MAR (KServed)."""
    from closet_dev.kserve import ephemeral as kserve_ephemeral

    mars = built_mars(MODEL_STORE)
    if not mars:
        pytest.skip(f"no MAR in {MODEL_STORE} (run `make mars`)")
    with kserve_ephemeral(tmp_path_factory.mktemp("kserve"), mars, allow_failed=True,
                          session_class=KServed) as session:
        yield session


@pytest.fixture(scope="session", params=RUNTIMES)
def server(request):
    """Each runtime in turn, serving every built MAR: the `torchserve` or the `kserve` session."""
    return request.getfixturevalue(request.param)


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
    with ephemeral(tmp_path_factory.mktemp("kserve-variant"), mars, properties=kserve_properties) as session:
        yield session


@pytest.fixture(scope="session", params=RUNTIMES)
def v2_server(request):
    """What answers KServe's v1/v2 protocol: TorchServe's kserve variant, and the KServe runtime."""
    return request.getfixturevalue("kserve_torchserve" if request.param == "torchserve" else "kserve")


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
