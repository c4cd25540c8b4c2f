#!/usr/bin/env bash
# Distributed Locust against a deployed release, inside the cluster: loadtest/k8s/locust-distributed.yaml
# (a master Job judging the SLO, a worker Job, the master's Service). The master's exit code is the
# verdict: this script fails when the run fails or an SLO is missed. Reports land in loadtest/reports/:
# the master's log (Locust's summary and the SLO verdicts) and slo-junit.xml cut from that log.
# Inputs: DEPLOY_NAMESPACE, RELEASE; optional LOADTEST_MANIFEST, LOADTEST_SLO (shipped as slo.yaml),
# LOADTEST_USERS (peak users, default 40), LOADTEST_TIMEOUT (seconds), LOADTEST_REPORTS (directory),
# INFERENCE_PORT.
source "$(dirname "$0")/lib.sh"

ns=${DEPLOY_NAMESPACE:?set DEPLOY_NAMESPACE}
release=${RELEASE:-closet}
manifest=${LOADTEST_MANIFEST:-loadtest/k8s/locust-distributed.yaml}
slo=${LOADTEST_SLO:-loadtest/slo.yaml}
timeout_s=${LOADTEST_TIMEOUT:-2100}
users=${LOADTEST_USERS:-40}
reports=${LOADTEST_REPORTS:-loadtest/reports}
selector=app.kubernetes.io/name=closet-locust
job=job/closet-locust-master
[[ -f $manifest ]] || die "$manifest not found"
[[ -f $slo ]] || die "SLO file $slo not found"
[[ $timeout_s =~ ^[0-9]+$ ]] || die "LOADTEST_TIMEOUT is in seconds, got '$timeout_s'"
[[ $users =~ ^[1-9][0-9]*$ ]] || die "LOADTEST_USERS is a number of users, got '$users'"
mkdir -p "$reports"

use_cluster
svc=$(service_name "$ns" "$release")
[[ -n $svc ]] || die "no Service for release $release in $ns"
host="http://$svc.$ns.svc.cluster.local:${INFERENCE_PORT:-8080}"
log "target $host, SLO $slo, $users users"

# ConfigMap closet-locust: the files of loadtest/ (locustfile and its modules), with the chosen
# SLO file as slo.yaml, which the master reads.
files=()
for f in loadtest/*; do
    [[ -f $f && $(basename "$f") != slo.yaml ]] && files+=(--from-file="$f")
done
files+=(--from-file=slo.yaml="$slo")
[[ ${DRY_RUN:-0} == 1 ]] || "$KUBECTL" -n "$ns" create configmap closet-locust "${files[@]}" --dry-run=client -o yaml \
    | run_stdin "$KUBECTL" -n "$ns" apply -f -
[[ ${DRY_RUN:-0} != 1 ]] || run "$KUBECTL" -n "$ns" create configmap closet-locust "${files[@]}"

# Jobs are immutable: the previous run's go first.
run "$KUBECTL" -n "$ns" delete job,service -l "$selector" --ignore-not-found --cascade=foreground --wait=true
sed -e "s|__TARGET_HOST__|$host|g" -e "s|__PEAK_USERS__|$users|g" "$manifest" | run_stdin "$KUBECTL" -n "$ns" apply -f -

# Poll the master Job until it succeeds or fails (kubectl wait takes one condition only).
verdict=timeout
if [[ ${DRY_RUN:-0} == 1 ]]; then
    run "$KUBECTL" -n "$ns" get "$job" -o 'jsonpath={.status.succeeded}/{.status.failed}'
    verdict=succeeded
else
    deadline=$((SECONDS + timeout_s))
    while ((SECONDS < deadline)); do
        status=$("$KUBECTL" -n "$ns" get "$job" -o 'jsonpath={.status.succeeded}/{.status.failed}' || true)
        if [[ $status == 1/* ]]; then verdict=succeeded; break; fi
        if [[ $status == */[1-9]* ]]; then verdict=failed; break; fi
        sleep 15
    done
    "$KUBECTL" -n "$ns" logs "$job" -c locust >"$reports/locust-master.log" 2>&1 || true
    "$KUBECTL" -n "$ns" get pods -l "$selector" -o wide >"$reports/pods.txt" 2>&1 || true
    sed -n '/^--- slo-junit.xml begin ---$/,/^--- slo-junit.xml end ---$/{//!p}' \
        "$reports/locust-master.log" >"$reports/slo-junit.xml"
    [[ -s $reports/slo-junit.xml ]] || rm -f "$reports/slo-junit.xml"
    "$KUBECTL" -n "$ns" delete job,service -l "$selector" --ignore-not-found --wait=false || true
fi

[[ $verdict == succeeded ]] || die "load test $verdict: a run error or a missed SLO (see $reports/locust-master.log)"
log "SLOs met ($slo)"
