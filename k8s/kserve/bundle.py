"""Lay out KServe storageUri bundles from the built MARs (`make kserve-bundle`).

    python k8s/kserve/bundle.py [--out kserve-bundle] [--model-store model-store]

KServe's pytorch (TorchServe) runtime expects <storageUri>/config/config.properties and
<storageUri>/model-store/*.mar. Every config.properties here is closet_dev/configgen.py's "kserve"
variant, rendered from config/closet.yaml; nothing is typed twice:

    closet/        all models, v2 protocol        (k8s/kserve/inferenceservice.yaml)
    closet-v1/     all models, the same config     (k8s/kserve/inferenceservice-v1.yaml)
    segmentation/ parsing/ translation/
                   one model each, v2              (k8s/graph/*.yaml, the InferenceGraph steps)

Upload with e.g. `aws s3 sync kserve-bundle/ s3://<bucket>/closet/<version>/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import sys
from pathlib import Path

from closet import config as closet_config
from closet_dev import configgen

log = logging.getLogger("kserve-bundle")

STAGES = ("segmentation", "parsing", "translation")


def layouts(cfg: closet_config.ClosetConfig) -> dict[str, tuple[tuple[str, ...], str]]:
    """Bundle name -> (models it serves, config.properties text)."""
    everything = tuple(cfg.models)
    text = configgen.render_properties(cfg, "kserve")
    if "service_envelope=" in text:
        # TorchServe 0.12's envelopes answer only the first request of a batch (closet/serving/kserve_v2.py).
        raise RuntimeError("the kserve variant must not set service_envelope")
    out = {
        "closet": (everything, text),
        # The handlers answer v1 and v2 bodies alike, so the v1 bundle is the same config; it stays a
        # separate storageUri so the v1 InferenceService keeps its own path.
        "closet-v1": (everything, text),
    }
    for name in STAGES:
        one = dataclasses.replace(cfg, models={name: cfg.models[name]})
        out[name] = ((name,), configgen.render_properties(one, "kserve"))
    return out


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)  # MARs are large: hard-link when on the same filesystem
    except OSError:
        shutil.copy2(src, dst)


def build(
    out: Path, model_store: Path, cfg: closet_config.ClosetConfig, allow_missing: bool = False
) -> dict[str, list[str]]:
    """Write every bundle under `out`; returns bundle -> models placed.

    A bundle whose MARs are not all built is an error, or (allow_missing) left out.
    """
    metrics = configgen.render_metrics_config()
    placed: dict[str, list[str]] = {}
    for bundle, (models, properties) in layouts(cfg).items():
        missing = [m for m in models if not (model_store / f"{m}.mar").is_file()]
        if missing:
            if allow_missing:
                log.warning("skipping %s: %s not built", bundle, ", ".join(f"{m}.mar" for m in missing))
                continue
            raise FileNotFoundError(
                f"{bundle}: missing {[f'{m}.mar' for m in missing]} in {model_store} (run `make mars`)"
            )
        root = out / bundle
        shutil.rmtree(root, ignore_errors=True)
        (root / "config").mkdir(parents=True)
        (root / "config" / "config.properties").write_text(properties, encoding="utf-8")
        (root / "config" / "metrics.yaml").write_text(metrics, encoding="utf-8")
        for m in models:
            _place(model_store / f"{m}.mar", root / "model-store" / f"{m}.mar")
        placed[bundle] = list(models)
        log.info("wrote %s (%s)", root, ", ".join(models))
    return placed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="kserve-bundle")
    ap.add_argument("--model-store", default="model-store")
    ap.add_argument("--allow-missing", action="store_true", help="leave out bundles whose MARs are not built")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(Path(args.out), Path(args.model_store), closet_config.load(), args.allow_missing)
    return 0


if __name__ == "__main__":
    sys.exit(main())
