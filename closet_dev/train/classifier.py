"""A small Fashion-MNIST CNN: the judge of translated images.

Input: (N,1,32,32) in [-1,1] (28 px upsampled bilinearly to 32 like the StarGAN data;
RGB generator outputs are averaged to gray first). Output: 10 Fashion-MNIST logits.
Trained by `make train-classifier`; the committed weights live in assets/fmnist-classifier/.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from closet_dev.train.data import FMNIST_CLASSES, load_fmnist, to_tensor

log = logging.getLogger("closet_dev.train.classifier")
IMG_SIZE = 32


class FashionCNN(nn.Module):
    """Four 3x3 convs (BN, ReLU) in three max-pooled stages and a two-layer MLP head."""

    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, kernel_size=3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, w, kernel_size=3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.MaxPool2d(2),  # 16x16
            nn.Conv2d(w, 2 * w, kernel_size=3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8
            nn.Conv2d(2 * w, 4 * w, kernel_size=3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * w * 16, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)  # (N, 1, H, W): replicated-gray RGB back to gray
        return self.head(self.features(x))  # (N, num_classes)


def load_classifier(path: str | Path) -> FashionCNN:
    meta = json.loads((Path(path).parent / "classifier.json").read_text())
    net = FashionCNN(len(meta["classes"]), meta["width"])
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return net.eval()


@torch.no_grad()
def predict(net: nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """Logits for x (N,C,32,32) in [-1,1]."""
    return torch.cat([net(x[i : i + batch]) for i in range(0, len(x), batch)])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="assets/fmnist-classifier")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    xi, yi = load_fmnist("train")
    xt, yt = load_fmnist("test")
    x_train, y_train = to_tensor(xi, IMG_SIZE, channels=1), torch.from_numpy(yi.astype(np.int64))
    x_test, y_test = to_tensor(xt, IMG_SIZE, channels=1), torch.from_numpy(yt.astype(np.int64))
    net = FashionCNN(10, args.width)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = args.epochs * (len(x_train) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    t0 = time.time()
    history = []
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(x_train))
        for i in range(len(x_train) // args.batch):
            idx = perm[i * args.batch : (i + 1) * args.batch]
            x = x_train[idx]
            x = torch.where((torch.rand(len(idx)) < 0.5)[:, None, None, None], x.flip(-1), x)  # flip augmentation
            loss = F.cross_entropy(net(x), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        acc = (predict(net, x_test).argmax(1) == y_test).float().mean().item()
        history.append({"epoch": epoch + 1, "test_acc_10class": round(acc, 4), "elapsed_s": round(time.time() - t0, 1)})
        log.info("epoch %d: loss %.3f, 10-class test accuracy %.4f", epoch + 1, loss.item(), acc)
    pred = predict(net, x_test).argmax(1)
    per_class = {c: round((pred[y_test == i] == i).float().mean().item(), 4) for i, c in enumerate(FMNIST_CLASSES)}
    garments = [0, 2, 3, 4, 6]
    mask = torch.isin(y_test, torch.tensor(garments))
    logits5 = predict(net, x_test[mask])[:, garments]
    acc5 = (torch.tensor(garments)[logits5.argmax(1)] == y_test[mask]).float().mean().item()
    torch.save(net.state_dict(), out / "fmnist_cnn.pt")
    meta = {
        "classes": list(FMNIST_CLASSES),
        "width": args.width,
        "img_size": IMG_SIZE,
        "input": "(N,1,32,32) gray in [-1,1]; 28 px upsampled bilinearly; RGB is averaged to gray",
        "test_accuracy_10class": round((pred == y_test).float().mean().item(), 4),
        "test_accuracy_5_garment_domains": round(acc5, 4),
        "garment_domains_note": "5000 test images of labels 0,2,3,4,6, argmax over those 5 logits",
        "per_class_test_accuracy": per_class,
        "epochs": args.epochs,
        "seed": args.seed,
        "train_seconds": round(time.time() - t0, 1),
        "history": history,
        "data_source": "Debian dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), 60k train / 10k test",
    }
    (out / "classifier.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("saved %s: %s", out, {k: meta[k] for k in ("test_accuracy_10class", "test_accuracy_5_garment_domains")})


if __name__ == "__main__":
    main()
