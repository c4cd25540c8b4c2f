#!/usr/bin/env bash
# Package helm/closet and push it to GitLab: the OCI registry (default, CHART_REGISTRY=oci) at
# oci://$CI_REGISTRY_IMAGE/charts, or the project's Helm package registry (CHART_REGISTRY=helm,
# channel HELM_CHANNEL). Version: the git tag (without a leading v) on tag pipelines, else
# <Chart.yaml version>-ci.<pipeline iid>.g<short sha>. appVersion is what the images are tagged
# with, so the packaged chart's default image tag (<appVersion>-<flavor>) is this pipeline's build.
source "$(dirname "$0")/lib.sh"

base=$(sed -n 's/^version:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}.*/\1/p' "$CHART_DIR/Chart.yaml")
[[ -n $base ]] || die "no version in $CHART_DIR/Chart.yaml"
sha=$(commit_sha)
if [[ -n ${CI_COMMIT_TAG:-} ]]; then
    version=${CI_COMMIT_TAG#v}
    app_version=$CI_COMMIT_TAG
else
    version="$base-ci.${CI_PIPELINE_IID:-0}.g${sha:0:8}"
    app_version=$sha
fi
out=${CHART_OUT:-out/chart}
mkdir -p "$out"
run "$HELM" package "$CHART_DIR" --version "$version" --app-version "$app_version" --destination "$out"
pkg="$out/closet-$version.tgz"

case ${CHART_REGISTRY:-oci} in
oci)
    login "$HELM" registry
    run "$HELM" push "$pkg" "oci://${CI_REGISTRY_IMAGE:?}/charts"
    ;;
helm)
    run curl --fail-with-body --silent --show-error --request POST \
        --user "gitlab-ci-token:${CI_JOB_TOKEN:?}" --form "chart=@$pkg" \
        "${CI_API_V4_URL:?}/projects/${CI_PROJECT_ID:?}/packages/helm/api/${HELM_CHANNEL:-stable}/charts"
    ;;
*) die "CHART_REGISTRY must be oci or helm" ;;
esac
log "published closet $version (appVersion $app_version)"
