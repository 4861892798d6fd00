"""Pre-train an encoder with AimCLR (or one of its ablations), then evaluate it.

With no arguments this is the README's main job: a short run on the built-in
synthetic action set on the CPU, then a kNN / linear evaluation of the pretrained
encoder next to a randomly initialised one and a raw-coordinate 1-NN baseline.

    python examples/pretrain.py                                  # the main job
    python examples/pretrain.py --data ../shared/data/bandai2.npz \
        --test-styles masculine,normal,youthful                 # real motion capture
    python examples/pretrain.py --data ntu:/path/to/NTU60/xsub --preset aimclr \
        --hidden-dim 256 --dropout 0.5 --epochs 300 --batch-size 128 \
        --lr 0.1 --lr-steps 250 --momentum 0.999 --queue-size 32768 \
        --mining-epoch 150                                      # the paper's recipe
    torchrun --nproc-per-node 2 examples/pretrain.py             # DDP (gloo on CPU)

The script parses options and assembles library parts: data (:mod:`aimclr.data`),
model (:class:`aimclr.AimCLR`), the loop, its state and kNN monitor
(:mod:`aimclr.training`), and the evaluation protocols (:mod:`aimclr.eval`).

Outputs in ``--workdir``: ``metrics.jsonl`` (one JSON object per epoch with every
loss term, the learning rate, throughput and kNN accuracy when measured),
``last.pt`` (model, queue, optimiser, epoch and RNG states; written atomically every
epoch, ``--resume`` continues from it) and ``results.json`` (final evaluation).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence, Sized
from functools import partial
from pathlib import Path
from typing import Any, cast

import torch

from aimclr import STGCN, AimCLR, AimCLRError, to_stream
from aimclr.cpu import retain_freed_memory
from aimclr.data import SHORT_RUN_SYNTHETIC, DatasetSplits, open_dataset, parse_synthetic_options
from aimclr.eval import linear_evaluation, raw_1nn_accuracy
from aimclr.streams import stream_dataset
from aimclr.training import KNNMonitor, PretrainViews, RunLog, TrainingState, pretrain_epoch
from aimclr.training.checkpoints import load_checkpoint
from aimclr.training.finite import NonFiniteLossError
from aimclr.training.rng import seed_everything
from aimclr.training.runtime import AMP_MODES, Runtime, setup_runtime
from aimclr.training.schedule import step_lr


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults are the README's main job."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--data", default="synthetic",
        help="'synthetic', a .npz file in the shared/data format, or 'ntu:DIR' holding "
             "train/val_position.npy (or _data.npy) and train/val_label.pkl")
    add("--train-samples", type=int, default=1600, help="synthetic set: training samples")
    add("--test-samples", type=int, default=800, help="synthetic set: held-out samples")
    add("--synthetic", action="append", default=[], metavar="NAME=VALUE",
        help="synthetic set: a keyword of aimclr.data.make_synthetic_actions, e.g. "
             f"max_yaw_deg=30 (repeatable; the main job uses {SHORT_RUN_SYNTHETIC})")
    add("--test-styles", default="masculine,normal,youthful",
        help=".npz data: comma-separated styles held out for testing")
    # NTU arrays keep their stored T and M.
    add("--frames", type=int, default=25, help="synthetic and .npz data: T (reference: 50)")
    add("--persons", type=int, default=None, help="synthetic and .npz data: M (default 1)")
    add("--stream", choices=("joint", "bone", "motion"), default="joint")
    add("--preset", choices=("skeletonclr", "extreme_only", "d3m", "d3m_eadm", "aimclr"),
        default="aimclr", help="row of the paper's Table 1")
    add("--aug-codes", default="12345",
        help="extreme augmentations after Crop+Shear, in the reference's order: 1 flip, "
             "2 rotate, 3 noise, 4 blur, 5 axis mask, 6 time flip; 'paper' = the paper's "
             "eight in the paper's order (time flip before noise)")
    add("--hidden-channels", type=int, default=16)
    add("--hidden-dim", type=int, default=64, help="encoder output width (reference: 256)")
    add("--feature-dim", type=int, default=128)
    add("--dropout", type=float, default=0.0, help="dropout in ST-GCN blocks (reference: 0.5)")
    add("--epochs", type=int, default=32, help="(reference: 300)")
    add("--batch-size", type=int, default=32, help="(reference: 128)")
    add("--lr", type=float, default=0.05, help="(reference: 0.1)")
    add("--lr-steps", default="26",
        help="comma-separated epochs after which lr *= 0.1 (reference: 250)")
    add("--momentum", type=float, default=0.99, help="key encoder momentum (reference: 0.999)")
    add("--temperature", type=float, default=0.07)
    add("--queue-size", type=int, default=512, help="(reference: 32768)")
    add("--mining-epoch", type=int, default=16,
        help="NNM replaces InfoNCE after this epoch (reference: 150)")
    add("--topk", type=int, default=1, help="NNM neighbours per query")
    add("--knn-every", type=int, default=8, help="kNN monitor every N epochs (0: off)")
    add("--linear-epochs", type=int, default=100, help="final linear probe epochs (0: off)")
    add("--workdir", default="runs/pretrain")
    add("--resume", action="store_true", help="continue from WORKDIR/last.pt")
    add("--seed", type=int, default=0)
    add("--device", default="auto", help="'auto' (CUDA when present), 'cpu', 'cuda', ...")
    add("--amp", choices=AMP_MODES, default="auto",
        help="autocast precision; 'auto' = bf16 on CUDA, off on CPU")
    add("--compile", choices=("off", "default", "reduce-overhead"), default="off",
        help="torch.compile the encoders' feature extraction with this mode; "
             "'reduce-overhead' (CUDA graphs) suits small GPU batches")
    add("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    add("--workers", type=int, default=0, help="DataLoader worker processes")
    add("--quiet", action="store_true", help="no per-epoch progress lines")
    args = p.parse_args(argv)
    args.lr_steps = [int(s) for s in args.lr_steps.split(",") if s.strip()]
    return args


def build_encoder(args: argparse.Namespace) -> STGCN:
    return STGCN("ntu-rgb+d", hidden_channels=args.hidden_channels, hidden_dim=args.hidden_dim,
                 dropout=args.dropout)  # fmt: skip


def build_model(args: argparse.Namespace) -> AimCLR:
    nnm = {"mining_epoch": args.mining_epoch, "nnm_top_k": args.topk}
    return AimCLR.preset(
        args.preset, build_encoder(args), feature_dim=args.feature_dim,
        queue_size=args.queue_size, momentum=args.momentum, temperature=args.temperature,
        **(nnm if args.preset == "aimclr" else {}),
        queue_generator=torch.Generator().manual_seed(args.seed))  # fmt: skip


#: Options that define the run a checkpoint belongs to: the model's shapes, its loss,
#: the data and the views. The schedule (epochs, lr, ...) may change on resume.
RUN_DEFINING = ("data", "train_samples", "test_samples", "synthetic", "test_styles", "frames",
                "persons", "stream", "preset", "aug_codes", "hidden_channels", "hidden_dim",
                "feature_dim", "dropout", "temperature", "queue_size", "topk", "seed")


def check_resumable(saved: dict[str, Any], args: argparse.Namespace, path: Path) -> None:
    """Raise unless ``args`` continue the run saved with options ``saved``."""
    changed = [f"--{name.replace('_', '-')} {saved[name]!r} -> {getattr(args, name)!r}"
               for name in RUN_DEFINING if name in saved and saved[name] != getattr(args, name)]
    if changed:
        raise AimCLRError(
            f"{path} belongs to a run with other options ({'; '.join(changed)}); pass the "
            "saved values to resume it, or choose another --workdir")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Pre-train, then evaluate; returns the final results (also in results.json)."""
    runtime = setup_runtime(args.device, args.amp, args.threads)
    log = RunLog(args.workdir, runtime.is_main, args.quiet)
    data = open_dataset(
        args.data, num_frames=args.frames, num_persons=args.persons or 1,
        train_samples=args.train_samples, test_samples=args.test_samples, seed=args.seed,
        synthetic={**SHORT_RUN_SYNTHETIC, **parse_synthetic_options(args.synthetic)},
        test_styles=args.test_styles.split(","))  # fmt: skip
    seed_everything(args.seed)
    core = build_model(args).to(runtime.device)
    optimizer = torch.optim.SGD([p for p in core.parameters() if p.requires_grad], lr=args.lr,
                                momentum=0.9, weight_decay=1e-4)  # fmt: skip
    state = TrainingState(core, optimizer, scaler=runtime.grad_scaler())
    checkpoint = Path(args.workdir) / "last.pt"
    if args.resume:
        saved = load_checkpoint(checkpoint, map_location=runtime.device)
        check_resumable(saved.get("args", {}), args, checkpoint)
        state.load_state_dict(saved)
        log.info(f"resumed from {checkpoint} after epoch {state.epoch}")
    if args.compile != "off":
        core.compile_features(mode=args.compile)
    model = runtime.distribute(core)
    views = PretrainViews(core.extreme_views, None if args.aug_codes == "paper"
                          else args.aug_codes, args.stream)  # fmt: skip
    stream = partial(to_stream, stream=args.stream)
    monitor = KNNMonitor(data.train, data.test, data.num_classes, every=args.knn_every,
                         transform=stream, device=runtime.device)  # fmt: skip
    log.info(f"{args.preset} on {data.name} ({len(cast(Sized, data.train))} train / "
             f"{len(cast(Sized, data.test))} test samples, {data.num_classes} classes), "
             f"stream {args.stream}, {runtime.device}, {runtime.world_size} process(es), "
             f"amp {runtime.amp_dtype}")  # fmt: skip
    for epoch in range(state.epoch + 1, args.epochs + 1):
        record = pretrain_epoch(
            model, data.train, views, optimizer, epoch, batch_size=args.batch_size,
            seed=args.seed, lr=step_lr(epoch, args.lr, args.lr_steps), device=runtime.device,
            amp_dtype=runtime.amp_dtype, scaler=state.scaler, num_workers=args.workers,
        ).record()  # fmt: skip
        state.epoch = epoch
        if runtime.is_main:
            if monitor.due(epoch, args.epochs):
                record.update(monitor(core.encoder_q))
            state.save(checkpoint, args=vars(args))
        log.epoch(record, args.epochs)
    results: dict[str, Any] = {}
    if runtime.is_main:
        results = final_evaluation(args, core, data, monitor, runtime)
        log.write_json("results.json", results)
        log.info(format_results(results))
    runtime.close()
    return results


