#!/usr/bin/env bash
# helm rollback RELEASE in DEPLOY_NAMESPACE to ROLLBACK_REVISION (0 = the previous revision),
# waiting for the rollout, then the chart's `helm test` pods again.
source "$(dirname "$0")/lib.sh"

ns=${DEPLOY_NAMESPACE:?set DEPLOY_NAMESPACE}
release=${RELEASE:-closet}
revision=${ROLLBACK_REVISION:-0}
[[ $revision =~ ^[0-9]+$ ]] || die "ROLLBACK_REVISION must be a revision number, got '$revision'"

use_cluster
[[ ${DRY_RUN:-0} == 1 ]] || "$HELM" history "$release" --namespace "$ns" --max 10
run "$HELM" rollback "$release" "$revision" --namespace "$ns" --wait --timeout "$HELM_TIMEOUT" --cleanup-on-fail
run "$HELM" test "$release" --namespace "$ns" --timeout 5m --logs
log "rolled back $release in $ns to revision $revision"
