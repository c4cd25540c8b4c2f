# Shared helpers for the ci/*.sh scripts (sourced, not run).
# DRY_RUN=1 prints each command that would change a registry or a cluster instead of running
# it, so the command lines can be checked on a machine without either (tests/infra/test_gitlab_ci.py).
set -euo pipefail

HELM=${HELM:-helm}
KUBECTL=${KUBECTL:-kubectl}
CHART_DIR=${CHART_DIR:-helm/closet}
HELM_TIMEOUT=${HELM_TIMEOUT:-15m}

log() { echo "[$(basename "$0")] $*" >&2; }
die() { log "error: $*"; exit 1; }

# run CMD...: execute, or print it (shell-quoted) under DRY_RUN=1.
run() {
    if [[ ${DRY_RUN:-0} == 1 ]]; then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

# run_stdin CMD...: like run, for a command fed on stdin (under DRY_RUN the input is read and dropped).
run_stdin() {
    if [[ ${DRY_RUN:-0} == 1 ]]; then
        cat >/dev/null
        run "$@"
    else
        "$@"
    fi
}

# login TOOL...: `TOOL... login` to $CI_REGISTRY with the job's registry credentials on stdin
# (never on the command line, so never in the log).
login() {
    local args=("$@" login --username "${CI_REGISTRY_USER:?}" --password-stdin "${CI_REGISTRY:?}")
    if [[ ${DRY_RUN:-0} == 1 ]]; then
        run "${args[@]}"
    else
        printf '%s' "${CI_REGISTRY_PASSWORD:?}" | "${args[@]}"
    fi
}

# Image tag of this pipeline's build: <commit sha>-<flavor> (the chart's <appVersion>-<flavor> form).
commit_sha() { echo "${CI_COMMIT_SHA:-$(git rev-parse HEAD)}"; }

# Cluster access: the GitLab agent for Kubernetes (KUBE_CONTEXT) or a KUBECONFIG file variable.
use_cluster() {
    if [[ -n ${KUBE_CONTEXT:-} ]]; then
        run "$KUBECTL" config use-context "$KUBE_CONTEXT"
    elif [[ -z ${KUBECONFIG:-} && ${DRY_RUN:-0} != 1 ]]; then
        die "set KUBECONFIG (file variable) or KUBE_CONTEXT (GitLab agent) for this environment"
    fi
}

# Name of the release's inference Service, found by Helm's standard instance label.
service_name() {
    local ns=$1 release=$2
    if [[ ${DRY_RUN:-0} == 1 ]]; then  # the chart's closet.fullname
        [[ $release == *closet* ]] && echo "$release" || echo "$release-closet"
        return
    fi
    "$KUBECTL" get svc -n "$ns" -l "app.kubernetes.io/instance=$release" \
        -o jsonpath='{.items[0].metadata.name}'
}
