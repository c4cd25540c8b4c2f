# Container image (docker/Dockerfile), built and served with buildah: no Docker daemon (docs/image.md).
#   make image                      the cpu flavour, from this commit's MARs (`make mars` runs first)
#   make image IMAGE_FLAVOR=gpu     the gpu flavour (requirements-gpu.lock: PyPI's CUDA torch)
#   make image-smoke                TorchServe inside the built image, smoke + hostile requests from the host
#   make image-inspect              the built image's user, health check and labels
# Not part of `make test` (minutes, and a multi-GB download for gpu); tests/infra/test_image.py
# checks the Dockerfile and the build command line cheaply.

IMAGE_FLAVOR ?= cpu
# The base: CI sets IMAGE_BASE=docker.io/library/python:3.11-slim-bookworm. This machine cannot pull
# docker.io, so the default is a Debian bookworm root filesystem with CPython 3.11 made here by
# debootstrap (docker/debian-base.sh; `make image-base`, once).
IMAGE_LOCAL_BASE := localhost/closet-base:bookworm
IMAGE_BASE ?= $(IMAGE_LOCAL_BASE)
# What `make image` builds first. CI's image jobs get the MARs as build-mars artifacts and have no
# venv, so they set IMAGE_MARS to empty.
IMAGE_MARS ?= mars
IMAGE_IID := out/image-$(IMAGE_FLAVOR).iid
IMAGE_SMOKE_TIMEOUT ?= 900

.PHONY: image image-base image-smoke image-inspect

image-base: ## the local Debian bookworm + CPython 3.11 base image (debootstrap; needs buildah, podman, debootstrap)
	@buildah inspect --type image $(IMAGE_LOCAL_BASE) >/dev/null 2>&1 \
	  || docker/debian-base.sh $(IMAGE_LOCAL_BASE)

image: $(IMAGE_MARS) $(if $(filter $(IMAGE_LOCAL_BASE),$(IMAGE_BASE)),image-base) ## build the IMAGE_FLAVOR (cpu, or gpu) image with buildah; IMAGE_PUSH=1 pushes
	IMAGE_FLAVOR=$(IMAGE_FLAVOR) IMAGE_BASE=$(IMAGE_BASE) IMAGE_IID_FILE=$(IMAGE_IID) PIP_RETRIES=$(PIP_RETRIES) \
	  ci/build-image.sh

image-smoke: venv ## serve the built image (buildah run, its user and config); smoke + hostile requests from the host
	@test -f $(IMAGE_IID) || { echo "no $(IMAGE_IID): run make image IMAGE_FLAVOR=$(IMAGE_FLAVOR)"; exit 1; }
	$(PYTHON) tools/image_smoke.py --iid $(IMAGE_IID) --timeout $(IMAGE_SMOKE_TIMEOUT)

image-inspect: venv ## print and check the built image's user, health check, command and labels
	@test -f $(IMAGE_IID) || { echo "no $(IMAGE_IID): run make image IMAGE_FLAVOR=$(IMAGE_FLAVOR)"; exit 1; }
	$(PYTHON) tools/image_smoke.py --iid $(IMAGE_IID) --inspect
