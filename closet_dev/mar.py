"""Build self-contained .mar archives from the stages each model runs.

    python -m closet_dev.mar build segmentation    # model-store/segmentation.mar (`make mars` calls this)
    python -m closet_dev.mar verify <dir>          # check an extracted archive against its manifest

A model's archive is derived, never listed by hand: closet.stages.STAGES_OF_MODEL names its stages,
each stage declares its files and settings (closet.archive.ArchiveFile / Setting), and
config/closet.yaml names its handler. An archive holds: the handler, its model-config.yaml
(`make config`), the runtime package `closet/` (.py files only; never closet_dev), config/closet.yaml, the warm-up photo,
the stages' files, closet-build.json (the settings as built) and closet-manifest.json (the sha256 of
every other file). ClosetHandler.initialize verifies that manifest and refuses to load on a mismatch.

`makefile()` prints the make rules (mk/mars.mk, written by `make config` with a drift check).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from closet import config as closet_config
from closet.archive import (
    BUILD_INFO_NAME,
    MANIFEST_NAME,
    WARM_UP_PHOTO,
    WARM_UP_SOURCE,
    ArchiveFile,
    Setting,
    covered,
    sha256_file,
    verify_manifest,
)

log = logging.getLogger(__name__)

REPO_ROOT = closet_config.REPO_ROOT
RUNTIME_PACKAGE = "closet"
MODEL_STORE = "model-store"
STAGE_DIR = ".cache/build/mar"


@dataclass(frozen=True)
class MarSpec:
    """What one model's archive packs."""

    name: str  # model name == model-store/<name>.mar == the URL /predictions/<name>
    handler: str  # repo-relative handler file (config/closet.yaml models.<name>.handler)
    files: tuple[ArchiveFile, ...]  # the first one is torch-model-archiver's --serialized-file
    settings: tuple[Setting, ...]
    stages: tuple[type, ...] = ()  # a stage with `export(files, settings)` adds build-time files (ONNX)


def spec(name: str, cfg: closet_config.ClosetConfig | None = None) -> MarSpec:
    """The archive of model `name`: the union of its stages' files and settings, in stage order."""
    from closet.stages import STAGES_OF_MODEL

    cfg = cfg or closet_config.load(closet_config.DEFAULT_PATH)
    files: dict[str, ArchiveFile] = {}
    settings: dict[str, Setting] = {}
    for stage in STAGES_OF_MODEL[name]:
        files.update({f.name: f for f in stage.files if f.name not in files})
        settings.update({s.var: s for s in stage.settings if s.var not in settings})
    return MarSpec(name, cfg.model(name).handler, tuple(files.values()), tuple(settings.values()),
                   tuple(STAGES_OF_MODEL[name]))


def specs() -> dict[str, MarSpec]:
    cfg = closet_config.load(closet_config.DEFAULT_PATH)
    return {name: spec(name, cfg) for name in closet_config.MODEL_NAMES}


def mar_path(name: str, store: str | Path = MODEL_STORE) -> Path:
    return Path(store) / f"{name}.mar"


def load_ensemble(mar: str | Path | None = None, device: str = "cpu", model_dir: str | Path | None = None):
    """The ensemble exactly as a built archive serves it (its files and settings, config's limits),
    in this process: for evaluations, benchmarks and pictures. Default: model-store/closet.mar;
    `model_dir`: an archive already extracted."""
    import tempfile

    from closet.ensemble import Ensemble

    limits = closet_config.load().limits
    if model_dir is not None:
        return Ensemble.load(model_dir, device, limits.max_pixels, limits.max_side)
    with tempfile.TemporaryDirectory() as d:  # the stages read every file at load
        with zipfile.ZipFile(mar or mar_path(closet_config.ENSEMBLE)) as z:
            z.extractall(d)
        return Ensemble.load(d, device, limits.max_pixels, limits.max_side)


