#!/usr/bin/env bash
# Build docker/Dockerfile for IMAGE_FLAVOR (cpu|gpu) with buildah (no Docker daemon) and push it
# to $IMAGE_REPOSITORY (default $CI_REGISTRY_IMAGE) as :<sha>-<flavor>, plus :<git tag>-<flavor>
# on tag pipelines. Layers are cached in the registry under :buildcache-<flavor>.
source "$(dirname "$0")/lib.sh"

flavor=${IMAGE_FLAVOR:-}
[[ $flavor == cpu || $flavor == gpu ]] || die "IMAGE_FLAVOR must be cpu or gpu, got '$flavor'"
repo=${IMAGE_REPOSITORY:-${CI_REGISTRY_IMAGE:?set CI_REGISTRY_IMAGE or IMAGE_REPOSITORY}}
dockerfile=${DOCKERFILE:-docker/Dockerfile}
[[ -f $dockerfile ]] || die "$dockerfile not found"

# BuildKit reads <Dockerfile>.dockerignore by itself; buildah is told.
ignore=()
[[ -f $dockerfile.dockerignore ]] && ignore=(--ignorefile "$dockerfile.dockerignore")

tags=("$repo:$(commit_sha)-$flavor")
[[ -n ${CI_COMMIT_TAG:-} ]] && tags+=("$repo:$CI_COMMIT_TAG-$flavor")

if [[ -n ${CI_REGISTRY:-} ]]; then
    login buildah
fi
run buildah build --format docker --layers \
    --cache-from "$repo/buildcache-$flavor" --cache-to "$repo/buildcache-$flavor" \
    --build-arg "FLAVOR=$flavor" \
    --label "org.opencontainers.image.revision=$(commit_sha)" \
    --label "org.opencontainers.image.source=${CI_PROJECT_URL:-}" \
    "${ignore[@]}" -f "$dockerfile" -t "${tags[0]}" .
for tag in "${tags[@]}"; do
    [[ $tag == "${tags[0]}" ]] || run buildah tag "${tags[0]}" "$tag"
    run buildah push "$tag"
done
log "pushed: ${tags[*]}"
