"""Copy a finished training run into the committed asset layout the MAR table expects.

<run>/{step:06d}_nets_ema.ckpt -> <out>/nets_ema.ckpt (same official nets_ema layout),
<run>/stargan.json -> <out>/meta.json (+ "grayscale": true for the Fashion-MNIST demo),
<run>/train_log.jsonl -> <out>/train_log.jsonl (the whole history, warm starts included),
<run>/train_state.pt -> <out>/train_state.pt (for an exact resume), and one test image per domain -> <out>/samples/.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from closet_dev.train.data import list_domains


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--samples", default="", help="ImageFolder test split; first image per domain is copied")
    p.add_argument("--debias-ema", action="store_true",
                   help="remove the random init from the EMA weights (short runs; see trainer.debias_ema)")
    args = p.parse_args(argv)
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = json.loads((run / "stargan.json").read_text())
    if args.debias_ema and meta.get("init_from"):
        # Warm-started run: its EMA began at the warm-start weights, which are themselves a (debiased)
        # average of the earlier run, not a random init. The EMA is then a proper average over the whole
        # history; debiasing against the seed init would be wrong, and against the warm-start weights
        # would throw that history away. So the EMA is copied as is.
        shutil.copyfile(run / meta["checkpoint"], out / "nets_ema.ckpt")
        meta["ema_debiased"] = (f"no: EMA started at the warm-start weights ({meta['init_from']}, "
                                f"{meta.get('init_steps')} steps), not at the random init")
    elif args.debias_ema:
        import torch

        from closet_dev.train.trainer import debias_ema, init_nets

        w = meta["widths"]
        init = init_nets(meta["img_size"], len(meta["domains"]), meta["style_dim"], meta["latent_dim"],
                         w["max_conv_dim"], w["dim_in"], w["hidden_dim"], meta["seed"])
        ema = torch.load(run / meta["checkpoint"], map_location="cpu", weights_only=True)
        beta, steps = meta["hyperparameters"]["ema_beta"], meta["steps"]
        ema = {n: debias_ema(sd, init[n].state_dict(), beta, steps) for n, sd in ema.items()}
        torch.save(ema, out / "nets_ema.ckpt")
        meta["ema_debiased"] = f"(ema - {beta}^{steps} * init) / (1 - {beta}^{steps}); init rebuilt from seed"
    else:
        shutil.copyfile(run / meta["checkpoint"], out / "nets_ema.ckpt")
    meta["official_checkpoint_name"] = meta.pop("checkpoint")
    meta.setdefault("grayscale", meta.get("channels") == 3 and "gray" in meta.get("input_note", ""))
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    # a warm-started run's log already begins with the history of the checkpoint it started from
    shutil.copyfile(run / "train_log.jsonl", out / "train_log.jsonl")
    if (run / "train_state.pt").exists():  # lets the next run continue exactly (STARGAN_RESUME)
        shutil.copyfile(run / "train_state.pt", out / "train_state.pt")
    if args.samples:
        (out / "samples").mkdir(exist_ok=True)
        for d in list_domains(Path(args.samples)):
            first = sorted((Path(args.samples) / d).glob("*.png"))[0]
            shutil.copyfile(first, out / "samples" / f"{d}.png")


if __name__ == "__main__":
    main()
