"""The lock files install outside this machine: every pin resolves from an index the lock names.

PyPI never hosts local versions (PEP 440 `+label`; PyPI refuses such uploads), so a pin like
`torch==2.13.0+cpu` needs the index that builds it, named in the same file, where pip reads it.
The PyTorch wheel indexes are the only hosts of local-version torch builds: `+<label>` lives at
https://download.pytorch.org/whl/<label>. The checks read the files only (no network), except
the last, which asks this machine's pip to resolve the CPU torch pin with its index line in place.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CPU_LOCK = ROOT / "requirements.lock"
GPU_LOCK = ROOT / "requirements-gpu.lock"
LOCKS = sorted(ROOT.glob("requirements*.lock"))
# Packages PyPI's CUDA torch adds to the CPU set (torch's Linux requirements).
CUDA_RUNTIME = re.compile(r"^(nvidia-.+|cuda-.+|triton)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(text: str) -> tuple[list[str], dict[str, str], list[str]]:
    """(index URLs, {name: version}, other option lines) of a requirements file."""
    indexes, pins, options = [], {}, []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            flag, _, value = line.replace("=", " ", 1).partition(" ")
            if flag in ("--index-url", "-i", "--extra-index-url"):
                indexes.append(value.strip())
            else:
                options.append(line)
            continue
        name, sep, version = line.partition("==")
        assert sep, f"not an exact pin: {line!r}"
        pins[canonical(name)] = version.lstrip("=").strip()  # == or === (exact string)
    return indexes, pins, options


def hosts_of(label: str) -> set[str]:
    """Index URLs that host `+label` builds (PyPI hosts none)."""
    return {f"https://download.pytorch.org/whl/{label}"}


def unhosted(text: str) -> list[str]:
    """Problems that stop the lock installing from public indexes: empty when it does."""
    indexes, pins, options = parse(text)
    problems = [f"index {u} is not a public http(s) URL" for u in indexes if not u.startswith(("https://", "http://"))]
    problems += [f"option {o!r} (a local path or per-machine setting)" for o in options]
    named = {u.rstrip("/") for u in indexes}
    for name, version in sorted(pins.items()):
        if "+" in version:
            label = version.split("+", 1)[1]
            if not named & hosts_of(label):
                problems.append(f"{name}=={version}: no index in the lock hosts +{label} "
                                f"(it lives on {' or '.join(sorted(hosts_of(label)))}; PyPI has no local versions)")
    return problems


def test_there_is_a_cpu_and_a_gpu_lock():
    assert CPU_LOCK in LOCKS and GPU_LOCK in LOCKS, LOCKS


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_every_pin_resolves_from_an_index_the_lock_names(lock):
    assert unhosted(lock.read_text()) == []


def test_the_check_fails_without_the_cpu_index_line():
    text = CPU_LOCK.read_text()
    stripped = "\n".join(ln for ln in text.splitlines() if "download.pytorch.org" not in ln)
    assert stripped != text
    assert any(p.startswith("torch==") and "+cpu" in p for p in unhosted(stripped))


@pytest.mark.parametrize("bad", [
    "--extra-index-url https://download.pytorch.org/whl/cu130\ntorch==2.13.0+cpu\n",  # the wrong label's index
    "torch==2.13.0+cu130\n",  # PyPI alone
    "--extra-index-url file:///opt/wheels\ntorch==2.13.0\n",  # a local folder dressed as an index
    "--find-links /opt/wheels\ntorch==2.13.0\n",
])
def test_the_check_rejects(bad):
    assert unhosted(bad)


def test_the_cpu_lock_installs_the_cpu_build_and_the_gpu_lock_pypis_cuda_build():
    _, cpu, _ = parse(CPU_LOCK.read_text())
    indexes, gpu, _ = parse(GPU_LOCK.read_text())
    assert cpu["torch"].endswith("+cpu")
    assert gpu["torch"] == cpu["torch"].split("+")[0]  # PyPI's Linux torch is the CUDA build
    # === : `==2.13.0` would also take a local 2.13.0+cpu wheel from a wheel folder or a mixed mirror.
    assert f"torch==={gpu['torch']}" in GPU_LOCK.read_text().splitlines()
    assert indexes == [], "the GPU lock resolves from PyPI (or the PIP_INDEX_URL mirror) alone"


def test_one_set_of_versions():
    """The GPU lock is the CPU lock plus torch's CUDA runtime wheels; nothing shared moved."""
    _, cpu, _ = parse(CPU_LOCK.read_text())
    _, gpu, _ = parse(GPU_LOCK.read_text())
    moved = {n: (v, gpu.get(n)) for n, v in cpu.items() if n != "torch" and gpu.get(n) != v}
    assert moved == {}
    extra = sorted(set(gpu) - set(cpu))
    assert extra and all(CUDA_RUNTIME.match(n) for n in extra), extra


def test_the_venv_holds_exactly_the_cpu_lock():
    """`make venv` installed the lock: every pin at its version, nothing unpinned besides pip itself."""
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "pip"), "freeze", "--all", "--exclude-editable"],
                       capture_output=True, text=True, timeout=120, check=True)
    installed = {canonical(n): v for n, _, v in (ln.partition("==") for ln in r.stdout.splitlines() if "==" in ln)}
    installed.pop("pip", None)
    for extra in ("pytest-cov", "coverage"):  # `make test PYTEST_ARGS=--cov` adds them on demand (mk/ci.mk)
        installed.pop(extra, None)
    _, cpu, _ = parse(CPU_LOCK.read_text())
    assert installed == cpu


def test_the_named_cpu_index_does_not_stop_an_install_from_local_wheels(tmp_path):
    """This machine cannot reach download.pytorch.org; pip skips it and takes torch from its local
    wheel folder (pip.conf find-links), with the retries `make venv` uses."""
    lock = tmp_path / "torch.lock"
    torch_pin = next(ln for ln in CPU_LOCK.read_text().splitlines() if ln.startswith("torch=="))
    index = next(ln for ln in CPU_LOCK.read_text().splitlines() if "download.pytorch.org" in ln)
    lock.write_text(f"{index}\n{torch_pin}\n")
    retries = subprocess.run(["make", "-s", "--no-print-directory", "--eval", "retries: ; @echo $(PIP_RETRIES)", "retries"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")}).stdout.strip()
    assert retries.isdigit(), retries
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "pip"), "install", "--dry-run", "--ignore-installed", "--no-deps",
                        "--retries", retries, "-r", str(lock)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert f"Would install {torch_pin.replace('==', '-')}" in r.stdout, r.stdout[-1000:]
