# Photos of several people for the pose checks (issue #16): Ultralytics' bus.jpg and zidane.jpg,
# taken from the pinned ultralytics wheel (downloaded with `pip download`, never installed),
# checked by sha256. Ultralytics is AGPL-3.0: the photos stay in .cache/photos/, for tests and
# evaluation only; neither they nor pictures drawn from them are ever committed.
# And six official portraits (Joe Biden's and Barack Obama's: works of the US government, public
# domain), face_recognition's test images, from its pinned source archive (MIT; nothing is built
# or installed) into .cache/photos/portraits/: the pose tests use one, and `make eval-portraits`
# judges the swap on all six.
# And six group photos of three to five women at parties, in short dresses, camisoles and jeans,
# sitting and standing (`make eval-groups`): the demo samples of the npm package
# @vladmandic/face-api 1.7.15 (MIT), from its pinned tarball into .cache/photos/groups/, for
# evaluation only: neither they nor pictures drawn from them are ever committed.
# File targets: a second run does nothing.

ULTRALYTICS_WHEEL := $(CACHE)/wheels/ultralytics-8.3.0-py3-none-any.whl
ULTRALYTICS_WHEEL_SHA256 := 3137c4921c18c8ddf610f64f1badc2dad2a9fd182e10218c2bbb29caee308b9e
PHOTOS_DIR := $(CACHE)/photos
BUS_JPG_SHA256 := c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63
ZIDANE_JPG_SHA256 := 16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb
FACE_RECOGNITION_SDIST := $(CACHE)/wheels/face_recognition-1.3.0.tar.gz
FACE_RECOGNITION_SDIST_SHA256 := 5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec
PORTRAITS_DIR := $(PHOTOS_DIR)/portraits
PORTRAITS := biden obama obama2 obama3 obama_partial_face obama_partial_face2
PORTRAIT_SHA256_biden := 3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c
PORTRAIT_SHA256_obama := 0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6
PORTRAIT_SHA256_obama2 := a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6
PORTRAIT_SHA256_obama3 := 76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3
PORTRAIT_SHA256_obama_partial_face := c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117
PORTRAIT_SHA256_obama_partial_face2 := 9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028
FACE_API_TGZ := $(CACHE)/dl/vladmandic-face-api-1.7.15.tgz
FACE_API_TGZ_SHA256 := 0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031
GROUPS_DIR := $(PHOTOS_DIR)/groups
GROUPS := group1 group2 group3 group4 group5 group6
GROUP_SHA256_group1 := 8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51
GROUP_SHA256_group2 := 7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691
GROUP_SHA256_group3 := 8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936
GROUP_SHA256_group4 := 729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc
GROUP_SHA256_group5 := 6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938
GROUP_SHA256_group6 := 9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87

.PHONY: photos
photos: $(PHOTOS_DIR)/bus.jpg $(PHOTOS_DIR)/zidane.jpg $(PORTRAITS:%=$(PORTRAITS_DIR)/%.jpg) ## bus.jpg, zidane.jpg (AGPL, never committed), six public-domain portraits -> .cache/photos/

TEST_DEPS += photos

$(ULTRALYTICS_WHEEL): | venv
	mkdir -p $(dir $@)
	$(BIN)/pip download -q --no-deps --only-binary :all: -d $(dir $@) ultralytics==8.3.0
	echo "$(ULTRALYTICS_WHEEL_SHA256)  $@" | sha256sum -c --quiet
	touch $@

$(PHOTOS_DIR)/bus.jpg: $(ULTRALYTICS_WHEEL)
	$(call extract-member,$<,ultralytics/assets/bus.jpg,$@,$(BUS_JPG_SHA256))

$(PHOTOS_DIR)/zidane.jpg: $(ULTRALYTICS_WHEEL)
	$(call extract-member,$<,ultralytics/assets/zidane.jpg,$@,$(ZIDANE_JPG_SHA256))

$(FACE_RECOGNITION_SDIST): | venv
	mkdir -p $(dir $@)
	$(BIN)/pip download -q --no-deps --no-binary :all: --no-build-isolation -d $(dir $@) face_recognition==1.3.0
	echo "$(FACE_RECOGNITION_SDIST_SHA256)  $@" | sha256sum -c --quiet
	touch $@

$(PORTRAITS_DIR)/%.jpg: $(FACE_RECOGNITION_SDIST)
	$(call extract-member,$<,face_recognition-1.3.0/tests/test_images/$*.jpg,$@,$(PORTRAIT_SHA256_$*))

.PHONY: groups
groups: $(GROUPS:%=$(GROUPS_DIR)/%.jpg) ## six group photos at parties (face-api's npm demo samples, MIT; never committed) -> .cache/photos/groups/

$(FACE_API_TGZ):
	mkdir -p $(dir $@)
	cd $(dir $@) && npm pack --silent @vladmandic/face-api@1.7.15 >/dev/null
	echo "$(FACE_API_TGZ_SHA256)  $@" | sha256sum -c --quiet
	touch $@

$(GROUPS_DIR)/group%.jpg: $(FACE_API_TGZ) | venv
	$(call extract-member,$<,package/demo/sample$*.jpg,$@,$(GROUP_SHA256_group$*))