def final_evaluation(args: argparse.Namespace, core: AimCLR, data: DatasetSplits,
                     monitor: KNNMonitor, runtime: Runtime) -> dict[str, Any]:
    """kNN and linear probe of the pretrained encoder, a random one, and raw 1-NN."""
    seed_everything(args.seed + 1)
    random_encoder = build_encoder(args).to(runtime.device)
    results: dict[str, Any] = {"preset": args.preset, "data": data.name, "stream": args.stream,
                               "epochs": args.epochs, "seed": args.seed}  # fmt: skip
    train, test = (stream_dataset(d, args.stream) if args.linear_epochs else d
                   for d in (data.train, data.test))  # fmt: skip
    for name, encoder in (("pretrained", core.encoder_q), ("random", random_encoder)):
        scores: dict[str, float] = monitor(encoder)
        if args.linear_epochs:
            linear = linear_evaluation(
                encoder, train, test, data.num_classes, epochs=args.linear_epochs,
                milestones=(int(args.linear_epochs * 0.8),), device=runtime.device,
                generator=torch.Generator().manual_seed(args.seed))  # fmt: skip
            scores.update(linear_best=linear.best_top1, linear_last=linear.last_top1)
        results[name] = scores
    results["raw_1nn"] = raw_1nn_accuracy(data.train, data.test, transform=monitor.transform)
    return results


def format_results(results: dict[str, Any]) -> str:
    """The final table: accuracy of each encoder under each protocol."""
    columns = [c for c in ("knn200", "knn1", "linear_best", "linear_last")
               if c in results["pretrained"]]
    lines = [f"\nheld-out accuracy ({results['data']}, {results['stream']} stream, "
             f"{results['preset']}, {results['epochs']} epochs):",
             f"  {'encoder':<22}" + "".join(f"{c:>13}" for c in columns)]
    for name in ("pretrained", "random"):
        lines.append(f"  {name:<22}" + "".join(f"{100 * results[name][c]:>12.1f}%"
                                                for c in columns))
    lines.append(f"  {'raw coordinates 1-NN':<22}{100 * results['raw_1nn']:>12.1f}%")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        run(parse_args(argv))
    except (AimCLRError, NonFiniteLossError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, AimCLRError) else 3
    return 0


if __name__ == "__main__":
    retain_freed_memory()  # a training process: reuse freed memory, no page faults
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under torchrun, gloo's threads can abort the interpreter's shutdown ("terminate
        # called without an active exception") after a clean run; everything is written
        # and the process group is destroyed, so leave without the shutdown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
