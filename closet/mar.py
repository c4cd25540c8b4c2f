"""Build self-contained .mar archives: the one table of per-model build inputs.

    python3 -P closet/mar.py --makefile        # make rules for every MAR (mk/serve.mk includes them)
    python -m closet.mar build segmentation    # model-store/segmentation.mar (`make mars` calls this)

A MAR holds: the handler (handlers/<name>.py), its model-config.yaml (`make config`), the `closet`
package (.py files only), config/closet.yaml, the model's input files (checkpoints, sidecars),
closet-build.json (build settings such as the parser dataset) and closet-manifest.json: the sha256
of every other file in the archive. ClosetHandler.initialize verifies that manifest and refuses to
load on any mismatch or missing file.

To add a model, add one MarSpec to MARS: each MarInput names the make/env variable that overrides
its path and the file name it gets inside the MAR (the first input is --serialized-file); each
setting is a variable recorded into closet-build.json. Handlers find inputs with
`Path(model_dir) / dest` and settings with `closet.mar.read_build_info(model_dir)`.

The module top imports only the standard library: `make` runs `--makefile` with any python3.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_NAME = "closet-manifest.json"
BUILD_INFO_NAME = "closet-build.json"
MAR_INF = "MAR-INF"  # written by torch-model-archiver (holds a timestamp), not covered by the manifest
MODEL_STORE = "model-store"
STAGE_DIR = ".cache/build/mar"


@dataclass(frozen=True)
class MarInput:
    """One file packed into a MAR."""

    var: str  # make/env variable overriding the path, e.g. STARGAN_CKPT
    default: str  # repo-relative default path ("" = none)
    dest: str  # file name inside the MAR
    required: bool = True  # optional inputs are skipped when the variable is empty/missing


@dataclass(frozen=True)
class MarSpec:
    name: str  # model name == handlers/<name>.py == model-store/<name>.mar
    inputs: tuple[MarInput, ...]
    settings: tuple[tuple[str, str], ...] = ()  # (variable, default) recorded in closet-build.json
    # Module name of the handler inside the MAR (default: the model name). TorchServe imports the
    # handler by its file name, so handlers/closet.py must not arrive as "closet": that name is the
    # closet package packed beside it, and the import would find the package instead.
    handler_module: str = ""


def handler_file(spec: MarSpec, root: Path = REPO_ROOT) -> Path:
    """The handler file passed to torch-model-archiver (staged under its MAR module name)."""
    src = root / "handlers" / f"{spec.name}.py"
    if not spec.handler_module or spec.handler_module == spec.name:
        return src
    return root / STAGE_DIR / spec.name / "handler" / f"{spec.handler_module}.py"


U2NETP = MarInput("U2NETP_WEIGHTS", "model-store/weights/u2netp.pth", "u2net.pth")
U2NET_ARCH = ("U2NET_ARCH", "u2netp")  # u2netp, or u2net for the official full-size checkpoint
SCHP = MarInput("PARSER_CKPT", "", "schp.pth", required=False)
STARGAN_CKPT = MarInput("STARGAN_CKPT", "assets/stargan-fmnist/nets_ema.ckpt", "stargan.ckpt")
STARGAN_META = MarInput("STARGAN_META", "assets/stargan-fmnist/meta.json", "stargan-meta.json")

MARS: dict[str, MarSpec] = {
    s.name: s
    for s in (
        MarSpec("segmentation", (U2NETP,), settings=(U2NET_ARCH,)),
        MarSpec("parsing", (U2NETP, SCHP), settings=(U2NET_ARCH, ("PARSER_DATASET", "atr"))),
        MarSpec("translation", (STARGAN_CKPT, STARGAN_META)),
        MarSpec(
            "closet",
            (U2NETP, STARGAN_CKPT, STARGAN_META, SCHP),
            settings=(U2NET_ARCH, ("PARSER_DATASET", "atr")),
            handler_module="closet_handler",
        ),
    )
}


def mar_path(name: str, store: str | Path = MODEL_STORE) -> Path:
    return Path(store) / f"{name}.mar"


def input_path(inp: MarInput, env: dict[str, str] | None = None) -> str:
    """The path an input resolves to ('' when an optional input is unset)."""
    env = os.environ if env is None else env
    return env.get(inp.var) or inp.default


# ---------------------------------------------------------------- manifest
def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _covered(rel: str) -> bool:
    parts = rel.split("/")
    return rel != MANIFEST_NAME and parts[0] != MAR_INF and "__pycache__" not in parts


def verify_manifest(model_dir: str | Path) -> int:
    """Check every file listed in closet-manifest.json against its sha256; returns the count.

    Raises RuntimeError on a missing manifest, a missing file or a hash mismatch. Files that are
    not listed (e.g. __pycache__ the worker writes) are ignored; listed ones must all match.
    """
    root = Path(model_dir)
    mf = root / MANIFEST_NAME
    if not mf.is_file():
        raise RuntimeError(f"{MANIFEST_NAME} missing in {root}: refusing to load an unverified archive")
    listed = json.loads(mf.read_text(encoding="utf-8"))["files"]
    bad = []
    for rel, digest in sorted(listed.items()):
        p = root / rel
        if not p.is_file():
            bad.append(f"{rel} (missing)")
        elif sha256_file(p) != digest:
            bad.append(f"{rel} (sha256 mismatch)")
    if bad:
        raise RuntimeError(f"{MANIFEST_NAME} check failed in {root}: {', '.join(bad[:5])}")
    return len(listed)


def read_build_info(model_dir: str | Path) -> dict:
    """closet-build.json of an extracted MAR ({} when absent, e.g. a unit test's directory)."""
    p = Path(model_dir) / BUILD_INFO_NAME
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


# ---------------------------------------------------------------- build
def _resolved(spec: MarSpec, env) -> list[tuple[MarInput, Path]]:
    out = []
    for inp in spec.inputs:
        p = input_path(inp, env)
        if not p:
            if inp.required:
                raise FileNotFoundError(f"{spec.name}: set {inp.var}")
            continue
        path = Path(p) if Path(p).is_absolute() else REPO_ROOT / p
        if not path.is_file():
            if inp.required:
                raise FileNotFoundError(f"{spec.name}: {inp.var}={p} does not exist (run `make weights`?)")
            log.info("%s: optional %s=%s absent, skipped", spec.name, inp.var, p)
            continue
        out.append((inp, path))
    return out


def _copy(src: Path, dst: Path) -> None:
    # A copy, never a link: the manifest hashes the staged bytes, and a source file edited while
    # the archiver runs must not make the archive disagree with its own manifest.
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def stage(
    spec: MarSpec, env=None, root: Path = REPO_ROOT, stage_dir: Path | None = None
) -> tuple[Path, Path, dict[str, str]]:
    """Lay out the extra files of one MAR under stage_dir; returns (extra dir, serialized file, manifest)."""
    from closet.configgen import model_config_path  # needs pyyaml: only at build time

    env = os.environ if env is None else env
    base = Path(stage_dir) if stage_dir is not None else root / STAGE_DIR / spec.name
    shutil.rmtree(base, ignore_errors=True)
    extra, serialized_dir = base / "extra", base / "serialized"
    extra.mkdir(parents=True)
    serialized_dir.mkdir()
    for src in sorted((root / "closet").rglob("*.py")):
        if "__pycache__" not in src.parts:
            _copy(src, extra / src.relative_to(root))
    _copy(root / "config" / "closet.yaml", extra / "closet.yaml")
    inputs = _resolved(spec, env)
    serialized = None
    for i, (inp, path) in enumerate(inputs):
        if i == 0:
            serialized = serialized_dir / inp.dest
            _copy(path, serialized)
        else:
            _copy(path, extra / inp.dest)
    info = {
        "model": spec.name,
        "inputs": {
            inp.dest: str(path.relative_to(root) if path.is_relative_to(root) else path) for inp, path in inputs
        },
        "settings": {var: env.get(var) or default for var, default in spec.settings},
    }
    (extra / BUILD_INFO_NAME).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    handler = handler_file(spec, root)
    if handler != root / "handlers" / f"{spec.name}.py":
        _copy(root / "handlers" / f"{spec.name}.py", handler)
    model_config = root / model_config_path(spec.name)
    files = {handler.name: handler, model_config.name: model_config}
    if serialized is not None:
        files[serialized.name] = serialized
    for p in sorted(extra.rglob("*")):
        if p.is_file():
            files[p.relative_to(extra).as_posix()] = p
    manifest = {rel: sha256_file(p) for rel, p in sorted(files.items())}
    (extra / MANIFEST_NAME).write_text(
        json.dumps({"model": spec.name, "files": manifest}, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return extra, serialized, manifest


def build(
    name: str, store: str | Path = MODEL_STORE, env=None, root: Path = REPO_ROOT, stage_dir: Path | None = None
) -> Path:
    """Build <store>/<name>.mar with torch-model-archiver; returns its path."""
    from closet.configgen import model_config_path

    spec = MARS[name]
    extra, serialized, manifest = stage(spec, env, root, stage_dir)
    store = Path(store) if Path(store).is_absolute() else root / store
    store.mkdir(parents=True, exist_ok=True)
    building = store / f".building-{name}"  # hidden: TorchServe skips it; same filesystem for os.replace
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    archiver = Path(sys.executable).parent / "torch-model-archiver"
    cmd = [
        str(archiver if archiver.exists() else "torch-model-archiver"),
        "--model-name",
        name,
        "--version",
        "1.0",
        "--handler",
        str(handler_file(spec, root)),
        "--config-file",
        str(root / model_config_path(name)),
        "--extra-files",
        str(extra),
        "--export-path",
        str(building),
        "--force",
    ]
    if serialized is not None:
        cmd += ["--serialized-file", str(serialized)]
    try:
        subprocess.run(cmd, check=True)
        with zipfile.ZipFile(mar_path(name, building)) as z:  # the archive must hold exactly the manifest's files
            names = {n for n in z.namelist() if not n.endswith("/") and _covered(n)}
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
    """Make rules: each MAR depends on its handler, the closet package, the configs and its inputs."""
    lines = ["# GENERATED from closet/mar.py (MARS); included by mk/serve.mk.", f"MAR_NAMES := {' '.join(MARS)}"]
    for spec in MARS.values():
        deps = [f"handlers/{spec.name}.py", "$(MAR_COMMON_DEPS)", f"config/model-config/{spec.name}-model-config.yaml"]
        for inp in spec.inputs:
            ref = f"$(or $({inp.var}),{inp.default})" if inp.default else f"$({inp.var})"
            deps.append(f"$(wildcard {ref})" if not inp.required else ref)
        lines.append(f"{MODEL_STORE}/{spec.name}.mar: {' '.join(deps)}")
        lines.append(f"\t$(PYTHON) -m closet.mar build {spec.name}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m closet.mar", description="Build closet MARs")
    ap.add_argument("--makefile", action="store_true", help="print make rules for every MAR")
    sub = ap.add_subparsers(dest="cmd")
    b = sub.add_parser("build", help="build model-store/<name>.mar")
    b.add_argument("names", nargs="+", choices=sorted(MARS))
    b.add_argument("--store", default=MODEL_STORE)
    v = sub.add_parser("verify", help="check an extracted MAR directory against its manifest")
    v.add_argument("model_dir")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.makefile:
        sys.stdout.write(makefile())
        return 0
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
