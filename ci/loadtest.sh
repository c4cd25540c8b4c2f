#!/usr/bin/env bash
# Distributed Locust against a deployed release, inside the cluster (master + workers as
# Kubernetes Jobs from loadtest/), judged against the SLO file. Exits non-zero when an SLO
# is missed (the master's exit code), and leaves the reports under loadtest/reports/.
# Inputs: DEPLOY_NAMESPACE, RELEASE; optional LOADTEST_MANIFEST, LOADTEST_SLO, LOADTEST_TIMEOUT.
source "$(dirname "$0")/lib.sh"

ns=${DEPLOY_NAMESPACE:?set DEPLOY_NAMESPACE}
release=${RELEASE:-closet}
manifest=${LOADTEST_MANIFEST:-loadtest/k8s/locust-distributed.yaml}
slo=${LOADTEST_SLO:-loadtest/slo.yaml}
timeout=${LOADTEST_TIMEOUT:-30m}
reports=loadtest/reports
[[ -f $manifest ]] || die "$manifest not found"
[[ -f $slo ]] || die "$slo not found"
mkdir -p "$reports"

use_cluster
svc=$(service_name "$ns" "$release")
host="http://$svc.$ns.svc.cluster.local:${INFERENCE_PORT:-8080}"
log "target $host"

# The locustfile, SLO file and photos travel in a ConfigMap the Jobs mount.
run "$KUBECTL" -n "$ns" create configmap closet-locust --from-file=loadtest/ --dry-run=client -o yaml \
    | run "$KUBECTL" -n "$ns" apply -f -
run "$KUBECTL" -n "$ns" delete job -l app.kubernetes.io/name=closet-locust --ignore-not-found --wait
sed "s|__TARGET_HOST__|$host|g" "$manifest" | run "$KUBECTL" -n "$ns" apply -f -

job=job/closet-locust-master
status=0
run "$KUBECTL" -n "$ns" wait "$job" --for=condition=complete --timeout="$timeout" || status=$?
[[ ${DRY_RUN:-0} == 1 ]] || "$KUBECTL" -n "$ns" logs "$job" >"$reports/locust-master.log" 2>&1 || true
[[ ${DRY_RUN:-0} == 1 ]] || "$KUBECTL" -n "$ns" delete job -l app.kubernetes.io/name=closet-locust --ignore-not-found
[[ $status == 0 ]] || die "load test failed or missed an SLO (see $reports/locust-master.log)"
log "SLOs met"
