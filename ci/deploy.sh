#!/usr/bin/env bash
# helm upgrade --install this commit's chart and image into DEPLOY_NAMESPACE, atomically (a failed
# rollout rolls back by itself), then run the chart's `helm test` pods.
# Inputs: DEPLOY_NAMESPACE, RELEASE, IMAGE_REPOSITORY, IMAGE_FLAVOR (cpu|gpu), HELM_VALUES (space-
# separated values files, may be empty), optional IMAGE_PULL_SECRET, HELM_EXTRA_ARGS, HELM_TIMEOUT.
source "$(dirname "$0")/lib.sh"

ns=${DEPLOY_NAMESPACE:?set DEPLOY_NAMESPACE}
release=${RELEASE:-closet}
flavor=${IMAGE_FLAVOR:-cpu}
repo=${IMAGE_REPOSITORY:-${CI_REGISTRY_IMAGE:?set CI_REGISTRY_IMAGE or IMAGE_REPOSITORY}}

args=(upgrade --install "$release" "$CHART_DIR" --namespace "$ns" --create-namespace
      --atomic --wait --timeout "$HELM_TIMEOUT" --history-max 10
      --set-string "image.repository=$repo" --set-string "image.tag=$(commit_sha)-$flavor")
for f in ${HELM_VALUES:-}; do
    [[ -f $f ]] || die "values file $f not found"
    args+=(--values "$f")
done
[[ -n ${IMAGE_PULL_SECRET:-} ]] && args+=(--set-string "imagePullSecrets[0].name=$IMAGE_PULL_SECRET")
# shellcheck disable=SC2206 # word splitting is the point: extra flags from a CI/CD variable
[[ -n ${HELM_EXTRA_ARGS:-} ]] && args+=($HELM_EXTRA_ARGS)

use_cluster
run "$HELM" "${args[@]}"
run "$HELM" test "$release" --namespace "$ns" --timeout 5m --logs
log "deployed $release to $ns"
