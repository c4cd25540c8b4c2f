"""A compact StarGAN v2 trainer (the paper's losses, CPU-sized).

Per iteration, as in the official solver: discriminator step with a latent-guided and a
reference-guided fake (non-saturating adversarial loss + R1 on reals), then generator
steps (latent-guided: G, F and E updated; reference-guided: G only) with adversarial,
style-reconstruction, diversity-sensitive (weight decayed linearly to 0) and cycle
losses. An EMA copy of G, F, E (beta 0.999) is what gets saved, in the official
`{:06d}_nets_ema.ckpt` layout, plus a sidecar JSON and a JSON-lines training log.

Run: python -m closet_dev.train.trainer --data DIR/train --out assets/stargan-fmnist ...
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from closet.models.stargan_v2 import Discriminator, build_nets
from closet_dev.progress import Progress
from closet_dev.train.data import load_folder

log = logging.getLogger("closet_dev.train.stargan")


def he_init(module: nn.Module) -> None:
    """Official initialisation: Kaiming-normal (fan_in, relu gain) weights, zero biases."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.constant_(module.bias, 0)


def adv_loss(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Non-saturating GAN loss as binary cross-entropy on logits."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def r1_reg(d_out: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    """R1 zero-centred gradient penalty on real images: 0.5 * E[||grad_x D(x)||^2]."""
    (grad,) = torch.autograd.grad(outputs=d_out.sum(), inputs=x_in, create_graph=True, retain_graph=True)
    return 0.5 * grad.pow(2).reshape(x_in.size(0), -1).sum(1).mean()


@torch.no_grad()
def moving_average(model: nn.Module, model_ema: nn.Module, beta: float) -> None:
    for p, p_ema in zip(model.parameters(), model_ema.parameters()):
        p_ema.lerp_(p, 1 - beta)


def init_nets(img_size, num_domains, style_dim, latent_dim, max_conv_dim, dim_in, hidden_dim, seed) -> dict:
    """G, F, E, D with the official He initialisation; deterministic in `seed` (EMA debiasing rebuilds it)."""
    torch.manual_seed(seed)
    nets = build_nets(img_size, num_domains, style_dim, latent_dim, 0, max_conv_dim, dim_in, hidden_dim)
    nets["discriminator"] = Discriminator(img_size, num_domains, max_conv_dim, dim_in=dim_in)
    for net in nets.values():
        net.apply(he_init)
    return nets


def debias_ema(ema: dict, init: dict, beta: float, steps: int) -> dict:
    """Remove the initial weights from an EMA that started at them: (ema - beta^n init) / (1 - beta^n).

    After n steps an EMA started at the random init still holds beta^n of it (0.999^600 = 0.55);
    this zero-debiasing (as in Adam's bias correction) leaves the exponentially weighted mean of
    the trained iterates only. Needed when a run is short compared with 1 / (1 - beta).
    """
    w = beta**steps
    return {k: ((v - w * init[k]) / (1 - w)) if v.is_floating_point() else v for k, v in ema.items()}


def warm_start(nets: dict, path: str | Path) -> dict:
    """Load G, F, E from a nets_ema checkpoint into `nets` (strict); returns that checkpoint's sidecar (or {})."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    for name in ("generator", "mapping_network", "style_encoder"):
        nets[name].load_state_dict(state[name], strict=True)
    side = Path(path).with_name("meta.json")
    return json.loads(side.read_text()) if side.exists() else {}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--data", required=True, help="ImageFolder split dir: <data>/<domain>/*.png")
    p.add_argument("--out", required=True, help="output dir (checkpoint, sidecar, log)")
    p.add_argument("--data-source", default="", help="free text recorded in the sidecar")
    p.add_argument("--img-size", type=int, default=32)
    p.add_argument("--channels", type=int, default=3, help="3 = replicated gray (official layout)")
    p.add_argument("--dim-in", type=int, default=32)
    p.add_argument("--max-conv-dim", type=int, default=128)
    p.add_argument("--hidden-dim", type=int, default=128, help="mapping network width (official 512)")
    p.add_argument("--style-dim", type=int, default=64)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--max-minutes", type=float, default=0, help="stop early (and save) after this wall time")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--f-lr", type=float, default=1e-6)
    p.add_argument("--beta1", type=float, default=0.0)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--lambda-reg", type=float, default=1.0)
    p.add_argument("--lambda-sty", type=float, default=1.0)
    p.add_argument("--lambda-ds", type=float, default=1.0)
    p.add_argument("--lambda-cyc", type=float, default=1.0)
    p.add_argument("--ds-iter", type=int, default=0, help="steps over which lambda_ds decays to 0 (0 = --steps)")
    p.add_argument("--ema-beta", type=float, default=0.999)
    p.add_argument("--alternate", action=argparse.BooleanOptionalAction, default=False,
                   help="one style source per iteration (latent on odd, reference on even steps) to halve CPU cost")
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto", help="auto (cuda when available, else cpu), cpu, cuda, cuda:N")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--limit-per-domain", type=int, default=0, help="use at most N images per domain (0 = all)")
    p.add_argument("--init-from", default="",
                   help="warm start: nets_ema checkpoint whose generator/mapping_network/style_encoder are loaded "
                        "(strict) into the trained nets AND their EMA copies; discriminator and optimisers start fresh")
    p.add_argument("--resume", default="",
                   help="continue a run exactly: a train_state.pt (all four nets, EMA, optimisers, data RNG) "
                        "that every save writes beside the checkpoint; hyperparameters not given on the "
                        "command line are the resumed run's")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    # What was typed, as opposed to defaulted: a resume keeps the run's hyperparameters unless overridden.
    # Abbreviations are off, so every option is spelled out ("--no-alternate" sets alternate).
    typed = (tok.split("=", 1)[0][2:].replace("-", "_") for tok in argv if tok.startswith("--"))
    args.given = {name.removeprefix("no_") for name in typed}
    return args


def save_state(out: Path, step: int, run_step: int, nets: dict, nets_ema: dict, opt: dict, gen: torch.Generator,
               meta: dict) -> None:
    """Everything --resume needs to continue without a fresh discriminator or optimiser.

    `step` counts all optimisation steps (warm starts included); `run_step` those since the
    optimisers were created, which drive the lambda_ds schedule and the latent/ref alternation.
    """
    state = {
        "step": step,
        "run_step": run_step,
        "meta": meta,
        "nets": {n: net.state_dict() for n, net in nets.items()},
        "nets_ema": {n: net.state_dict() for n, net in nets_ema.items()},
        "opt": {n: o.state_dict() for n, o in opt.items()},
        "data_rng": gen.get_state(),
    }
    tmp = out / "train_state.tmp"
    torch.save(state, tmp)
    os.replace(tmp, out / "train_state.pt")


def save(out: Path, step: int, nets_ema: dict, meta: dict) -> Path:
    """Write the official nets_ema layout (plain state dicts, no 'module.') and the sidecar."""
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / f"{step:06d}_nets_ema.ckpt"
    tmp = ckpt.with_suffix(".tmp")
    torch.save({name: net.state_dict() for name, net in nets_ema.items()}, tmp)
    os.replace(tmp, ckpt)
    for old in out.glob("*_nets_ema.ckpt"):
        if old != ckpt:
            old.unlink()
    meta = dict(meta, steps=step, checkpoint=ckpt.name)
    (out / "stargan.json").write_text(json.dumps(meta, indent=2) + "\n")
    return ckpt


def train(args: argparse.Namespace) -> Path:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    x_all, y_all, domains, _ = load_folder(Path(args.data), args.img_size, args.channels, args.limit_per_domain or None)
    k = len(domains)
    log.info("data: %d images, domains %s", len(x_all), domains)
    by_domain = [torch.nonzero(y_all == i).flatten() for i in range(k)]

    nets = init_nets(args.img_size, k, args.style_dim, args.latent_dim, args.max_conv_dim, args.dim_in,
                     args.hidden_dim, args.seed)
    init_meta, init_steps, run_offset = {}, 0, 0
    if args.resume and args.init_from:
        raise SystemExit("--resume continues a run and --init-from starts one: give only one")
    resume = torch.load(args.resume, map_location="cpu", weights_only=True) if args.resume else None
    if resume is not None:
        for n, net in nets.items():
            net.load_state_dict(resume["nets"][n], strict=True)
        init_meta, init_steps, run_offset = resume["meta"], int(resume["step"]), int(resume["run_step"])
        inherited = {k: v for k, v in init_meta["hyperparameters"].items() if k not in getattr(args, "given", ())}
        vars(args).update(inherited)
        log.info("hyperparameters from the resumed run: %s", inherited)
        gen.set_state(resume["data_rng"])
        log.info("resuming %s at step %d", args.resume, init_steps)
    elif args.init_from:
        init_meta = warm_start(nets, args.init_from)
        init_steps = int(init_meta.get("steps", 0))
        log.info("warm start from %s (%d previous steps)", args.init_from, init_steps)
    # Batches are sampled on the CPU (one RNG stream on any device), then moved.
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    for net in nets.values():
        net.to(dev)
    log.info("training on %s", dev)
    # The EMA starts at the (possibly warm-started) trained weights; promote --debias-ema relies on that.
    nets_ema = {n: copy.deepcopy(nets[n]).eval() for n in ("generator", "mapping_network", "style_encoder")}
    opt = {
        n: torch.optim.Adam(
            net.parameters(),
            lr=args.f_lr if n == "mapping_network" else args.lr,
            betas=(args.beta1, args.beta2),
            weight_decay=args.weight_decay,
        )
        for n, net in nets.items()
    }
    if resume is not None:
        for n, net in nets_ema.items():
            net.load_state_dict(resume["nets_ema"][n], strict=True)
        for n, o in opt.items():
            o.load_state_dict(resume["opt"][n])
            for group in o.param_groups:  # the saved groups carry the old settings; an override must win
                group.update(lr=args.f_lr if n == "mapping_network" else args.lr,
                             betas=(args.beta1, args.beta2), weight_decay=args.weight_decay)
    G, Fm, E, D = nets["generator"], nets["mapping_network"], nets["style_encoder"], nets["discriminator"]
    # Recorded as a number, so that a resume inherits the schedule rather than "0 = this leg's --steps".
    args.ds_iter = ds_iter = args.ds_iter or args.steps
    meta = {
        "format": "closet-stargan-v2/1",
        "architecture": "StarGAN v2 (clovaai/stargan-v2 core/model.py layout), w_hpf=0",
        "domains": domains,
        "img_size": args.img_size,
        "channels": args.channels,
        "grayscale": True,  # Fashion-MNIST: inputs are converted to gray (replicated when channels == 3)
        "input_note": "grayscale replicated to 3 channels" if args.channels == 3 else "",
        "style_dim": args.style_dim,
        "latent_dim": args.latent_dim,
        "w_hpf": 0,
        "widths": {"dim_in": args.dim_in, "max_conv_dim": args.max_conv_dim, "hidden_dim": args.hidden_dim},
        "data_source": args.data_source or str(args.data),
        "train_images": len(x_all),
        "seed": args.seed,
        "device": str(dev),
        "hyperparameters": {
            k2: getattr(args, k2)
            for k2 in ("batch", "lr", "f_lr", "beta1", "beta2", "weight_decay", "lambda_reg", "lambda_sty",
                       "lambda_ds", "lambda_cyc", "ds_iter", "ema_beta", "alternate")
        },
    }
    if resume is not None:
        # an exact continuation: keep the run's lineage, record this leg's hyperparameters
        meta = dict(init_meta, hyperparameters=meta["hyperparameters"], device=meta["device"],
                    legs=init_meta.get("legs", []) + [{"until_step": init_steps, "resumed_from": str(args.resume),
                                                       "hyperparameters": init_meta["hyperparameters"],
                                                       "device": init_meta.get("device")}])
        meta["init_train_seconds"] = init_meta.get("train_seconds")
    elif args.init_from:
        meta["init_from"] = str(args.init_from)
        meta["init_steps"] = init_steps
        meta["init_train_seconds"] = init_meta.get("train_seconds")
        meta["init_ema_debiased"] = init_meta.get("ema_debiased")
    log_path = out / "train_log.jsonl"
    # The history so far comes first (the warm start's log, or the log beside a resumed state), so the
    # run's log covers every step; resuming in the run's own folder just appends.
    prev_log = Path(args.resume or args.init_from).with_name("train_log.jsonl") if resume or args.init_from else None
    has_prev = prev_log is not None and prev_log.exists()
    same = has_prev and log_path.exists() and prev_log.samefile(log_path)
    log_fh = open(log_path, "a" if same else "w", encoding="utf-8")
    if has_prev and not same:
        log_fh.write(prev_log.read_text())
    if args.init_from:
        log_fh.write(json.dumps({"init_from": str(args.init_from), "init_steps": init_steps}) + "\n")
    t0 = time.time()

    def batch_of(idx: torch.Tensor) -> torch.Tensor:
        x = x_all[idx]
        flip = torch.rand(len(idx), generator=gen) < 0.5  # official: random horizontal flip
        return torch.where(flip[:, None, None, None], x.flip(-1), x)

    def sample_ref(n: int):
        y = torch.randint(0, k, (n,), generator=gen)
        i1 = torch.stack([by_domain[c][torch.randint(0, len(by_domain[c]), (1,), generator=gen)][0] for c in y.tolist()])
        i2 = torch.stack([by_domain[c][torch.randint(0, len(by_domain[c]), (1,), generator=gen)][0] for c in y.tolist()])
        return batch_of(i1), batch_of(i2), y

    step = 0
    ckpt = None
    progress = Progress(args.steps, "train", unit="step", log=log)  # bar + ETA; plain lines off a TTY
    for step in range(1, args.steps + 1):
        run_step = run_offset + step  # a resumed run carries on the schedule where it stopped
        lambda_ds = max(0.0, args.lambda_ds * (1 - (run_step - 1) / ds_iter))
        idx = torch.randint(0, len(x_all), (args.batch,), generator=gen)
        x_real, y_org = batch_of(idx), y_all[idx]
        x_ref, x_ref2, y_trg = sample_ref(args.batch)
        z_trg = torch.randn(args.batch, args.latent_dim, generator=gen)
        z_trg2 = torch.randn(args.batch, args.latent_dim, generator=gen)
        x_real, y_org, x_ref, x_ref2, y_trg, z_trg, z_trg2 = (
            t.to(dev) for t in (x_real, y_org, x_ref, x_ref2, y_trg, z_trg, z_trg2))

        # -- discriminator: latent-guided, then reference-guided fakes --------
        modes = (("latent",) if run_step % 2 else ("ref",)) if args.alternate else ("latent", "ref")
        d_logs = {}
        for mode in modes:
            x_in = x_real.clone().requires_grad_()
            out_real = D(x_in, y_org)
            loss_real = adv_loss(out_real, 1)
            loss_reg = r1_reg(out_real, x_in)
            with torch.no_grad():
                s_trg = Fm(z_trg, y_trg) if mode == "latent" else E(x_ref, y_trg)
                x_fake = G(x_real, s_trg)
            loss_fake = adv_loss(D(x_fake, y_trg), 0)
            loss = loss_real + loss_fake + args.lambda_reg * loss_reg
            opt["discriminator"].zero_grad(set_to_none=True)
            loss.backward()
            opt["discriminator"].step()
            d_logs[mode] = {"real": loss_real.item(), "fake": loss_fake.item(), "reg": loss_reg.item()}

        # -- generator: latent-guided (G, F, E learn), reference-guided (G learns) --
        g_logs = {}
        for mode in modes:
            if mode == "latent":
                s_trg, s_trg2 = Fm(z_trg, y_trg), Fm(z_trg2, y_trg)
            else:
                s_trg, s_trg2 = E(x_ref, y_trg), E(x_ref2, y_trg)
            x_fake = G(x_real, s_trg)
            loss_adv = adv_loss(D(x_fake, y_trg), 1)
            loss_sty = torch.mean(torch.abs(E(x_fake, y_trg) - s_trg))
            loss_ds = x_fake.new_zeros(())
            if lambda_ds > 0:  # once the weight has decayed to 0 the second fake is not worth a G forward
                x_fake2 = G(x_real, s_trg2).detach()
                loss_ds = torch.mean(torch.abs(x_fake - x_fake2))
            s_org = E(x_real, y_org)
            loss_cyc = torch.mean(torch.abs(G(x_fake, s_org) - x_real))
            loss = loss_adv + args.lambda_sty * loss_sty - lambda_ds * loss_ds + args.lambda_cyc * loss_cyc
            for o in opt.values():
                o.zero_grad(set_to_none=True)
            loss.backward()
            opt["generator"].step()
            if mode == "latent":
                opt["mapping_network"].step()
                opt["style_encoder"].step()
            g_logs[mode] = {"adv": loss_adv.item(), "sty": loss_sty.item(), "ds": loss_ds.item(), "cyc": loss_cyc.item()}

        for name, net_ema in nets_ema.items():
            moving_average(nets[name], net_ema, args.ema_beta)
        progress.update()

        elapsed = time.time() - t0
        if step % args.log_every == 0 or step == 1:
            rec = {"step": init_steps + step, "elapsed_s": round(elapsed, 1), "lambda_ds": round(lambda_ds, 4), "D": d_logs, "G": g_logs}
            log_fh.write(json.dumps(rec) + "\n")
            log_fh.flush()
            log.info("step %d (%.0fs, %.2fs/step): D %s G %s", step, elapsed, elapsed / step, d_logs, g_logs)
        stop = args.max_minutes and elapsed > args.max_minutes * 60
        if step % args.save_every == 0 or step == args.steps or stop:
            # steps / checkpoint name count the warm-start's steps too (total optimisation steps)
            step_meta = dict(meta, train_seconds=round(elapsed + (meta.get("init_train_seconds") or 0), 1),
                             run_steps=step, run_seconds=round(elapsed, 1))
            ckpt = save(out, init_steps + step, nets_ema, step_meta)
            save_state(out, init_steps + step, run_step, nets, nets_ema, opt, gen, dict(step_meta, steps=init_steps + step))
        if stop:
            log.warning("stopping at step %d: --max-minutes %.1f reached", step, args.max_minutes)
            break
    progress.close()
    log_fh.close()
    return ckpt


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    ckpt = train(parse_args(argv))
    log.info("saved %s", ckpt)


if __name__ == "__main__":
    main()
