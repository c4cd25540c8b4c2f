#!/usr/bin/env bash
# Remove a review release (the stop action of a review/* environment).
source "$(dirname "$0")/lib.sh"

ns=${DEPLOY_NAMESPACE:?set DEPLOY_NAMESPACE}
release=${RELEASE:?set RELEASE}
use_cluster
run "$HELM" uninstall "$release" --namespace "$ns" --wait --timeout "$HELM_TIMEOUT" --ignore-not-found
