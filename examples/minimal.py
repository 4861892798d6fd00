"""AimCLR pre-training in plain PyTorch: the library's parts, no trainer.

Data, views, model, optimiser, the two-stage loss (InfoNCE, then NNM after the
mining epoch) and a kNN check of the features, in one loop you can read at a
glance and change freely. ``examples/pretrain.py`` adds what a long run needs
(resuming, AMP, DDP, logging) through :mod:`aimclr.training`.

    OMP_NUM_THREADS=1 python examples/minimal.py    # 3 minutes of one CPU core, kNN-20 44.5 %
    python examples/minimal.py --epochs 2 --train-samples 64 --test-samples 32
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader

from aimclr import STGCN, AimCLR
from aimclr.data import SHORT_RUN_SYNTHETIC, SyntheticActionDataset
from aimclr.eval import extract_features, knn_accuracy
from aimclr.training import step_lr
from aimclr.training.cli import MAX_SEED, int_at_least
from aimclr.transforms import AimCLRViews


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int_at_least(1), default=12)
    p.add_argument("--mining-epoch", type=int_at_least(0), default=6, help="NNM after this epoch")
    p.add_argument("--train-samples", type=int_at_least(1), default=800)
    p.add_argument("--test-samples", type=int_at_least(1), default=400)
    p.add_argument("--batch-size", type=int_at_least(1), default=32)
    p.add_argument("--queue-size", type=int_at_least(1), default=512)
    p.add_argument("--seed", type=int_at_least(0, MAX_SEED), default=0)
    args = p.parse_args(argv)
    if args.batch_size > args.train_samples:  # drop_last would leave no step at all
        p.error(f"--batch-size {args.batch_size} exceeds --train-samples {args.train_samples}")
    if args.queue_size < args.batch_size:
        p.error(f"--queue-size {args.queue_size} must hold one batch (--batch-size "
                f"{args.batch_size})")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    # Data: 12 synthetic actions on the NTU skeleton, x (C=3, T=25, V=25, M=1).
    data = {"num_frames": 25, **SHORT_RUN_SYNTHETIC}
    train = SyntheticActionDataset(args.train_samples, seed=args.seed, **data)
    test = SyntheticActionDataset(args.test_samples, seed=args.seed + 10_000, **data)

    # Model: any encoder (N, C, T, V, M) -> (N, D); ST-GCN here, small for a CPU.
    encoder = STGCN("ntu-rgb+d", hidden_channels=16, hidden_dim=64)
    model = AimCLR(encoder, feature_dim=128, queue_size=args.queue_size, momentum=0.99,
                   mining_epoch=args.mining_epoch).to(device)  # fmt: skip
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                                lr=0.05, momentum=0.9, weight_decay=1e-4)  # fmt: skip
    views = AimCLRViews(codes="12345")  # extreme, normal, normal, drawn on the device
    generator = torch.Generator().manual_seed(args.seed + 1)

    for epoch in range(1, args.epochs + 1):
        for group in optimizer.param_groups:  # x0.1 for the last fifth of the epochs
            group["lr"] = step_lr(epoch, 0.05, [int(args.epochs * 0.8)])
        model.train()
        loader = DataLoader(train, args.batch_size, shuffle=True, drop_last=True)
        totals: dict[str, float] = {}
        for x, _ in loader:  # labels are never used in pre-training
            x_extreme, x_query, x_key = views(x.to(device), generator=generator)
            out = model(x_extreme, x_query, x_key, epoch=epoch)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            for name, value in out.losses().items():
                totals[name] = totals.get(name, 0.0) + float(value) / len(loader)
        print(f"epoch {epoch:>2}  " + "  ".join(f"{k} {v:.3f}" for k, v in totals.items()))

    # Evaluation: kNN on the pooled features of the query encoder, no augmentation.
    train_x, train_y = extract_features(model.encoder_q, train)
    test_x, test_y = extract_features(model.encoder_q, test)
    assert train_y is not None and test_y is not None
    scores = {f"knn{k}": knn_accuracy(train_x, train_y, test_x, test_y, k=k, num_classes=12)
              for k in (20, 1)}  # fmt: skip
    print("held-out " + "  ".join(f"{k} {100 * v:.1f}%" for k, v in scores.items()))
    return scores


if __name__ == "__main__":
    main()
