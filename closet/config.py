"""The one serving configuration: `config/closet.yaml`, validated into dataclasses.

Everything else (config.properties variants, model-config yaml, Helm defaults,
tests) is rendered from or reads this, so each knob is set in one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILENAME = "closet.yaml"
DEFAULT_PATH = REPO_ROOT / "config" / CONFIG_FILENAME
# The served models: each name is the archive (model-store/<name>.mar), the URL (/predictions/<name>),
# the metric label and the chart key. closet.stages.STAGES_OF_MODEL says what each one runs.
SEGMENTATION, PARSING, TRANSLATION, ENSEMBLE = MODEL_NAMES = ("segmentation", "parsing", "translation", "closet")


# The networks whose runtime and precision `networks` sets (closet/runtime.py says what each value means).
NETWORKS = ("u2net", "blazepose", "stargan", "schp")
RUNTIMES = ("auto", "onnxruntime", "openvino", "torch")
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


class ConfigError(ValueError):
    """The configuration file is missing a key or holds a bad value."""


@dataclass(frozen=True)
class ServerConfig:
    bind: str
    inference_port: int
    management_port: int
    metrics_port: int
    worker_metrics_port: int  # closet's own-bucket histograms (closet/serving/worker_metrics.py)
    grpc_port: int  # gRPC v2 of the KServe runtime (closet/kserve); TorchServe's unused gRPC
    web_port: int  # the demo page (closet_client.web); never a TorchServe port
    max_request_size: int  # bytes
    max_response_size: int  # bytes
    job_queue_size: int
    jvm_options: str  # config.properties vmargs: the Java frontend's options


@dataclass(frozen=True)
class Limits:
    max_pixels: int  # decoded width*height
    max_side: int  # pixels
    max_option_chars: int


@dataclass(frozen=True)
class ModelConfig:
    name: str
    handler: str  # repo-relative handler file the archive builder packs
    min_workers: int
    max_workers: int
    batch_size: int
    max_batch_delay_ms: int
    response_timeout_s: int


@dataclass(frozen=True)
class NetworkRuntime:
    """How one network runs (closet/runtime.py)."""

    runtime: str = "auto"
    precision: str = "fp32"


@dataclass(frozen=True)
class ClosetConfig:
    server: ServerConfig
    limits: Limits
    models: dict[str, ModelConfig] = field(default_factory=dict)
    networks: dict[str, NetworkRuntime] = field(default_factory=dict)
    source: str = ""

    def model(self, name: str) -> ModelConfig:
        return self.models[name]

    def network(self, name: str) -> NetworkRuntime:
        return self.networks[name]


def _section(raw: dict, key: str, cls, **extra):
    if key not in raw or not isinstance(raw[key], dict):
        raise ConfigError(f"config: missing section '{key}'")
    data = dict(raw[key])
    names = {f for f in cls.__dataclass_fields__} - set(extra)
    unknown = set(data) - names
    missing = names - set(data)
    if unknown:
        raise ConfigError(f"config: unknown key(s) in '{key}': {sorted(unknown)}")
    if missing:
        raise ConfigError(f"config: missing key(s) in '{key}': {sorted(missing)}")
    for name in names:
        expected = cls.__dataclass_fields__[name].type
        value = data[name]
        if expected == "int" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigError(f"config: '{key}.{name}' must be a non-negative integer, got {value!r}")
        if expected == "str" and not isinstance(value, str):
            raise ConfigError(f"config: '{key}.{name}' must be a string, got {value!r}")
    return cls(**data, **extra)


def parse(raw: dict, source: str = "") -> ClosetConfig:
    """Validate a parsed YAML mapping into a ClosetConfig."""
    if not isinstance(raw, dict):
        raise ConfigError("config: top level must be a mapping")
    unknown = set(raw) - {"server", "limits", "models", "networks"}
    if unknown:
        raise ConfigError(f"config: unknown top-level key(s): {sorted(unknown)}")
    server = _section(raw, "server", ServerConfig)
    ports = [server.inference_port, server.management_port, server.metrics_port, server.web_port, server.grpc_port]
    if len(set(ports)) != len(ports) or not all(0 < p < 65536 for p in ports):
        raise ConfigError(f"config: server ports must be distinct and in 1..65535, got {ports}")
    limits = _section(raw, "limits", Limits)
    models_raw = raw.get("models") or {}
    if set(models_raw) != set(MODEL_NAMES):
        raise ConfigError(f"config: 'models' must define exactly {list(MODEL_NAMES)}")
    models = {n: _section(models_raw, n, ModelConfig, name=n) for n in MODEL_NAMES}
    for m in models.values():
        if m.min_workers > m.max_workers or m.batch_size < 1:
            raise ConfigError(f"config: model '{m.name}' needs 1 <= batch_size and min_workers <= max_workers")
    return ClosetConfig(server=server, limits=limits, models=models, networks=_networks(raw), source=source)


def _networks(raw: dict) -> dict[str, NetworkRuntime]:
    given = raw.get("networks")
    if not isinstance(given, dict) or set(given) != set(NETWORKS):
        raise ConfigError(f"config: 'networks' must define exactly {list(NETWORKS)}")
    out = {}
    for name in NETWORKS:
        entry = _section(given, name, NetworkRuntime)
        if entry.runtime not in RUNTIMES or entry.precision not in PRECISIONS:
            raise ConfigError(f"config: networks.{name} needs runtime in {list(RUNTIMES)} and precision in "
                              f"{list(PRECISIONS)}, got {entry.runtime!r}, {entry.precision!r}")
        out[name] = entry
    return out


def find_config(model_dir: str | os.PathLike | None = None) -> Path:
    """Where the config lives: $CLOSET_CONFIG, then a copy packed in the MAR, then the repo's."""
    env = os.environ.get("CLOSET_CONFIG")
    if env:
        return Path(env)
    if model_dir is not None and (Path(model_dir) / CONFIG_FILENAME).is_file():
        return Path(model_dir) / CONFIG_FILENAME
    return DEFAULT_PATH


def load(path: str | os.PathLike | None = None, model_dir: str | os.PathLike | None = None) -> ClosetConfig:
    """Read and validate the config file (see find_config for the search order)."""
    p = Path(path) if path is not None else find_config(model_dir)
    with open(p, encoding="utf-8") as f:
        return parse(yaml.safe_load(f), source=str(p))
