"""Render TorchServe's configuration files from config/closet.yaml (`make config`).

Pure functions (string in, string out) plus a small CLI:

    python -m closet_dev.configgen            # write every generated file
    python -m closet_dev.configgen --check    # exit 1 and list the files that drifted

API (used by `make config`, the test fixture, the Helm and KServe renderers):

    render_properties(cfg, variant="local", *, ports=None, model_store=None,
                      metrics_config=None) -> str
        config.properties text. Variants:
          local   inference/management/metrics on 127.0.0.1 (cfg.server.bind) with the configured
                  ports; model_store "model-store" and metrics_config "config/metrics.yaml", both
                  relative to the repo root where `make serve` starts TorchServe.
          helm    inference and metrics on 0.0.0.0, management on 127.0.0.1 (reached with
                  `kubectl exec`/port-forward only); paths under /home/model-server.
          kserve  like helm, plus model_store=/mnt/models/model-store (no service_envelope: the
                  handlers answer KServe v2/v1 JSON per request, closet/serving/kserve_v2.py),
                  metrics_config=/mnt/models/config/metrics.yaml and the `model_snapshot` KServe's
                  TorchServe wrapper reads to find model names. TorchServe's inference port is
                  KSERVE_INFERENCE_PORT (8085) because KServe's own server takes 8080.
        `ports` maps any of "inference"/"management"/"metrics"/"grpc_inference"/"grpc_management"
        to a port (the test fixture passes free ones); `model_store`/`metrics_config` override the variant's paths.
    render_model_config(model: ModelConfig) -> str
        the model-config.yaml passed to torch-model-archiver --config-file.
    render_metrics_config() -> str
        TorchServe's metrics_config: its default ts_metrics plus closet.metrics.METRICS.
    generated_files(cfg) -> dict[relative path, text]   every file `make config` writes.
    write(cfg, root) / drift(cfg, root) -> list[str]     write them / list those that differ.

Layering (each TorchServe knob is set in ONE place):
  * Per-model knobs (minWorkers, maxWorkers, batchSize, maxBatchDelay, responseTimeout) live only
    in the model-config.yaml packed into each .mar. The .mar is the one artefact that travels to
    every variant (local, Helm, KServe), and TorchServe 0.12 lets the .mar's values win over
    config.properties anyway (ModelManager.createModel / ModelServer.initModelStore).
    So local/helm config.properties carry no `models=` block. The kserve variant must carry
    `model_snapshot` (KServe's wrapper and TorchServe's snapshot loader require every field);
    it is rendered from the same ModelConfig, so the values cannot disagree with the .mar.
  * Server knobs (addresses, sizes, queue, auth, metrics) live only in config.properties.
    load_models lists closet's four MARs instead of `all` (which would also load every directory in
    the store, e.g. model-store/weights/, as a model); a listed MAR that is not built is skipped.
  * Nothing is set through environment variables (enable_envvars_config stays off) or CLI flags
    other than the --ts-config/--model-store that point at these files.

Token authorization is disabled (disable_token_authorization=true) because the local variant binds
loopback only and the management API (the one that can change state) never leaves 127.0.0.1 in any
variant; registering models through the API is off as well (enable_model_api=false).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from closet import config as closet_config
from closet.config import ClosetConfig, ModelConfig
from closet.metrics import model_metrics_section

log = logging.getLogger(__name__)

VARIANTS = ("local", "helm", "kserve")
KSERVE_INFERENCE_PORT = 8085


def grpc_ports(cfg: ClosetConfig) -> dict[str, int]:
    """TorchServe always starts gRPC; closet's TorchServe does not use it, so it stays on loopback, on
    server.grpc_port (the KServe runtime's gRPC port) and the port after it."""
    return {"grpc_inference": cfg.server.grpc_port, "grpc_management": cfg.server.grpc_port + 1}


GRPC_PORTS = grpc_ports(closet_config.load(closet_config.DEFAULT_PATH))
MODEL_VERSION = "1.0"

# Where each generated file goes, relative to the repo root.
PROPERTIES_PATH = "config/config.properties"
METRICS_CONFIG_PATH = "config/metrics.yaml"
MODEL_CONFIG_DIR = "config/model-config"
# The archive rules and build-input variables, included by the Makefile like every mk/*.mk.
MARS_MAKEFILE_PATH = "mk/mars.mk"
# Variant -> committed config.properties path. The Helm/KServe renderers add their entries here
# (e.g. "helm": "helm/closet/files/config.properties") so `make config --check` covers them.
VARIANT_OUTPUTS: dict[str, str] = {"local": PROPERTIES_PATH}

_VARIANT_PATHS = {
    "local": {"model_store": "model-store", "metrics_config": METRICS_CONFIG_PATH},
    "helm": {
        "model_store": "/home/model-server/model-store",
        "metrics_config": "/home/model-server/config/metrics.yaml",
    },
    "kserve": {
        "model_store": "/mnt/models/model-store",
        "metrics_config": "/mnt/models/config/metrics.yaml",
    },
}

HEADER = "# GENERATED by `make config` (closet_dev/configgen.py) from config/closet.yaml. Do not edit.\n"


def model_config_path(name: str) -> str:
    """Repo-relative path of a model's model-config.yaml."""
    # Not "<name>.yaml": the archiver packs it under its basename, and closet.yaml is taken.
    return f"{MODEL_CONFIG_DIR}/{name}-model-config.yaml"


def model_knobs(model: ModelConfig) -> dict[str, int]:
    """TorchServe's per-model knobs, in its own key names."""
    return {
        "minWorkers": model.min_workers,
        "maxWorkers": model.max_workers,
        "batchSize": model.batch_size,
        "maxBatchDelay": model.max_batch_delay_ms,
        "responseTimeout": model.response_timeout_s,
    }


def _allowed_urls(model_store: str) -> str:
    # Only .mar files directly inside the model store; Java Properties needs "\\." for a regex "\.".
    # A relative store (local variant) is resolved by TorchServe against its start directory,
    # so the pattern accepts any absolute prefix that ends in that directory.
    if model_store.startswith("/"):
        prefix = model_store.rstrip("/")
    else:
        prefix = "/.*/" + model_store.strip("/")
    return f"file://{prefix}/[A-Za-z0-9_-]+\\\\.mar"


def render_properties(
    cfg: ClosetConfig,
    variant: str = "local",
    *,
    ports: dict[str, int] | None = None,
    model_store: str | None = None,
    metrics_config: str | None = None,
) -> str:
    """config.properties text for one variant (see module docstring)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    s = cfg.server
    port = {"inference": s.inference_port, "management": s.management_port, "metrics": s.metrics_port,
            **grpc_ports(cfg)}
    if variant == "kserve":
        port["inference"] = KSERVE_INFERENCE_PORT
    unknown = set(ports or {}) - set(port)
    if unknown:
        raise ValueError(f"unknown port name(s): {sorted(unknown)}")
    port.update(ports or {})
    public = s.bind if variant == "local" else "0.0.0.0"
    paths = dict(_VARIANT_PATHS[variant])
    if model_store is not None:
        paths["model_store"] = model_store
    if metrics_config is not None:
        paths["metrics_config"] = metrics_config

    lines = [
        HEADER.rstrip("\n"),
        f"# variant: {variant}",
        f"inference_address=http://{public}:{port['inference']}",
        # Management can change what is served: loopback only, in every variant.
        f"management_address=http://127.0.0.1:{port['management']}",
        f"metrics_address=http://{public}:{port['metrics']}",
        "# gRPC is unused; TorchServe cannot turn it off, so it listens on loopback only.",
        "grpc_inference_address=127.0.0.1",
        f"grpc_inference_port={port['grpc_inference']}",
        "grpc_management_address=127.0.0.1",
        f"grpc_management_port={port['grpc_management']}",
        "metrics_mode=prometheus",
        "enable_metrics_api=true",
        f"metrics_config={paths['metrics_config']}",
        "# Loopback-only management + no model API: token auth would only add a key file to manage.",
        "disable_token_authorization=true",
        "enable_model_api=false",
        f"allowed_urls={_allowed_urls(paths['model_store'])}",
        "install_py_dep_per_model=false",
        f"max_request_size={s.max_request_size}",
        f"max_response_size={s.max_response_size}",
        f"job_queue_size={s.job_queue_size}",
        *([f"vmargs={s.jvm_options}"] if s.jvm_options else []),
        f"model_store={paths['model_store']}",
        # Not `all`: that also loads every directory in the store (model-store/weights/) as a model.
        # A listed .mar that is not built is skipped with a warning.
        "load_models=" + ",".join(f"{name}.mar" for name in cfg.models),
        "# Per-model workers/batching come from each .mar's model-config.yaml (one layer).",
        "default_workers_per_model=1",
    ]
    if variant == "kserve":
        # No service_envelope: TorchServe 0.12's kserve/kservev2 envelopes read only the first request
        # of a batch; closet's handlers decode KServe v2/v1 JSON per request (closet/serving/kserve_v2.py).
        snapshot = {
            "name": "startup.cfg",
            "modelCount": len(cfg.models),
            "models": {
                name: {MODEL_VERSION: {"defaultVersion": True, "marName": f"{name}.mar", **model_knobs(m)}}
                for name, m in cfg.models.items()
            },
        }
        lines.append("model_snapshot=" + json.dumps(snapshot, separators=(",", ":"), sort_keys=True))
    return "\n".join(lines) + "\n"


def render_model_config(model: ModelConfig) -> str:
    """model-config.yaml for torch-model-archiver --config-file."""
    return HEADER + yaml.safe_dump(model_knobs(model), sort_keys=False)


def _ts_default_metrics() -> dict:
    """TorchServe's own default metrics_config (ts_metrics + default model_metrics)."""
    import ts  # the installed TorchServe ships its default; copying it keeps one source

    with open(Path(ts.__file__).parent / "configs" / "metrics.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def render_metrics_config(defaults: dict | None = None) -> str:
    """TorchServe metrics_config: default ts_metrics plus every closet metric as a model metric."""
    data = defaults if defaults is not None else _ts_default_metrics()
    model_metrics: dict[str, list] = {}
    for kind, entries in (data.get("model_metrics") or {}).items():
        model_metrics.setdefault(kind, []).extend(entries)
    for kind, entries in model_metrics_section().items():
        model_metrics.setdefault(kind, []).extend(entries)
    out = {"dimensions": data.get("dimensions", []), "ts_metrics": data["ts_metrics"], "model_metrics": model_metrics}
    return HEADER + yaml.safe_dump(out, sort_keys=False, default_flow_style=None)


def generated_files(cfg: ClosetConfig) -> dict[str, str]:
    """Every file `make config` owns: repo-relative path -> text."""
    from closet_dev import memory
    from closet_dev.mar import makefile

    files = {path: render_properties(cfg, variant) for variant, path in VARIANT_OUTPUTS.items()}
    files[memory.CONFIG_FILE] = memory.render_chart_file(cfg)
    files[MARS_MAKEFILE_PATH] = makefile()
    files[METRICS_CONFIG_PATH] = render_metrics_config()
    for name, model in cfg.models.items():
        files[model_config_path(name)] = render_model_config(model)
    return files


def drift(cfg: ClosetConfig, root: Path = closet_config.REPO_ROOT) -> list[str]:
    """Generated files whose committed text differs from a fresh render."""
    out = []
    for rel, text in generated_files(cfg).items():
        p = Path(root) / rel
        if not p.is_file() or p.read_text(encoding="utf-8") != text:
            out.append(rel)
    return out


def write(cfg: ClosetConfig, root: Path = closet_config.REPO_ROOT) -> list[str]:
    """Write the generated files that changed; returns their paths."""
    changed = drift(cfg, root)
    files = generated_files(cfg)
    for rel in changed:
        p = Path(root) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(files[rel], encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m closet_dev.configgen", description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="closet.yaml to render (default: config/closet.yaml)")
    ap.add_argument("--root", default=str(closet_config.REPO_ROOT), help="repo root to write under")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file drifted")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = closet_config.load(args.config) if args.config else closet_config.load(closet_config.DEFAULT_PATH)
    if args.check:
        stale = drift(cfg, Path(args.root))
        for rel in stale:
            log.error("drift: %s differs from `make config` output", rel)
        return 1 if stale else 0
    for rel in write(cfg, Path(args.root)):
        log.info("wrote %s", rel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
