#!/usr/bin/env bash
# debian-base.sh IMAGE [MIRROR]: a Debian bookworm base image with CPython 3.11 and its venv module,
# made with debootstrap and imported into the local containers-storage (podman import), for machines
# that cannot pull docker.io. It stands in for python:3.11-slim-bookworm, the base CI pulls: same
# Debian release, same `python3.11 -m venv`. `make image-base` runs it when IMAGE is absent.
# MIRROR defaults to the Debian mirror this machine's apt uses.
set -euo pipefail
image=${1:?usage: debian-base.sh IMAGE [MIRROR]}
sources() { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; }
# The first http(s) URI of a Debian archive (deb822 "URIs:" or one-line "deb URI suite"), not security.
mirror=${2:-$(sources | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ')}
mirror=${mirror:-http://deb.debian.org/debian}
security=$(sources | grep -oE 'https?://[^ ]+/debian-security/?( |$)' | head -1 | tr -d ' ')
command -v debootstrap >/dev/null && command -v podman >/dev/null \
    || { echo "debian-base.sh: needs debootstrap and podman (apt-get install -y buildah podman debootstrap)" >&2; exit 1; }

root=$(mktemp -d /var/tmp/closet-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debian-base.sh: debootstrap bookworm from $mirror" >&2
# python3-distutils: python3.11-venv needs the virtual python3.11-distutils, which debootstrap cannot resolve.
debootstrap --variant=minbase --include=python3.11,python3.11-venv,python3-distutils,ca-certificates bookworm "$root" "$mirror" >&2
{
    echo "deb ${mirror%/} bookworm main"
    echo "deb ${mirror%/} bookworm-updates main"
    [[ -n $security ]] && echo "deb ${security%/} bookworm-security main"
} > "$root/etc/apt/sources.list"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import --change 'CMD ["python3.11"]' - "$image" >&2
echo "$image"
