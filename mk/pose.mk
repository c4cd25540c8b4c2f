# BlazePose (issue #16): MediaPipe's person detector and "full" landmark network, taken from the
# pinned mediapipe wheel (downloaded with `pip download`, never installed), checked by sha256,
# and converted to PyTorch state dicts by closet_dev/blazepose_convert.py, which refuses to
# write unless the port matches LiteRT. File targets: a second run does nothing.
# (weights.mk's variables are defined after this file is read: paths are spelled out here.)

MEDIAPIPE_WHEEL := $(CACHE)/wheels/mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl
# sha256 of the wheel as PyPI lists it, and of the two members we use.
MEDIAPIPE_WHEEL_SHA256 := 05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3
POSE_DETECTION_SHA256 := 9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c
POSE_LANDMARK_FULL_SHA256 := e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f
BLAZEPOSE_TFLITE_DIR := $(CACHE)/blazepose
BLAZEPOSE_CONVERTER := closet_dev/blazepose_convert.py closet/models/blazepose.py closet/pose.py
BLAZEPOSE_WEIGHTS := model-store/weights/blazepose_detector.pth model-store/weights/blazepose_landmark_full.pth

.PHONY: bench-pose pose-docs

weights: $(BLAZEPOSE_WEIGHTS)

# The cp311 manylinux x86_64 wheel whatever machine runs this: only two .tflite files are used.
$(MEDIAPIPE_WHEEL): | venv
	mkdir -p $(dir $@)
	$(BIN)/pip download -q --no-deps --only-binary :all: --python-version 3.11 --implementation cp \
		--abi cp311 --platform manylinux_2_28_x86_64 -d $(dir $@) mediapipe==0.10.21
	echo "$(MEDIAPIPE_WHEEL_SHA256)  $@" | sha256sum -c --quiet
	touch $@

$(BLAZEPOSE_TFLITE_DIR)/pose_detection.tflite: $(MEDIAPIPE_WHEEL)
	$(call extract-member,$<,mediapipe/modules/pose_detection/pose_detection.tflite,$@,$(POSE_DETECTION_SHA256))

$(BLAZEPOSE_TFLITE_DIR)/pose_landmark_full.tflite: $(MEDIAPIPE_WHEEL)
	$(call extract-member,$<,mediapipe/modules/pose_landmark/pose_landmark_full.tflite,$@,$(POSE_LANDMARK_FULL_SHA256))

model-store/weights/blazepose_detector.pth: $(BLAZEPOSE_TFLITE_DIR)/pose_detection.tflite $(BLAZEPOSE_CONVERTER) | venv
	$(PYTHON) -m closet_dev.blazepose_convert --model detector --tflite $< --out $@

model-store/weights/blazepose_landmark_full.pth: $(BLAZEPOSE_TFLITE_DIR)/pose_landmark_full.tflite $(BLAZEPOSE_CONVERTER) | venv
	$(PYTHON) -m closet_dev.blazepose_convert --model landmark --tflite $< --out $@

bench-pose: weights model-store/closet.mar ## BlazePose detect() p50, port vs LiteRT, beside U^2-Net-P and the pipeline -> out/bench/pose.json
	$(PYTHON) tools/bench_pose.py --runs $(or $(BENCH_RUNS),21) --pipeline model-store/closet.mar

pose-docs: weights ## redraw docs/pose/<photo>.png: keypoints, skeleton, segmentation of the package photos
	$(PYTHON) -m closet_dev.blazepose_oracle --draw docs/pose