@contextlib.contextmanager
def every_network_in(precision: str, runtime: str = "torch", names: tuple[str, ...] | None = None):
    """config/closet.yaml with every network (or only those in `names`) at (runtime, precision), as
    the configuration that loads in this block (CLOSET_CONFIG, find_config's first choice)."""
    import tempfile
    from unittest import mock

    import yaml

    raw = yaml.safe_load(closet_config.DEFAULT_PATH.read_text(encoding="utf-8"))
    raw["networks"] = {**raw.get("networks", {}),
                       **{n: {"runtime": runtime, "precision": precision} for n in names or closet_config.NETWORKS}}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / closet_config.CONFIG_FILENAME
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        with mock.patch.dict(os.environ, {"CLOSET_CONFIG": str(path)}):
            yield


def source_path(f: ArchiveFile, env: dict[str, str] | None = None) -> str:
    """The path an archive file is packed from ('' when an optional file is unset)."""
    env = os.environ if env is None else env
    return env.get(f.var) or f.default


def _resolved(s: MarSpec, env) -> list[tuple[ArchiveFile, Path]]:
    out = []
    for f in s.files:
        p = source_path(f, env)
        if not p:
            if f.required:
                raise FileNotFoundError(f"{s.name}: set {f.var}")
            continue
        path = Path(p) if Path(p).is_absolute() else REPO_ROOT / p
        if not path.is_file():
            if f.required:
                raise FileNotFoundError(f"{s.name}: {f.var}={p} does not exist (run `make weights`?)")
            log.info("%s: optional %s=%s absent, skipped", s.name, f.var, p)
            continue
        out.append((f, path))
    return out


