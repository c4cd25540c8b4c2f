#!/usr/bin/env bash
# Build docker/Dockerfile with buildah (no Docker daemon). `make image` runs this, here and in the
# GitLab build jobs. Inputs:
#   IMAGE_FLAVOR      cpu (requirements.lock, torch +cpu) or gpu (requirements-gpu.lock, PyPI's CUDA torch)
#   IMAGE_BASE        the base image (default python:3.11-slim-bookworm; `make image` here passes the
#                     debootstrap base from docker/debian-base.sh)
#   IMAGE_REPOSITORY  image name (default $CI_REGISTRY_IMAGE, else localhost/closet); tagged
#                     :<commit sha>-<flavor>, plus :<git tag>-<flavor> on tag pipelines
#   IMAGE_PUSH        1 = log in, use the registry's layer cache (:buildcache-<flavor>) and push the
#                     tags; default 1 unless the repository is localhost/...
#   IMAGE_IID_FILE    where the built image's ID goes (default out/image-<flavor>.iid; make image-smoke)
# The MARs come from model-store/*.mar (`make mars`, or the build-mars job's artifacts). Labels: the
# OCI ones, plus the checkpoint digests and parser read from those MARs (tools/image_labels.py).
# pip inside the build sees the caller's PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_TRUSTED_HOST,
# PIP_RETRIES, PIP_CERT (the file is mounted read-only) and PIP_FIND_LINKS (local folders mounted
# read-only), so a mirror, a TLS-inspecting proxy or a local wheel folder works as it does for `make venv`.
source "$(dirname "$0")/lib.sh"

flavor=${IMAGE_FLAVOR:-}
case $flavor in
    cpu) lock=requirements.lock ;;
    gpu) lock=requirements-gpu.lock ;;
    *) die "IMAGE_FLAVOR must be cpu or gpu, got '$flavor'" ;;
esac
repo=${IMAGE_REPOSITORY:-${CI_REGISTRY_IMAGE:-localhost/closet}}
base=${IMAGE_BASE:-docker.io/library/python:3.11-slim-bookworm}
push=${IMAGE_PUSH:-$([[ $repo == localhost/* ]] && echo 0 || echo 1)}
dockerfile=${DOCKERFILE:-docker/Dockerfile}
iid_file=${IMAGE_IID_FILE:-out/image-$flavor.iid}
[[ -f $dockerfile ]] || die "$dockerfile not found"
[[ -f $lock ]] || die "$lock not found"
shopt -s nullglob
mars=(model-store/*.mar)
((${#mars[@]})) || die "no model-store/*.mar: run \`make mars\` first"

# BuildKit reads <Dockerfile>.dockerignore by itself; buildah is told.
ignore=()
[[ -f $dockerfile.dockerignore ]] && ignore=(--ignorefile "$dockerfile.dockerignore")

tags=("$repo:$(commit_sha)-$flavor")
[[ -n ${CI_COMMIT_TAG:-} ]] && tags+=("$repo:$CI_COMMIT_TAG-$flavor")

labels=(
    --label "org.opencontainers.image.revision=$(commit_sha)"
    --label "org.opencontainers.image.version=${CI_COMMIT_TAG:-$(commit_sha)}"
    --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    --label "closet.lock=$lock"
    --label "closet.torch=$(sed -nE 's/^torch={2,3}//p' "$lock")"
)
[[ -n ${CI_PROJECT_URL:-} ]] && labels+=(--label "org.opencontainers.image.source=$CI_PROJECT_URL")
found=$(python3 tools/image_labels.py "${mars[@]}") || die "cannot read the labels from the MARs"
while IFS= read -r kv; do labels+=(--label "$kv"); done <<<"$found"

pip=()
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_RETRIES; do
    [[ -n ${!var:-} ]] && pip+=(--build-arg "$var=${!var}")
done
if [[ -n ${PIP_FIND_LINKS:-} ]]; then
    for link in $PIP_FIND_LINKS; do [[ -d $link ]] && pip+=(--volume "$link:$link:ro"); done
    pip+=(--build-arg "PIP_FIND_LINKS=$PIP_FIND_LINKS")
fi
if [[ -n ${PIP_CERT:-} ]]; then
    [[ -f $PIP_CERT ]] || die "PIP_CERT=$PIP_CERT is not a file"
    pip+=(--volume "$(realpath "$PIP_CERT"):/run/closet-build/pip-cert.pem:ro" \
          --build-arg PIP_CERT=/run/closet-build/pip-cert.pem)
fi

cache=()
if [[ $push == 1 ]]; then
    [[ -n ${CI_REGISTRY:-} ]] && login buildah
    cache=(--cache-from "$repo/buildcache-$flavor" --cache-to "$repo/buildcache-$flavor")
fi
mkdir -p "$(dirname "$iid_file")"
log "building ${tags[0]} from $base with $lock (${#mars[@]} MARs)"
run buildah build --isolation "${BUILDAH_ISOLATION:-chroot}" --format docker --layers "${cache[@]}" \
    --build-arg "BASE=$base" --build-arg "FLAVOR=$flavor" "${pip[@]}" \
    "${labels[@]}" "${ignore[@]}" --iidfile "$iid_file" -f "$dockerfile" -t "${tags[0]}" .
for tag in "${tags[@]:1}"; do run buildah tag "${tags[0]}" "$tag"; done
if [[ $push == 1 ]]; then
    for tag in "${tags[@]}"; do run buildah push "$tag"; done
    log "pushed: ${tags[*]}"
else
    log "built: ${tags[*]} (not pushed)"
fi
