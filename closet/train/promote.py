"""Copy a finished training run into the committed asset layout the MAR table expects.

<run>/{step:06d}_nets_ema.ckpt -> <out>/nets_ema.ckpt (same official nets_ema layout),
<run>/stargan.json -> <out>/meta.json (+ "grayscale": true for the Fashion-MNIST demo),
<run>/train_log.jsonl -> <out>/train_log.jsonl, and one test image per domain -> <out>/samples/.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from closet.train.data import list_domains


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--samples", default="", help="ImageFolder test split; first image per domain is copied")
    args = p.parse_args(argv)
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = json.loads((run / "stargan.json").read_text())
    shutil.copyfile(run / meta["checkpoint"], out / "nets_ema.ckpt")
    meta["official_checkpoint_name"] = meta.pop("checkpoint")
    meta.setdefault("grayscale", meta.get("channels") == 3 and "gray" in meta.get("input_note", ""))
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    shutil.copyfile(run / "train_log.jsonl", out / "train_log.jsonl")
    if args.samples:
        (out / "samples").mkdir(exist_ok=True)
        for d in list_domains(Path(args.samples)):
            first = sorted((Path(args.samples) / d).glob("*.png"))[0]
            shutil.copyfile(first, out / "samples" / f"{d}.png")


if __name__ == "__main__":
    main()
