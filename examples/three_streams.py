"""3s-AimCLR: pre-train on the joint, bone and motion streams, probe each, fuse the scores.

As the paper's 3s-AimCLR rows: one model per stream, each pre-trained from the same
seed, linearly evaluated with the reference recipe, and the test logits of the best
evaluation of every stream summed with the reference weights joint 0.6, bone 0.6,
motion 0.4 (:func:`aimclr.eval.fuse_scores`).

    python examples/three_streams.py                  # built-in data, CPU (see the docs)
    python examples/three_streams.py --data ntu:/path/to/NTU60/xsub \
        --hidden-dim 256 --dropout 0.5 --epochs 300 --batch-size 128 --lr 0.1 \
        --lr-steps 250 --momentum 0.999 --queue-size 32768 --mining-epoch 150 \
        --workdir runs/3s-ntu60-xsub                                            # one GPU

The defaults are a half-size main job (800 training samples, 16 epochs per stream: a
quarter of its pre-training steps each), so that the three streams run on a CPU in
bounded time.
Outputs in ``--workdir``: ``STREAM/last.pt`` per stream (readable by
``examples/evaluate.py``), ``STREAM/scores.pt`` (test logits) and ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from aimclr import STGCN, AimCLR, AimCLRError
from aimclr.cpu import retain_freed_memory
from aimclr.data import SHORT_RUN_SYNTHETIC, DatasetSplits, open_dataset
from aimclr.eval import DEFAULT_FUSION_WEIGHTS, fuse_scores, linear_evaluation, topk_accuracy
from aimclr.streams import STREAMS, stream_dataset
from aimclr.training import (
    NonFiniteLossError,
    PretrainViews,
    Runtime,
    TrainingState,
    pretrain_epoch,
    seed_everything,
    setup_runtime,
    step_lr,
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; the meaning of each is that of ``examples/pretrain.py``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--streams", default="joint,bone,motion", help="comma-separated streams to train")
    add("--data", default="synthetic", help="'synthetic', a .npz file, or 'ntu:DIR'")
    add("--train-samples", type=int, default=800, help="synthetic set: training samples")
    add("--test-samples", type=int, default=400, help="synthetic set: held-out samples")
    add("--test-styles", default="masculine,normal,youthful", help=".npz data: test styles")
    add("--frames", type=int, default=25, help="synthetic and .npz data: T")
    add("--preset", default="aimclr",
        choices=("skeletonclr", "extreme_only", "d3m", "d3m_eadm", "aimclr"))
    add("--hidden-channels", type=int, default=16)
    add("--hidden-dim", type=int, default=64)
    add("--feature-dim", type=int, default=128)
    add("--dropout", type=float, default=0.0)
    add("--epochs", type=int, default=16)
    add("--batch-size", type=int, default=32)
    add("--lr", type=float, default=0.05)
    add("--lr-steps", default="13", help="comma-separated epochs after which lr *= 0.1")
    add("--momentum", type=float, default=0.99)
    add("--queue-size", type=int, default=512)
    add("--mining-epoch", type=int, default=8)
    add("--linear-epochs", type=int, default=100)
    add("--workdir", default="runs/three_streams")
    add("--seed", type=int, default=0)
    add("--device", default="auto")
    add("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto")
    add("--threads", type=int, default=None)
    add("--quiet", action="store_true", help="no per-epoch progress lines")
    args = p.parse_args(argv)
    args.streams = [s.strip() for s in args.streams.split(",") if s.strip()]
    unknown = [s for s in args.streams if s not in STREAMS]
    if unknown or not args.streams:
        p.error(f"--streams takes names of {STREAMS}, got {args.streams}")
    args.lr_steps = [int(s) for s in args.lr_steps.split(",") if s.strip()]
    return args


def pretrain_stream(args: argparse.Namespace, data: DatasetSplits, stream: str,
                    runtime: Runtime) -> AimCLR:
    """One stream's AimCLR, pre-trained from the run's seed; saved as STREAM/last.pt."""
    seed_everything(args.seed)
    encoder = STGCN("ntu-rgb+d", hidden_channels=args.hidden_channels,
                    hidden_dim=args.hidden_dim, dropout=args.dropout)  # fmt: skip
    nnm = {"mining_epoch": args.mining_epoch} if args.preset == "aimclr" else {}
    model = AimCLR.preset(args.preset, encoder, feature_dim=args.feature_dim,
                          queue_size=args.queue_size, momentum=args.momentum, **nnm,
                          queue_generator=torch.Generator().manual_seed(args.seed),
                          ).to(runtime.device)  # fmt: skip
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                                lr=args.lr, momentum=0.9, weight_decay=1e-4)  # fmt: skip
    state = TrainingState(model, optimizer, scaler=runtime.grad_scaler())
    views = PretrainViews(model.extreme_views, "12345", stream)
    for epoch in range(1, args.epochs + 1):
        metrics = pretrain_epoch(
            model, data.train, views, optimizer, epoch, batch_size=args.batch_size,
            seed=args.seed, lr=step_lr(epoch, args.lr, args.lr_steps), device=runtime.device,
            amp_dtype=runtime.amp_dtype, scaler=state.scaler)  # fmt: skip
        state.epoch = epoch
        if not args.quiet:
            terms = "  ".join(f"{k} {v:.3f}" for k, v in metrics.losses.items())
            print(f"{stream:>6} epoch {epoch:>3}/{args.epochs}  {terms}", flush=True)
    state.save(Path(args.workdir) / stream / "last.pt", args={**vars(args), "stream": stream})
    return model


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Pre-train and probe every stream, then fuse; returns (and writes) the results."""
    runtime = setup_runtime(args.device, args.amp, args.threads)
    data = open_dataset(args.data, num_frames=args.frames, train_samples=args.train_samples,
                        test_samples=args.test_samples, seed=args.seed,
                        synthetic=SHORT_RUN_SYNTHETIC, test_styles=args.test_styles.split(","))
    labels = torch.cat([y for _, y in DataLoader(data.test, batch_size=512)])
    results: dict[str, Any] = {"data": data.name, "preset": args.preset, "epochs": args.epochs,
                               "seed": args.seed, "streams": {}}  # fmt: skip
    scores: dict[str, torch.Tensor] = {}
    for stream in args.streams:
        model = pretrain_stream(args, data, stream, runtime)
        linear = linear_evaluation(
            model.encoder_q, stream_dataset(data.train, stream),
            stream_dataset(data.test, stream), data.num_classes, epochs=args.linear_epochs,
            milestones=(int(args.linear_epochs * 0.8),), device=runtime.device,
            generator=torch.Generator().manual_seed(args.seed))  # fmt: skip
        scores[stream] = linear.best_scores.cpu()
        torch.save(scores[stream], Path(args.workdir) / stream / "scores.pt")
        results["streams"][stream] = {"linear_best": linear.best_top1,
                                      "linear_last": linear.last_top1}  # fmt: skip
    fused = fuse_scores(scores, DEFAULT_FUSION_WEIGHTS)
    results["fused"] = topk_accuracy(fused, labels, k=(1,))[0]
    results["weights"] = {s: DEFAULT_FUSION_WEIGHTS[s] for s in args.streams}
    (Path(args.workdir) / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nlinear evaluation, held-out top-1 ({data.name}, {args.preset}, "
          f"{args.epochs} epochs per stream):")
    for stream, row in results["streams"].items():
        print(f"  {stream:<28}{100 * row['linear_best']:>6.1f}% (best)"
              f"{100 * row['linear_last']:>7.1f}% (last)")
    weights = " / ".join(f"{results['weights'][s]:g}" for s in args.streams)
    print(f"  {'fused (' + weights + ')':<28}{100 * results['fused']:>6.1f}%", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    try:
        run(parse_args(argv))
    except (AimCLRError, NonFiniteLossError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, AimCLRError) else 3
    return 0


if __name__ == "__main__":
    retain_freed_memory()  # a training process: reuse freed memory, no page faults
    sys.exit(main())
