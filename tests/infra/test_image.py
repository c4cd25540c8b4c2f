"""docker/Dockerfile and its build command line, checked cheaply (no build: `make image` and
`make image-smoke` build and serve it for real, outside `make test`; docs/image.md).

hadolint; a python:3.11 bookworm base given as BASE; the serving venv installed from the lock
(requirements.lock for cpu, requirements-gpu.lock for gpu) with a check that nothing unpinned got
in; a non-root user matching the chart; a /ping HEALTHCHECK; OCI labels declared, plus the
checkpoint digests ci/build-image.sh adds (its DRY_RUN=1 command line); both CI flavours on the
same base with `make image`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
HADOLINT = ROOT / ".cache" / "tools-venv" / "bin" / "hadolint"
CHART_VALUES = ROOT / "helm" / "closet" / "values.yaml"
SHA = "0123456789abcdef0123456789abcdef01234567"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def args_of(ins) -> dict[str, str]:
    return dict(rest.split("=", 1) for word, rest in ins if word == "ARG" and "=" in rest)


def declared_args() -> list[str]:
    return [rest.split("=")[0] for word, rest in instructions() if word == "ARG"]


def dry_build(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """ci/build-image.sh under DRY_RUN=1: the buildah command lines, nothing built or pushed."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "PIP_", "IMAGE_", "CI_"))}
    base.update(DRY_RUN="1", CI_COMMIT_SHA=SHA, IMAGE_IID_FILE=str(tmp_path / "iid"))
    return subprocess.run(["bash", str(ROOT / "ci" / "build-image.sh")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**base, **env})


