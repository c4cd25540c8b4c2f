# Photos of several people for the pose checks (issue #16): Ultralytics' bus.jpg and zidane.jpg,
# taken from the pinned ultralytics wheel (downloaded with `pip download`, never installed),
# checked by sha256. Ultralytics is AGPL-3.0: the photos stay in .cache/photos/, for tests and
# evaluation only; neither they nor pictures drawn from them are ever committed.
# File targets: a second run does nothing.

ULTRALYTICS_WHEEL := $(CACHE)/wheels/ultralytics-8.3.0-py3-none-any.whl
ULTRALYTICS_WHEEL_SHA256 := 3137c4921c18c8ddf610f64f1badc2dad2a9fd182e10218c2bbb29caee308b9e
PHOTOS_DIR := $(CACHE)/photos
BUS_JPG_SHA256 := c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63
ZIDANE_JPG_SHA256 := 16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb

.PHONY: photos
photos: $(PHOTOS_DIR)/bus.jpg $(PHOTOS_DIR)/zidane.jpg ## Ultralytics' bus.jpg and zidane.jpg (AGPL, never committed) -> .cache/photos/

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
