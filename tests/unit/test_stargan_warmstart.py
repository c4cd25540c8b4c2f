"""Trainer continuation: warm start (--init-from: strict load of G/F/E into the trained nets and the
EMA copies, fresh D) and exact resume (--resume train_state.pt: every net, optimiser and the data RNG)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from closet_dev.train import promote, trainer

TINY = dict(img_size=16, num_domains=2, style_dim=8, latent_dim=4, max_conv_dim=16, dim_in=8, hidden_dim=16)
TINY_ARGS = ["--img-size", "16", "--style-dim", "8", "--latent-dim", "4", "--max-conv-dim", "16",
             "--dim-in", "8", "--hidden-dim", "16", "--batch", "2", "--threads", "1", "--log-every", "1"]


def _nets(seed):
    t = TINY
    return trainer.init_nets(t["img_size"], t["num_domains"], t["style_dim"], t["latent_dim"],
                             t["max_conv_dim"], t["dim_in"], t["hidden_dim"], seed)


@pytest.fixture()
def tiny_data(tmp_path):
    rng = np.random.default_rng(0)
    for d in ("a", "b"):
        (tmp_path / "data" / d).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / "data" / d / f"{i}.png")
    return tmp_path / "data"


@pytest.fixture()
def init_ckpt(tmp_path):
    src = _nets(seed=1)
    d = tmp_path / "init"
    d.mkdir()
    ckpt = d / "nets_ema.ckpt"
    torch.save({n: src[n].state_dict() for n in ("generator", "mapping_network", "style_encoder")}, ckpt)
    (d / "meta.json").write_text(json.dumps({"steps": 7, "train_seconds": 3.0}))
    (d / "train_log.jsonl").write_text(json.dumps({"step": 7}) + "\n")
    return ckpt


def test_warm_start_loads_strict_and_nets_equal_checkpoint(init_ckpt):
    nets = _nets(seed=2)
    meta = trainer.warm_start(nets, init_ckpt)
    assert meta["steps"] == 7
    state = torch.load(init_ckpt, weights_only=True)
    for n, sd in state.items():
        for k, v in nets[n].state_dict().items():
            assert torch.equal(v, sd[k]), (n, k)
    # strict: a checkpoint missing a key (or of other widths) is refused
    state["generator"].pop(next(iter(state["generator"])))
    torch.save(state, init_ckpt)
    with pytest.raises(RuntimeError):
        trainer.warm_start(_nets(seed=2), init_ckpt)


def test_warm_started_run_counts_total_steps_and_promote_keeps_ema(tmp_path, tiny_data, init_ckpt):
    out = tmp_path / "run"
    ckpt = trainer.train(trainer.parse_args(
        ["--data", str(tiny_data), "--out", str(out), "--steps", "1", "--init-from", str(init_ckpt)] + TINY_ARGS))
    assert ckpt.name == "000008_nets_ema.ckpt"
    side = json.loads((out / "stargan.json").read_text())
    assert side["init_from"] == str(init_ckpt) and side["init_steps"] == 7 and side["steps"] == 8
    assert side["run_steps"] == 1
    # after one step the EMA is 0.999 * checkpoint + 0.001 * trained: still within a hair of the checkpoint
    ema, init = torch.load(ckpt, weights_only=True), torch.load(init_ckpt, weights_only=True)
    k = next(iter(init["generator"]))
    assert torch.allclose(ema["generator"][k], init["generator"][k], atol=1e-3)
    dest = tmp_path / "promoted"
    promote.main(["--run", str(out), "--out", str(dest), "--debias-ema"])
    meta = json.loads((dest / "meta.json").read_text())
    assert meta["ema_debiased"].startswith("no:")
    assert torch.equal(torch.load(dest / "nets_ema.ckpt", weights_only=True)["generator"][k], ema["generator"][k])
    log = [json.loads(x) for x in (dest / "train_log.jsonl").read_text().splitlines()]
    assert log[0] == {"step": 7} and log[-1]["step"] == 8


def test_resume_continues_a_run_exactly(tmp_path, tiny_data):
    # lambda_ds decaying over 4 steps and alternating latent/ref steps: both schedules must carry on
    args = ["--data", str(tiny_data), "--alternate", "--lambda-ds", "1", "--ds-iter", "4", "--save-every", "1"] + TINY_ARGS
    full = trainer.train(trainer.parse_args(args + ["--out", str(tmp_path / "full"), "--steps", "3"]))
    part = tmp_path / "part"
    trainer.train(trainer.parse_args(args + ["--out", str(part), "--steps", "2"]))
    state = part / "train_state.pt"
    resumed = trainer.train(trainer.parse_args(args + ["--out", str(part), "--steps", "1", "--resume", str(state)]))
    assert full.name == resumed.name == "000003_nets_ema.ckpt"
    a, b = torch.load(full, weights_only=True), torch.load(resumed, weights_only=True)
    for n, sd in a.items():
        for k, v in sd.items():
            assert torch.equal(v, b[n][k]), (n, k)
    # the discriminator went on too (a warm start would have made a fresh one)
    d_full = torch.load(tmp_path / "full" / "train_state.pt", weights_only=True)["nets"]["discriminator"]
    d_res = torch.load(state, weights_only=True)["nets"]["discriminator"]
    assert all(torch.equal(v, d_res[k]) for k, v in d_full.items())
    side = json.loads((part / "stargan.json").read_text())
    assert side["steps"] == 3 and side["legs"] == [
        {"until_step": 2, "resumed_from": str(state), "hyperparameters": side["hyperparameters"], "device": "cpu"}]
    steps = [json.loads(x)["step"] for x in (part / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    # promoted, then resumed from the promoted state into a new folder (a fresh clone's .cache): same
    # weights as a run that never stopped, and the log still holds every step
    promote.main(["--run", str(tmp_path / "full"), "--out", str(tmp_path / "assets")])
    full4 = trainer.train(trainer.parse_args(args + ["--out", str(tmp_path / "full"), "--steps", "1",
                                                     "--resume", str(tmp_path / "full" / "train_state.pt")]))
    again = trainer.train(trainer.parse_args(args + ["--out", str(tmp_path / "again"), "--steps", "1",
                                                     "--resume", str(tmp_path / "assets" / "train_state.pt")]))
    a, b = torch.load(full4, weights_only=True), torch.load(again, weights_only=True)
    assert again.name == "000004_nets_ema.ckpt" and all(torch.equal(v, b[n][k]) for n in a for k, v in a[n].items())
    steps = [json.loads(x)["step"] for x in (tmp_path / "again" / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    with pytest.raises(SystemExit, match="only one"):
        trainer.train(trainer.parse_args(args + ["--out", str(tmp_path / "x"), "--resume", str(state),
                                                 "--init-from", str(full)]))


def test_resume_keeps_the_runs_hyperparameters_unless_overridden(tmp_path, tiny_data):
    # the trainer's own defaults (lambda_ds 1.0, lr 1e-4, no alternation) must not creep into a resumed run
    first = ["--data", str(tiny_data), "--out", str(tmp_path / "run"), "--steps", "1", "--save-every", "1",
             "--lambda-ds", "0", "--lr", "3e-4", "--f-lr", "3e-6", "--alternate"] + TINY_ARGS
    trainer.train(trainer.parse_args(first))
    state = tmp_path / "run" / "train_state.pt"
    base = ["--data", str(tiny_data), "--steps", "1", "--resume", str(state)] + TINY_ARGS
    trainer.train(trainer.parse_args(base + ["--out", str(tmp_path / "kept")]))
    hp = json.loads((tmp_path / "kept" / "stargan.json").read_text())["hyperparameters"]
    assert (hp["lambda_ds"], hp["lr"], hp["f_lr"], hp["alternate"]) == (0.0, 3e-4, 3e-6, True)
    opt = torch.load(tmp_path / "kept" / "train_state.pt", weights_only=True)["opt"]
    assert opt["generator"]["param_groups"][0]["lr"] == 3e-4
    assert opt["mapping_network"]["param_groups"][0]["lr"] == 3e-6
    # an explicit flag wins, in the sidecar and in the optimiser the run really used
    trainer.train(trainer.parse_args(base + ["--out", str(tmp_path / "over"), "--lr", "5e-5", "--no-alternate"]))
    hp = json.loads((tmp_path / "over" / "stargan.json").read_text())["hyperparameters"]
    assert (hp["lambda_ds"], hp["lr"], hp["f_lr"], hp["alternate"]) == (0.0, 5e-5, 3e-6, False)
    opt = torch.load(tmp_path / "over" / "train_state.pt", weights_only=True)["opt"]
    assert opt["generator"]["param_groups"][0]["lr"] == 5e-5
    assert opt["discriminator"]["param_groups"][0]["lr"] == 5e-5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_writes_a_checkpoint_that_loads_and_resumes_on_cpu(tmp_path, tiny_data):
    args = ["--data", str(tiny_data), "--alternate", "--save-every", "1"] + TINY_ARGS
    ckpt = trainer.train(trainer.parse_args(args + ["--out", str(tmp_path / "gpu"), "--steps", "2", "--device", "cuda"]))
    side = json.loads((tmp_path / "gpu" / "stargan.json").read_text())
    assert side["device"].startswith("cuda")
    sd = torch.load(ckpt, map_location="cpu", weights_only=True)
    nets = _nets(seed=3)
    for n in ("generator", "mapping_network", "style_encoder"):
        nets[n].load_state_dict(sd[n], strict=True)
    resumed = trainer.train(trainer.parse_args(args + ["--out", str(tmp_path / "gpu"), "--steps", "1", "--device", "cpu",
                                                      "--resume", str(tmp_path / "gpu" / "train_state.pt")]))
    assert resumed.name == "000003_nets_ema.ckpt"
    side = json.loads((tmp_path / "gpu" / "stargan.json").read_text())
    assert side["device"] == "cpu" and side["legs"][0]["device"].startswith("cuda")
