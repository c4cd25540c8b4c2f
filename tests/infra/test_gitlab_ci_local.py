"""The lint jobs of .gitlab-ci.yml, run for real by gitlab-ci-local (shell executor, in this repo).

gitlab-ci-local parses the pipeline like GitLab (extends, !reference, rules, variables) and runs
each job's script; `--force-shell-executor` runs jobs that name an image in the local shell,
since no container engine is available here. The jobs' `make` targets use the stamped tool
installs from `make test`'s prerequisites, so this stays a few seconds.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from closet.config import REPO_ROOT

ROOT = REPO_ROOT
GLCI_PREFIX = ROOT / ".cache" / "node" / "ci" / "node_modules"
JOBS = ("lint-python", "lint-yaml")


@pytest.fixture(scope="module")
def ci_local_run():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    setup = subprocess.run(["make", "-s", "gitlab-ci-local", "lint-tools"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    cmd = [str(GLCI_PREFIX / ".bin" / "node"), str(GLCI_PREFIX / "gitlab-ci-local" / "dist" / "index.js"),
           "--force-shell-executor", "--no-color", "--state-dir", ".cache/gitlab-ci-local", *JOBS]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_lint_jobs_pass_under_gitlab_ci_local(ci_local_run):
    out = ci_local_run.stdout + ci_local_run.stderr
    assert ci_local_run.returncode == 0, out[-6000:]
    for job in JOBS:
        # gitlab-ci-local's summary line per job: "PASS  <job>".
        assert re.search(rf"PASS\s+{re.escape(job)}\b", out), out[-3000:]
        assert not re.search(rf"FAIL\s+{re.escape(job)}\b", out)


def test_the_jobs_ran_their_make_targets_and_linters(ci_local_run):
    out = ci_local_run.stdout + ci_local_run.stderr
    # The job scripts and the linters' own output, prefixed by job name.
    assert re.search(r"lint-python\s*\$ make lint-python", out), out[-3000:]
    assert re.search(r"lint-yaml\s*\$ make lint-yaml", out), out[-3000:]
    assert re.search(r"lint-python\s*> .*ruff check", out) and "All checks passed!" in out
    assert re.search(r"lint-yaml\s*> .*yamllint --strict \.", out)
