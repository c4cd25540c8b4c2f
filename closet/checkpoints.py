"""The one place where checkpoint files are read and checked against a module.

Every model loader goes through `load_state_dict` (safe `weights_only` unpickling,
CPU tensors) and `strict_load` (exact key and shape match, with an error that
names the first offending key instead of torch's multi-page dump).
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from collections.abc import Mapping

import torch
from torch import nn

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, unsafe, or does not fit the module."""


def _unpickling_reason(e: Exception) -> str:
    """The specific line of torch's weights_only error, without its generic advice."""
    generic = ("Weights only load failed", "Please file an issue", "Check the documentation")
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    specific = [ln for ln in lines if not ln.startswith(generic)]
    return specific[0] if specific else type(e).__name__


def load_state_dict(path: str | os.PathLike, key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a flat `name -> tensor` state dict from `path` on the CPU.

    `key` selects a sub-dict for wrapped checkpoints (e.g. `{"state_dict": {...}}`).
    Pickled code is refused (weights_only=True); anything else that is not a
    mapping of str to tensors raises CheckpointError.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        with warnings.catch_warnings():
            # Files written by plain pickle (protocol > 2) warn before being refused anyway.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only refuses globals such as os.system, custom classes, and non-pickle bytes.
        raise CheckpointError(
            f"checkpoint {path!r} was refused by the safe loader (weights_only): it is not a plain tensor file "
            f"or it contains pickled code ({_unpickling_reason(e)})"
        ) from e
    except Exception as e:  # corrupt zips and truncated files fail in many ways; all get one clear error
        raise CheckpointError(f"checkpoint {path!r} is not a readable torch file: {type(e).__name__}: {e}") from e
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            raise CheckpointError(f"checkpoint {path!r} has no top-level key {key!r}")
        obj = obj[key]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path!r} holds a {type(obj).__name__}, not a state dict")
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"checkpoint {path!r} is not a state dict: entry {name!r} is a {type(value).__name__}, not a tensor"
            )
    return dict(obj)


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Drop `prefix` (e.g. 'module.' from DataParallel) from every key that has it."""
    n = len(prefix)
    return {(k[n:] if k.startswith(prefix) else k): v for k, v in state_dict.items()}


def check_state_dict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """Raise CheckpointError unless `state_dict` has exactly the module's keys and shapes.

    `num_batches_tracked` may be absent (old BatchNorm files): torch fills it in.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), first {missing[0]!r}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), first {unexpected[0]!r}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es), first {shapes[0]}")
    if problems:
        raise CheckpointError(f"{what}: checkpoint does not fit {type(module).__name__}: " + "; ".join(problems))


def strict_load(module: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> nn.Module:
    """Load `state_dict` into `module` with strict=True after a readable key/shape check."""
    check_state_dict(module, state_dict, what)
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:  # dtype or other mismatch the pre-check did not see
        raise CheckpointError(f"{what}: {e}") from e
    log.info("%s: loaded %d tensors into %s", what, len(state_dict), type(module).__name__)
    return module
