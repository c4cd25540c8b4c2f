"""Handler unit tests without TorchServe: a fake context, and the handler modules imported by model name."""

from __future__ import annotations

from pathlib import Path

from closet import config as closet_config
from closet.config import REPO_ROOT


class FakeContext:
    """The parts of ts.context.Context a ClosetHandler uses, for handler unit tests.

    FakeContext(model_dir, headers=[{...}, ...]) ; after handle(): .status[idx], .content_type[idx],
    .headers_out[idx]. gpu_id None -> CPU. metrics None -> PipelineMetrics records into .recorded.
    """

    def __init__(self, model_dir: str | Path, headers: list[dict[str, str]] | None = None, gpu_id=None):
        self.system_properties = {"model_dir": str(model_dir), "gpu_id": gpu_id}
        self.manifest = {"model": {}}
        self.metrics = None
        self.request_headers = headers or []
        self.status: dict[int, tuple[int, str]] = {}
        self.content_type: dict[int, str] = {}
        self.headers_out: dict[int, dict[str, str]] = {}

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return self.request_headers[idx] if idx < len(self.request_headers) else {}

    def get_request_header(self, idx: int, key: str):
        return self.get_all_request_header(idx).get(key)

    def get_request_id(self, idx: int = 0) -> str:
        return f"req-{idx}"

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.status[idx] = (code, phrase)

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.content_type[idx] = value

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self.headers_out.setdefault(idx, {})[key] = value


def load_handler_module(name: str):
    """Import the handler of model `name` (handlers/ is not a package) as module `closet_handler_<name>`."""
    import importlib.util

    path = REPO_ROOT / closet_config.load().model(name).handler
    spec = importlib.util.spec_from_file_location(f"closet_handler_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def archive_files(model: str) -> dict[str, Path]:
    """The default source of every file model `model`'s archive packs, by its name inside the archive."""
    from closet.stages import STAGES_OF_MODEL

    return {f.name: REPO_ROOT / f.default for stage in STAGES_OF_MODEL[model] for f in stage.files if f.default}


def model_dir(path: Path, model: str) -> Path:
    """`path` laid out like model `model`'s extracted archive, its files linked from their defaults."""
    path.mkdir(parents=True, exist_ok=True)
    for name, src in archive_files(model).items():
        (path / name).symlink_to(src)
    return path
