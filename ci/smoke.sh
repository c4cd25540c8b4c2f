#!/usr/bin/env bash
# One real request against a deployed release: /ping must be Healthy, a photo to the segmentation
# model must come back 200 as an image, and a non-image body must get a 4xx JSON error.
# Reaches the Service through `kubectl port-forward`, or SMOKE_URL (e.g. the ingress) when set.
source "$(dirname "$0")/lib.sh"

ns=${DEPLOY_NAMESPACE:?set DEPLOY_NAMESPACE}
release=${RELEASE:-closet}
model=${SMOKE_MODEL:-segmentation}
photo="$(dirname "$0")/smoke.jpg"

if [[ ${DRY_RUN:-0} == 1 ]]; then
    run curl "${SMOKE_URL:-http://127.0.0.1:PORT}/predictions/$model" --data-binary "@$photo"
    exit 0
fi
pf_pid=
out=$(mktemp)
trap 'rm -f "$out"; [[ -n $pf_pid ]] && kill "$pf_pid" 2>/dev/null; true' EXIT
if [[ -n ${SMOKE_URL:-} ]]; then
    url=${SMOKE_URL%/}
else
    use_cluster
    svc=$(service_name "$ns" "$release")
    [[ -n $svc ]] || die "no Service for release $release in $ns"
    port=${SMOKE_LOCAL_PORT:-18080}
    "$KUBECTL" port-forward -n "$ns" "svc/$svc" "$port:inference" >/dev/null 2>&1 &
    pf_pid=$!
    url="http://127.0.0.1:$port"
    for _ in $(seq 30); do curl -s -o /dev/null "$url/ping" && break; sleep 1; done
fi

body=$(curl --fail --silent --show-error --max-time 30 "$url/ping")
grep -q Healthy <<<"$body" || die "/ping: $body"

read -r code ctype < <(curl --silent --show-error --max-time 300 -o "$out" \
    -w '%{http_code} %{content_type}\n' -H 'Content-Type: image/jpeg' --data-binary "@$photo" \
    "$url/predictions/$model")
[[ $code == 200 && $ctype == image/* ]] || die "predictions/$model: HTTP $code $ctype $(head -c 300 "$out")"
log "predictions/$model: 200 $ctype, $(wc -c <"$out") bytes"

code=$(curl --silent --max-time 30 -o "$out" -w '%{http_code}' -H 'Content-Type: application/octet-stream' --data-binary 'not an image' "$url/predictions/$model")
[[ $code == 4* ]] && grep -q '"error"' "$out" || die "bad input: HTTP $code $(head -c 300 "$out")"
log "bad input: HTTP $code with a JSON error"
curl --fail --silent --show-error --max-time 30 "$url/ping" >/dev/null || die "server not healthy after bad input"
log "smoke ok: $url"