def build_argv(r: subprocess.CompletedProcess) -> list[str]:
    assert r.returncode == 0, r.stderr[-2000:]
    return next(shlex.split(line[2:]) for line in r.stdout.splitlines() if line.startswith("+ buildah build"))


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint not installed: run `make lint-tools`")
def test_hadolint_clean():
    r = subprocess.run([str(HADOLINT), "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint not installed: run `make lint-tools`")
def test_hadolint_can_fail(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install torch\n")
    r = subprocess.run([str(HADOLINT), str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "DL3007" in r.stdout


def test_base_is_a_build_argument_defaulting_to_python_311_bookworm():
    ins = instructions()
    assert ins[0] == ("ARG", "BASE=docker.io/library/python:3.11-slim-bookworm")  # before the first FROM
    froms = [rest for word, rest in ins if word == "FROM"]
    assert froms[0] == "${BASE} AS runtime"
    assert all(f.split()[0] in ("${BASE}", "runtime") for f in froms), froms  # every stage on the same base


def test_the_serving_venv_comes_from_the_lock_and_nothing_else():
    ins = instructions()
    assert args_of(ins)["FLAVOR"] == "cpu"
    install = next(rest for word, rest in ins if word == "RUN" and "pip install" in rest)
    assert "cpu) lock=requirements.lock ;; gpu) lock=requirements-gpu.lock ;;" in install  # FLAVOR picks the lock
    assert '-c "/tmp/install/${lock}"' in install and "torchserve" in install
    assert "tomllib" in install and "pyproject.toml" in install  # closet's runtime dependencies, one list
    # After pip: anything installed that the lock does not pin at that version fails the build.
    assert "pip freeze --all --exclude pip | grep -vxF -f <(sed 's/===/==/' \"/tmp/install/${lock}\")" in install
    assert "exit 1" in install
    assert "pip check" in install


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-gpu.lock"])
def test_every_package_the_image_asks_for_is_pinned_in_the_lock(lock):
    deps = __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ;]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps} | {"torchserve", "kserve"}
    pinned = {ln.split("==")[0].lower().replace("_", "-") for ln in (ROOT / lock).read_text().splitlines()
              if "==" in ln and not ln.startswith("#")}
    assert names <= pinned, names - pinned


def test_runs_as_the_charts_non_root_user_with_a_ping_healthcheck():
    ins = instructions()
    sec = yaml.safe_load(CHART_VALUES.read_text())["podSecurityContext"]
    users = [rest for word, rest in ins if word == "USER"]
    assert users[-1] == f"{sec['runAsUser']}:{sec['runAsGroup']}" and sec["runAsUser"] != 0
    health = next(rest for word, rest in ins if word == "HEALTHCHECK")
    assert "/ping" in health and "--start-period=" in health
    entry = next(rest for word, rest in ins if word == "ENTRYPOINT")
    cmd = next(rest for word, rest in ins if word == "CMD")
    assert entry == '["torchserve"]' and "--foreground" in cmd
    assert "/home/model-server/config/config.properties" in cmd  # where the chart mounts its ConfigMap


def test_the_image_starts_servers_with_the_same_environment_as_make_serve():
    from closet_dev.launcher import SERVING_ENV

    env = " ".join(rest for word, rest in instructions() if word == "ENV")
    for key, value in SERVING_ENV.items():
        assert re.search(rf"(^|\s){key}={value}(\s|$)", env), (key, env)


def test_oci_labels_are_declared():
    label = " ".join(rest for word, rest in instructions() if word == "LABEL")
    for key in ("org.opencontainers.image.title", "org.opencontainers.image.description",
                "org.opencontainers.image.base.name", "closet.flavor"):
        assert key + "=" in label, key


def test_the_build_adds_revision_and_checkpoint_digest_labels(tmp_path):
    argv = build_argv(dry_build(tmp_path, IMAGE_FLAVOR="cpu", IMAGE_REPOSITORY="localhost/closet"))
    labels = dict(v.split("=", 1) for v in flag_values(argv, "--label"))
    assert labels["org.opencontainers.image.revision"] == SHA
    for key in ("closet.checkpoint.u2net.sha256", "closet.checkpoint.stargan.sha256",
                "closet.checkpoint.stargan-meta.sha256"):
        assert re.fullmatch(r"[0-9a-f]{64}", labels[key]), key
    assert re.fullmatch(r"pose-garment|schp-\w+", labels["closet.parser"])
    assert argv[argv.index("--format") + 1] == "docker"  # OCI image configs drop HEALTHCHECK


@pytest.mark.parametrize("flavor, lock", [("cpu", "requirements.lock"), ("gpu", "requirements-gpu.lock")])
def test_flavours_differ_in_the_flavor_argument_only(tmp_path, flavor, lock):
    argv = build_argv(dry_build(tmp_path, IMAGE_FLAVOR=flavor, IMAGE_BASE="docker.io/library/python:3.11-slim-bookworm"))
    build_args = dict(v.split("=", 1) for v in flag_values(argv, "--build-arg"))
    assert build_args == {"BASE": "docker.io/library/python:3.11-slim-bookworm", "FLAVOR": flavor}
    labels = dict(v.split("=", 1) for v in flag_values(argv, "--label"))
    torch = next(ln.split("=")[-1] for ln in (ROOT / lock).read_text().splitlines() if ln.startswith("torch=="))
    assert labels["closet.lock"] == lock and labels["closet.torch"] == torch
    assert labels["closet.torch"].endswith("+cpu") == (flavor == "cpu")
    assert argv[argv.index("--isolation") + 1] == "chroot"


def test_pip_settings_reach_the_build(tmp_path):
    """A mirror, a proxy CA bundle and a local wheel folder work in the image build as for `make venv`."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    argv = build_argv(dry_build(tmp_path, IMAGE_FLAVOR="cpu", PIP_INDEX_URL="https://mirror.example/simple",
                                PIP_FIND_LINKS=str(wheels), PIP_CERT=str(ca), PIP_RETRIES="1"))
    build_args = dict(v.split("=", 1) for v in flag_values(argv, "--build-arg"))
    assert build_args["PIP_INDEX_URL"] == "https://mirror.example/simple" and build_args["PIP_RETRIES"] == "1"
    assert build_args["PIP_FIND_LINKS"] == str(wheels) and build_args["PIP_CERT"] == "/run/closet-build/pip-cert.pem"
    volumes = flag_values(argv, "--volume")
    assert f"{wheels}:{wheels}:ro" in volumes and f"{ca}:/run/closet-build/pip-cert.pem:ro" in volumes
    assert {"PIP_INDEX_URL", "PIP_FIND_LINKS", "PIP_CERT", "PIP_RETRIES"} <= set(declared_args())


def test_local_names_stay_local_and_registry_names_are_pushed(tmp_path):
    local = dry_build(tmp_path, IMAGE_FLAVOR="cpu", IMAGE_REPOSITORY="localhost/closet")
    assert local.returncode == 0 and "buildah push" not in local.stdout and "--cache-to" not in local.stdout
    pushed = dry_build(tmp_path, IMAGE_FLAVOR="cpu", IMAGE_REPOSITORY="registry.example.com/g/closet")
    assert f"+ buildah push registry.example.com/g/closet:{SHA}-cpu" in pushed.stdout
    assert dry_build(tmp_path, IMAGE_FLAVOR="tpu").returncode != 0


def test_ci_builds_both_flavours_with_make_image_on_the_same_base():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))
    ci = yaml.load((ROOT / ".gitlab-ci.yml").read_text(), Loader=Loader)
    assert ci[".buildah"]["variables"]["IMAGE_BASE"] == "docker.io/library/python:3.11-slim-bookworm"
    assert ci[".buildah"]["variables"]["IMAGE_MARS"] == ""  # the MARs come from build-mars' artifacts
    for flavor in ("cpu", "gpu"):
        job = ci[f"build-image-{flavor}"]
        assert job["extends"] == ".buildah" and job["script"] == ["make image"]
        assert set(job["variables"]) == {"IMAGE_FLAVOR"}


def test_dockerignore_is_an_allowlist():
    rules = [ln for ln in (ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
             if ln and not ln.startswith("#")]
    assert rules[0] == "*"
    for need in ("!requirements.lock", "!requirements-gpu.lock", "!pyproject.toml", "!closet/", "!closet_dev/",
                 "!config/closet.yaml", "!model-store/*.mar"):
        assert need in rules, need


def test_make_image_uses_the_local_base_unless_told(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "IMAGE_"))}
    local = subprocess.run(["make", "-n", "image", "IMAGE_MARS="], cwd=ROOT, capture_output=True, text=True,
                           timeout=120, env=env)
    assert local.returncode == 0, local.stderr
    assert "docker/debian-base.sh localhost/closet-base:bookworm" in local.stdout
    assert "IMAGE_BASE=localhost/closet-base:bookworm" in local.stdout
    ci = subprocess.run(["make", "-n", "image", "IMAGE_MARS=", "IMAGE_BASE=docker.io/library/python:3.11-slim-bookworm"],
                        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert ci.returncode == 0 and "debian-base.sh" not in ci.stdout, ci.stdout


def test_the_label_reader_refuses_mars_built_from_different_checkpoints(tmp_path):
    import json
    import zipfile

    def mar(name: str, digest: str) -> Path:
        p = tmp_path / f"{name}.mar"
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("closet-build.json", json.dumps({"model": name, "inputs": {"stargan.ckpt": "a/x.ckpt"},
                                                        "settings": {}}))
            z.writestr("closet-manifest.json", json.dumps({"model": name, "files": {"stargan.ckpt": digest}}))
        return p

    tool = ROOT / "tools" / "image_labels.py"
    same = subprocess.run([sys.executable, tool, mar("translation", "a" * 64), mar("closet", "a" * 64)],
                          capture_output=True, text=True, timeout=60)
    assert same.returncode == 0 and f"closet.checkpoint.stargan.sha256={'a' * 64}" in same.stdout
    stale = subprocess.run([sys.executable, tool, mar("translation", "a" * 64), mar("closet", "b" * 64)],
                           capture_output=True, text=True, timeout=60)
    assert stale.returncode != 0 and "rebuild the MARs" in stale.stderr


def test_the_image_installs_every_package_the_runtime_imports():
    """The image installs pyproject's [project].dependencies (+ torchserve, kserve) and what they
    require, nothing else: every third-party module closet/ imports must come from that closure
    (an import of onnxruntime, before it was declared, left the image's workers unable to load)."""
    import ast
    import importlib.metadata as md
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    todo = [Requirement(r).name for r in declared] + ["torchserve", "kserve"]
    closure: set[str] = set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in closure:
            continue
        closure.add(name)
        for req in md.requires(name) or []:
            r = Requirement(req)
            if r.marker is None or r.marker.evaluate({"extra": ""}):
                todo.append(r.name)
    providers = md.packages_distributions()
    imported: set[str] = set()
    for path in (ROOT / "closet").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "closet"}
    missing = {m: providers.get(m) for m in third_party
               if not any(canonicalize_name(d) in closure for d in providers.get(m, []))}
    assert not missing, f"closet/ imports these, and the image would not install them: {missing}"
