"""Judge a StarGAN v2 Fashion-MNIST checkpoint with the committed classifier (`make eval-demo`).

Every test image of the 5 garment domains is translated to every OTHER domain, once
latent-guided (seeded z) and once reference-guided (a random test image of the target
domain as reference). The classifier's argmax over all 10 Fashion-MNIST classes must
equal the target class (hit rate; the argmax restricted to the 5 garment classes is also
reported). Diversity: mean pairwise L1 (pixels in [0,1]) between outputs for the same
source and target with different z. Writes metrics + confusion matrices (JSON, PNG) and
a source x target grid PNG.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from closet.models.stargan_v2 import load_with_sidecar
from closet.stages.translate import Latent, postprocess, translate
from closet_dev.progress import Progress
from closet_dev.train.classifier import load_classifier, predict
from closet_dev.train.data import FMNIST_CLASSES, GARMENT_DOMAINS, load_folder

log = logging.getLogger("closet_dev.train.eval")

TARGETS = {"latent": 0.80, "reference": 0.70}
DIVERSITY_FLOOR = 0.02  # mean |x1 - x2| in [0,1] pixel units, about 5 gray levels


def to_classifier_input(fake: torch.Tensor) -> torch.Tensor:
    """Generator output -> what a saved PNG would hold, re-read as classifier input in [-1,1]."""
    u8 = torch.from_numpy(postprocess(fake, grayscale=True)).float()  # (N, S, S) uint8 values
    return (u8 / 255.0 * 2 - 1).unsqueeze(1)  # (N, 1, S, S)


@torch.no_grad()
def run(args) -> dict:
    torch.set_num_threads(args.threads)
    nets = load_with_sidecar(args.ckpt, args.meta).eval()
    clf = load_classifier(args.classifier)
    x, y, folder_domains, _ = load_folder(Path(args.data), nets.img_size, nets.img_channels, args.limit_per_domain or None)
    if folder_domains != list(nets.domains):
        raise SystemExit(f"test folders {folder_domains} differ from the checkpoint domains {nets.domains}")
    k = len(nets.domains)
    label_of = torch.tensor([GARMENT_DOMAINS[d] for d in nets.domains])  # domain index -> FMNIST label
    garments = torch.tensor(sorted(GARMENT_DOMAINS.values()))
    gen = torch.Generator().manual_seed(args.seed)
    by_domain = [torch.nonzero(y == i).flatten() for i in range(k)]
    t0 = time.time()

    # Ceiling: the classifier on the real test images of each domain.
    real_pred = predict(clf, x).argmax(1)
    real_acc = {d: round((real_pred[y == i] == label_of[i]).float().mean().item(), 4) for i, d in enumerate(nets.domains)}

    # One unit per (source, target) pair: both modes' hit rates, then the diversity pass.
    progress = Progress(3 * k * (k - 1), "eval", unit="pair", log=log)
    results = {}
    for mode in ("latent", "reference"):
        conf10 = torch.zeros(k, 10, dtype=torch.long)  # target domain x predicted FMNIST class
        hits10 = hits5 = total = 0
        per_pair = torch.zeros(k, k)
        for src in range(k):
            for trg in range(k):
                if src == trg:
                    continue
                xs = x[by_domain[src]]
                preds = []
                for i in range(0, len(xs), args.batch):
                    xb = xs[i : i + args.batch]
                    n = len(xb)
                    if mode == "latent":
                        seeds = torch.randint(0, 2**31 - 1, (n,), generator=gen).tolist()
                        style = [Latent(s, args.psi) for s in seeds]
                    else:
                        ridx = by_domain[trg][torch.randint(0, len(by_domain[trg]), (n,), generator=gen)]
                        style = nets.style_encoder(x[ridx], torch.full((n,), trg, dtype=torch.long))  # (n, style_dim)
                    fake = translate(nets, xb, trg, style)
                    preds.append(predict(clf, to_classifier_input(fake)))
                logits = torch.cat(preds)  # (n_src, 10)
                p10 = logits.argmax(1)
                p5 = garments[logits[:, garments].argmax(1)]
                conf10[trg] += torch.bincount(p10, minlength=10)
                hit = (p10 == label_of[trg]).sum().item()
                hits10 += hit
                hits5 += (p5 == label_of[trg]).sum().item()
                total += len(p10)
                per_pair[src, trg] = hit / len(p10)
                progress.update()
        results[mode] = {
            "hit_rate_10class": round(hits10 / total, 4),
            "hit_rate_5domain": round(hits5 / total, 4),
            "translations": total,
            "target": TARGETS[mode],
            "per_target_hit_rate_10class": {
                d: round(conf10[t, label_of[t]].item() / conf10[t].sum().item(), 4) for t, d in enumerate(nets.domains)
            },
            "per_pair_hit_rate_10class": {
                f"{a}->{b}": round(per_pair[i, j].item(), 4)
                for i, a in enumerate(nets.domains) for j, b in enumerate(nets.domains) if i != j
            },
            "confusion_10class": {"rows_target": list(nets.domains), "cols_predicted": list(FMNIST_CLASSES),
                                  "counts": conf10.tolist()},
        }
        log.info("%s-guided: %.4f in target (10-class), %.4f (5-domain), %d translations",
                 mode, hits10 / total, hits5 / total, total)

    # Diversity: same source and target, args.diversity_z different z.
    l1s = []
    for src, trg in itertools.permutations(range(k), 2):
        idx = by_domain[src][torch.randperm(len(by_domain[src]), generator=gen)[: args.diversity_sources]]
        outs = []
        for _ in range(args.diversity_z):
            seeds = torch.randint(0, 2**31 - 1, (len(idx),), generator=gen).tolist()
            outs.append(((translate(nets, x[idx], trg, [Latent(s, args.psi) for s in seeds]) + 1) / 2).clamp(0, 1))
        for a, b in itertools.combinations(outs, 2):
            l1s.append((a - b).abs().mean(dim=(1, 2, 3)))
        progress.update()
    progress.close()
    diversity = torch.cat(l1s).mean().item()
    # Context: the same L1 between two random real test images of one domain.
    real_pairs = torch.stack([
        ((x[by_domain[d][torch.randint(0, len(by_domain[d]), (1,), generator=gen)]]
          - x[by_domain[d][torch.randint(0, len(by_domain[d]), (1,), generator=gen)]]).abs().mean() / 2)
        for d in range(k) for _ in range(200)
    ]).mean().item()
    elapsed = time.time() - t0
    return {
        "checkpoint": str(args.ckpt),
        "steps": nets.meta.get("steps"),
        "domains": list(nets.domains),
        "test_images": len(x),
        "classifier": str(args.classifier),
        "classifier_on_real_test_images": real_acc,
        "latent": results["latent"],
        "reference": results["reference"],
        "diversity": {
            "mean_pairwise_l1": round(diversity, 4),
            "floor": DIVERSITY_FLOOR,
            "z_per_source": args.diversity_z,
            "sources_per_pair": args.diversity_sources,
            "real_same_domain_pair_l1": round(real_pairs, 4),
        },
        "pass": {
            "latent": results["latent"]["hit_rate_10class"] >= TARGETS["latent"],
            "reference": results["reference"]["hit_rate_10class"] >= TARGETS["reference"],
            "diversity": diversity > DIVERSITY_FLOOR,
        },
        "eval_seconds": round(elapsed, 1),
        "seed": args.seed,
        "psi": args.psi,
    }


def confusion_png(metrics: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, mode in zip(axes, ("latent", "reference")):
        c = np.array(metrics[mode]["confusion_10class"]["counts"], dtype=float)
        c = c / c.sum(1, keepdims=True)
        ax.imshow(c, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(10), FMNIST_CLASSES, rotation=60, fontsize=8)
        ax.set_yticks(range(len(metrics["domains"])), metrics["domains"], fontsize=8)
        ax.set_xlabel("classifier prediction")
        ax.set_ylabel("target domain")
        ax.set_title(f"{mode}-guided: {metrics[mode]['hit_rate_10class']:.1%} in target")
        for i, j in itertools.product(range(c.shape[0]), range(c.shape[1])):
            if c[i, j] >= 0.005:
                ax.text(j, i, f"{c[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if c[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@torch.no_grad()
def grid_png(args, path: Path, scale: int = 4) -> None:
    """Rows: one test image per source domain; columns: the source, then each target domain.

    Latent-guided (seed = args.seed + row); the source's own domain column is a reconstruction.
    """
    from PIL import Image, ImageDraw

    nets = load_with_sidecar(args.ckpt, args.meta).eval()
    x, y, _, _ = load_folder(Path(args.data), nets.img_size, nets.img_channels, 1)
    k, s = len(nets.domains), nets.img_size * scale
    label_h, pad = 14, 2
    grid = Image.new("L", ((k + 1) * (s + pad), label_h + k * (s + pad)), 255)
    draw = ImageDraw.Draw(grid)
    for j, name in enumerate(["source", *nets.domains]):
        draw.text((j * (s + pad) + 3, 1), name, fill=0)
    for i in range(k):
        src = x[i : i + 1].expand(k, -1, -1, -1)
        fakes = postprocess(translate(nets, src, list(range(k)), Latent(args.seed + i)), grayscale=True)
        tiles = [postprocess(x[i : i + 1], grayscale=True)[0], *fakes]
        for j, tile in enumerate(tiles):
            im = Image.fromarray(tile, "L").resize((s, s), Image.NEAREST)
            grid.paste(im, (j * (s + pad), label_h + i * (s + pad)))
    grid.save(path, optimize=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", default="assets/stargan-fmnist/nets_ema.ckpt")
    p.add_argument("--meta", default="assets/stargan-fmnist/meta.json")
    p.add_argument("--classifier", default="assets/fmnist-classifier/fmnist_cnn.pt")
    p.add_argument("--data", default=".cache/fmnist-domains/test")
    p.add_argument("--out", default="assets/stargan-fmnist/eval")
    p.add_argument("--grid", default="docs/translation_grid.png")
    p.add_argument("--limit-per-domain", type=int, default=0, help="0 = all 1000 test images per domain")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--diversity-sources", type=int, default=50)
    p.add_argument("--diversity-z", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--psi", type=float, default=1.0, help="latent truncation towards the domain's mean style (1 = none)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = run(args)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    confusion_png(metrics, out / "confusion.png")
    if args.grid:
        grid_png(args, Path(args.grid))
    summary = (
        f"steps {metrics['steps']}: latent-guided {metrics['latent']['hit_rate_10class']:.1%} in target "
        f"(>= {TARGETS['latent']:.0%}: {'PASS' if metrics['pass']['latent'] else 'MISS'}; 5-domain argmax "
        f"{metrics['latent']['hit_rate_5domain']:.1%}), reference-guided {metrics['reference']['hit_rate_10class']:.1%} "
        f"(>= {TARGETS['reference']:.0%}: {'PASS' if metrics['pass']['reference'] else 'MISS'}; 5-domain "
        f"{metrics['reference']['hit_rate_5domain']:.1%}), diversity L1 {metrics['diversity']['mean_pairwise_l1']:.4f} "
        f"(floor {DIVERSITY_FLOOR}: {'PASS' if metrics['pass']['diversity'] else 'MISS'}); "
        f"classifier on real test images {metrics['classifier_on_real_test_images']}"
    )
    log.info("%s", summary)
    print(summary)  # the make target's output


if __name__ == "__main__":
    main()
