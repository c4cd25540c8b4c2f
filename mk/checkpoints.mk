# Checkpoints by URL: each MAR input of closet_dev/mar.py (U2NETP_WEIGHTS, PARSER_CKPT, STARGAN_CKPT,
# STARGAN_META) may be given as <VAR>_URL plus <VAR>_SHA256 instead of a local path, as make
# variables or as GitLab CI/CD variables (the build-mars job's environment):
#   make mars STARGAN_CKPT_URL=https://.../100000_nets_ema.ckpt STARGAN_CKPT_SHA256=<hex> \
#             STARGAN_META_URL=https://.../meta.json STARGAN_META_SHA256=<hex>
# The file is fetched once into .cache/checkpoints/<sha256>/<name> (tools/fetch_checkpoint.py:
# https, http, file, s3, gs), refused unless its sha256 matches, and <VAR> then points at it, so
# the MAR rules (mk/mars.mk, read after this file; its `?=` defaults then leave <VAR> alone) depend on it.
# The image labels record the digests from the MARs (tools/image_labels.py). docs/cicd.md.

CHECKPOINT_DIR := $(CACHE)/checkpoints
CHECKPOINT_VARS := U2NETP_WEIGHTS PARSER_CKPT STARGAN_CKPT STARGAN_META

# checkpoint-url VAR: when VAR_URL is set, VAR := the verified local copy, and the rule that fetches it.
define checkpoint-url
ifneq ($$($(1)_URL),)
$$(if $$($(1)),$$(error set $(1) or $(1)_URL, not both))
$$(if $$(filter 64,$$(shell printf %s '$$($(1)_SHA256)' | wc -c)),,$$(error $(1)_URL needs $(1)_SHA256: the 64-hex-digit sha256 the file must have))
$(1) := $(CHECKPOINT_DIR)/$$($(1)_SHA256)/$$(or $$(subst :,_,$$(notdir $$(firstword $$(subst ?, ,$$($(1)_URL))))),$(1))
$$($(1)):
	@$(PY) tools/fetch_checkpoint.py --url '$$($(1)_URL)' --sha256 '$$($(1)_SHA256)' --out $$@
endif
endef
$(foreach v,$(CHECKPOINT_VARS),$(eval $(call checkpoint-url,$(v))))

.PHONY: checkpoints
checkpoints: $(foreach v,$(CHECKPOINT_VARS),$(if $($(v)_URL),$($(v)))) ## fetch and verify every <VAR>_URL checkpoint (make mars does it too)
