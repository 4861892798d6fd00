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

from aimclr import AimCLR, AimCLRError
from aimclr.cpu import retain_freed_memory
from aimclr.data import DatasetSplits, check_queue_size
from aimclr.eval import DEFAULT_FUSION_WEIGHTS, fuse_scores, linear_evaluation, topk_accuracy
from aimclr.streams import STREAMS, stream_dataset
from aimclr.training import (
    PretrainViews,
    Runtime,
    TrainingState,
    pretrain_epoch,
    seed_everything,
    setup_runtime,
    step_lr,
)
from aimclr.training import cli as c


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (checked); the meaning of each is that of ``examples/pretrain.py``."""
    p = c.ArgumentParser(Path(__file__).name, __doc__.split("\n\n")[0])
    p.add_argument("--streams", type=stream_list, default=list(STREAMS),
                   help="comma-separated streams to train")
    c.add_data_options(p, train_samples=800, test_samples=400)
    c.add_model_options(p, mining_epoch=8, stream=False)
    c.add_schedule_options(p, epochs=16, lr_steps=(13,))
    p.add_argument("--linear-epochs", type=c.int_at_least(1), default=100,
                   help="linear probe epochs per stream")
    c.add_run_options(p, workdir="runs/three_streams")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in a --workdir that holds a run, removing its files")
    args = p.parse_args(argv)
    c.check_trainer_options(p, args)
    return args


def run_files(workdir: Path) -> list[str]:
    """The files of a run in ``workdir`` (relative names): results.json and each
    stream's last.pt and scores.pt."""
    names = ["results.json", *(f"{s}/{f}" for s in STREAMS for f in ("last.pt", "scores.pt"))]
    return [name for name in names if (workdir / name).is_file()]


def stream_list(text: str) -> list[str]:
    """An argparse ``type=`` for comma-separated stream names."""
    streams = [s.strip() for s in text.split(",") if s.strip()]
    if not streams or any(s not in STREAMS for s in streams) or len(set(streams)) < len(streams):
        raise argparse.ArgumentTypeError(f"expected distinct names of {STREAMS}, got {text!r}")
    return streams


def pretrain_stream(args: argparse.Namespace, data: DatasetSplits, stream: str,
                    runtime: Runtime) -> AimCLR:
    """One stream's AimCLR, pre-trained from the run's seed; saved as STREAM/last.pt."""
    seed_everything(args.seed)
    model = c.build_model(args, data.layout).to(runtime.device)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                                lr=args.lr, momentum=0.9, weight_decay=1e-4)  # fmt: skip
    state = TrainingState(model, optimizer, scaler=runtime.grad_scaler())
    views = PretrainViews(model.extreme_views, None if args.aug_codes == "paper"
                          else args.aug_codes, stream, data.layout)  # fmt: skip
    for epoch in range(1, args.epochs + 1):
        metrics = pretrain_epoch(
            model, data.train, views, optimizer, epoch, batch_size=args.batch_size,
            seed=args.seed, lr=step_lr(epoch, args.lr, args.lr_steps), device=runtime.device,
            amp_dtype=runtime.amp_dtype, scaler=state.scaler)  # fmt: skip
        state.epoch = epoch
        if not args.quiet:
            terms = "  ".join(f"{k} {v:.3f}" for k, v in metrics.losses.items())
            print(f"{stream:>6} epoch {epoch:>3}/{args.epochs}  {terms}", flush=True)
    state.save(Path(args.workdir) / stream / "last.pt", args={**vars(args), "stream": stream},
               data=data.summary())  # fmt: skip
    return model


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Pre-train and probe every stream, then fuse; returns (and writes) the results."""
    runtime = setup_runtime(args.device, args.amp, args.threads)
    previous = run_files(Path(args.workdir))
    if previous and not args.overwrite:
        raise AimCLRError(f"{args.workdir} holds a run ({', '.join(previous)}); pass "
                          "--overwrite to start over, or another --workdir")  # fmt: skip
    data = c.open_data(args, args.seed)
    for name in previous:  # only after the options and the data passed their checks
        (Path(args.workdir) / name).unlink()
    check_queue_size(args.queue_size, data.summary()["train"], stacklevel=1)
    if not args.quiet:
        print(f"{', '.join(args.streams)} streams of {args.preset} on {data!r}; writing to "
              f"{Path(args.workdir).resolve()}", flush=True)
    labels = torch.cat([y for _, y in DataLoader(data.test, batch_size=512)])
    results: dict[str, Any] = {"data": data.name, "preset": args.preset, "epochs": args.epochs,
                               "seed": args.seed, "streams": {}}  # fmt: skip
    scores: dict[str, torch.Tensor] = {}
    for stream in args.streams:
        model = pretrain_stream(args, data, stream, runtime)
        linear = linear_evaluation(
            model.encoder_q, stream_dataset(data.train, stream, data.layout),
            stream_dataset(data.test, stream, data.layout), data.num_classes,
            epochs=args.linear_epochs,
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
    return c.run_command(parse_args, run, argv)


if __name__ == "__main__":
    retain_freed_memory()  # a training process: reuse freed memory, no page faults
    sys.exit(main())
