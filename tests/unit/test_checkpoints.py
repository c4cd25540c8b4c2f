"""closet.checkpoints: safe loading and readable mismatch errors for every model."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from torch import nn

from closet.checkpoints import CheckpointError, load_state_dict, strict_load, strip_prefix
from closet.models.u2net import load_checkpoint


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(4)


class _Payload:
    """Pickles to a call of os.system: what a malicious checkpoint looks like."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _save(tmp_path, obj, name="ckpt.pth"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_round_trip(tmp_path):
    net = _Net()
    sd = load_state_dict(_save(tmp_path, net.state_dict()))
    assert list(sd) == list(net.state_dict())
    strict_load(_Net(), sd, "round trip")


def test_missing_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state_dict(tmp_path / "nope.pth")


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "random.pth"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="refused by the safe loader|not a readable torch file"):
        load_state_dict(path)


def test_empty_and_text_files_are_refused(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "text.pth").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 4700000\n")
    for name in ("empty.pth", "text.pth"):
        with pytest.raises(CheckpointError):
            load_state_dict(tmp_path / name)


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    # The same payload does run under a plain unpickler: the test would notice a leak.
    pickle.loads(pickle.dumps(_Payload(tmp_path / "control")))
    assert (tmp_path / "control").exists()
    for path in (
        _save(tmp_path, {"conv.weight": _Payload(marker)}, "zip.pth"),  # torch zip format
        tmp_path / "legacy.pth",  # plain pickle stream
    ):
        if path.name == "legacy.pth":
            path.write_bytes(pickle.dumps({"conv.weight": _Payload(marker)}))
        with pytest.raises(CheckpointError, match="refused by the safe loader") as e:
            load_state_dict(path)
        assert "will likely succeed" not in str(e.value)  # never advise weights_only=False
    assert not marker.exists()


def test_non_state_dicts_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="holds a list"):
        load_state_dict(_save(tmp_path, [torch.zeros(1)], "list.pth"))
    with pytest.raises(CheckpointError, match=r"entry 'epoch' is a int"):
        load_state_dict(_save(tmp_path, {"conv.weight": torch.zeros(1), "epoch": 3}, "mixed.pth"))


def test_wrapped_checkpoint_key(tmp_path):
    path = _save(tmp_path, {"state_dict": {"module.conv.weight": torch.zeros(1)}})
    sd = load_state_dict(path, key="state_dict")
    assert strip_prefix(sd, "module.") == {"conv.weight": sd["module.conv.weight"]}
    with pytest.raises(CheckpointError, match="no top-level key 'model'"):
        load_state_dict(path, key="model")


def test_missing_key_is_named():
    sd = _Net().state_dict()
    del sd["bn.running_var"]
    with pytest.raises(CheckpointError, match=r"1 missing key\(s\), first 'bn.running_var'") as e:
        strict_load(_Net(), sd, "test net")
    assert "test net" in str(e.value)


def test_unexpected_key_is_named():
    sd = _Net().state_dict()
    sd["head.weight"] = torch.zeros(2)
    with pytest.raises(CheckpointError, match=r"unexpected key\(s\), first 'head.weight'"):
        strict_load(_Net(), sd, "test net")


def test_shape_mismatch_is_named():
    sd = _Net().state_dict()
    sd["conv.weight"] = torch.zeros(4, 3, 5, 5)
    with pytest.raises(CheckpointError, match=r"conv.weight: checkpoint \(4, 3, 5, 5\) vs model \(4, 3, 3, 3\)"):
        strict_load(_Net(), sd, "test net")


def test_wrong_architecture_names_the_first_key(tmp_path):
    # A U^2-Net-P file loaded as full U^2-Net: same keys, different widths.
    from closet.models.u2net import build

    path = _save(tmp_path, build("u2netp").state_dict())
    with pytest.raises(CheckpointError, match=r"shape mismatch.*stage1\.rebnconv1\.conv_s1\.weight"):
        load_checkpoint(path, arch="u2net")
    # A DataParallel-wrapped file: every key is unexpected, the first one is shown.
    path = _save(tmp_path, {f"module.{k}": v for k, v in build("u2netp").state_dict().items()}, "dp.pth")
    with pytest.raises(CheckpointError, match=r"first 'module\.stage1\.rebnconvin\.conv_s1\.weight'"):
        load_checkpoint(path, arch="u2netp")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