def _copy(src: Path, dst: Path) -> None:
    # A copy, never a link: the manifest hashes the staged bytes, and a source file edited while
    # the archiver runs must not make the archive disagree with its own manifest.
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def stage(s: MarSpec, env=None, root: Path = REPO_ROOT, stage_dir: Path | None = None
          ) -> tuple[Path, Path | None, dict[str, str]]:
    """Lay out the extra files of one archive under stage_dir; returns (extra dir, serialized file, manifest)."""
    from closet_dev.configgen import model_config_path

    env = os.environ if env is None else env
    base = Path(stage_dir) if stage_dir is not None else root / STAGE_DIR / s.name
    shutil.rmtree(base, ignore_errors=True)
    extra, serialized_dir = base / "extra", base / "serialized"
    extra.mkdir(parents=True)
    serialized_dir.mkdir()
    for src in sorted((root / RUNTIME_PACKAGE).rglob("*.py")):
        if "__pycache__" not in src.parts:
            _copy(src, extra / src.relative_to(root))
    _copy(root / "config" / closet_config.CONFIG_FILENAME, extra / closet_config.CONFIG_FILENAME)
    _copy(root / WARM_UP_SOURCE, extra / WARM_UP_PHOTO)
    inputs = _resolved(s, env)
    serialized = None
    for i, (f, path) in enumerate(inputs):
        if i == 0:
            serialized = serialized_dir / f.name
            _copy(path, serialized)
        else:
            _copy(path, extra / f.name)
    info = {
        "model": s.name,
        "inputs": {f.name: str(path.relative_to(root) if path.is_relative_to(root) else path) for f, path in inputs},
        "settings": {st.var: env.get(st.var) or st.default for st in s.settings},
    }
    # Build-time exports (the onnxruntime runtime's models), made from the staged weights.
    for stage_cls in s.stages:
        if hasattr(stage_cls, "export"):
            for name, data in stage_cls.export({f.name: path for f, path in inputs}, info["settings"]).items():
                (extra / name).write_bytes(data)
    (extra / BUILD_INFO_NAME).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    handler = root / s.handler
    model_config = root / model_config_path(s.name)
    files = {handler.name: handler, model_config.name: model_config}
    if serialized is not None:
        files[serialized.name] = serialized
    for p in sorted(extra.rglob("*")):
        if p.is_file():
            files[p.relative_to(extra).as_posix()] = p
    manifest = {rel: sha256_file(p) for rel, p in sorted(files.items())}
    (extra / MANIFEST_NAME).write_text(
        json.dumps({"model": s.name, "files": manifest}, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return extra, serialized, manifest


def build(name: str, store: str | Path = MODEL_STORE, env=None, root: Path = REPO_ROOT,
          stage_dir: Path | None = None) -> Path:
    """Build <store>/<name>.mar with torch-model-archiver; returns its path."""
    from closet_dev.configgen import model_config_path

    s = spec(name)
    extra, serialized, manifest = stage(s, env, root, stage_dir)
    store = Path(store) if Path(store).is_absolute() else root / store
    store.mkdir(parents=True, exist_ok=True)
    building = store / f".building-{name}"  # hidden: TorchServe skips it; same filesystem for os.replace
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    archiver = Path(sys.executable).parent / "torch-model-archiver"
    cmd = [
        str(archiver if archiver.exists() else "torch-model-archiver"),
        "--model-name", name, "--version", "1.0", "--handler", str(root / s.handler),
        "--config-file", str(root / model_config_path(name)), "--extra-files", str(extra),
        "--export-path", str(building), "--force",
    ]
    if serialized is not None:
        cmd += ["--serialized-file", str(serialized)]
    try:
        # torch-model-archiver stages the files in $TMPDIR/<model name>, deleting whatever is there
        # before and after: a private TMPDIR, so that it deletes nothing of anyone's and two builds of
        # one model at once (CI in a second clone beside a developer's `make mars`) do not clash.
        with tempfile.TemporaryDirectory(prefix=f"closet-mar-{name}-") as tmp:
            subprocess.run(cmd, check=True, env={**os.environ, "TMPDIR": tmp})
        with zipfile.ZipFile(mar_path(name, building)) as z:  # the archive must hold exactly the manifest's files
            names = {n for n in z.namelist() if not n.endswith("/") and covered(n)}
        if names != set(manifest):
            raise RuntimeError(f"{name}.mar: archive/manifest mismatch: {sorted(names ^ set(manifest))}")
        out = mar_path(name, store)
        # Atomic swap: a TorchServe reading the old archive never sees a half-written one.
        os.replace(mar_path(name, building), out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    log.info("built %s (%d files, %.1f MB)", out, len(manifest), out.stat().st_size / 1e6)
    return out


# ---------------------------------------------------------------- make
def makefile() -> str:
    """Make rules: each archive depends on its handler, the runtime package, the configs and its files."""
    from closet_dev.configgen import model_config_path

    all_specs = specs()
    lines = ["# GENERATED by `make config` (closet_dev/mar.py) from closet/stages and config/closet.yaml. Do not edit.",
             f"MAR_NAMES := {' '.join(all_specs)}",
             "# Every archive packs the whole runtime package, the serving config and the warm-up photo.",
             f"MAR_COMMON_DEPS := $(shell find {RUNTIME_PACKAGE} -name '*.py' -not -path '*/__pycache__/*') "
             f"config/{closet_config.CONFIG_FILENAME} {WARM_UP_SOURCE}"]
    variables = {f.var: f.default for s in all_specs.values() for f in s.files}
    variables.update({st.var: st.default for s in all_specs.values() for st in s.settings})
    lines.append("# Build inputs (override on the command line, e.g. make mars STARGAN_CKPT=...).")
    lines += [f"{var} ?= {default}" for var, default in variables.items()]
    lines.append(f"export {' '.join(variables)}")
    for s in all_specs.values():
        deps = [s.handler, "$(MAR_COMMON_DEPS)", model_config_path(s.name)]
        deps += [f"$({f.var})" if f.required else f"$(wildcard $({f.var}))" for f in s.files]
        lines.append(f"{MODEL_STORE}/{s.name}.mar: {' '.join(deps)}")
        lines.append(f"\t$(PYTHON) -m closet_dev.mar build {s.name}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m closet_dev.mar", description="Build closet MARs")
    sub = ap.add_subparsers(dest="cmd")
    b = sub.add_parser("build", help="build model-store/<name>.mar")
    b.add_argument("names", nargs="+", choices=closet_config.MODEL_NAMES)
    b.add_argument("--store", default=MODEL_STORE)
    v = sub.add_parser("verify", help="check an extracted MAR directory against its manifest")
    v.add_argument("model_dir")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.cmd == "build":
        for n in args.names:
            build(n, args.store)
        return 0
    if args.cmd == "verify":
        log.info("%d files verified", verify_manifest(args.model_dir))
        return 0
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
