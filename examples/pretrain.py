"""Pre-train an encoder with AimCLR (or one of its ablations), then evaluate it.

With no arguments this is the README's main job: a short run on the built-in
synthetic action set on the CPU, then a kNN / linear evaluation of the pretrained
encoder next to a randomly initialised one and a raw-coordinate 1-NN baseline.

    python examples/pretrain.py                                  # the main job
    python examples/pretrain.py --data ../shared/data/bandai2.npz \\
        --test-styles masculine,normal,youthful                 # real motion capture
    python examples/pretrain.py --data mine.npz --split subject:5,6  # your recordings
    python examples/pretrain.py --data ntu:/path/to/NTU60/xsub --preset aimclr \\
        --hidden-dim 256 --dropout 0.5 --epochs 300 --batch-size 128 \\
        --lr 0.1 --lr-steps 250 --momentum 0.999 --queue-size 32768 \\
        --mining-epoch 150                                      # the paper's recipe
    torchrun --nproc-per-node 2 examples/pretrain.py             # DDP (gloo on CPU)

Outputs in --workdir: metrics.jsonl (one JSON object per epoch), last.pt (the state
after the last epoch; --resume continues from it), best.pt (the state at the best
kNN-monitor epoch), results.json (final evaluation), and curves.png / confusion.png
when the viz extra is installed. A resumed run must keep the options of
aimclr.training.cli.RUN_DEFINING (the training guide gives the reasons).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from aimclr import AimCLR, AimCLRError, NonFiniteInputError, to_stream
from aimclr.cpu import retain_freed_memory
from aimclr.data import DatasetSplits, check_queue_size
from aimclr.eval import linear_evaluation, raw_1nn_accuracy
from aimclr.streams import stream_dataset
from aimclr.training import KNNMonitor, PretrainViews, RunLog, TrainingState, pretrain_epoch
from aimclr.training import cli as c
from aimclr.training.rng import seed_everything
from aimclr.training.runtime import Runtime, setup_runtime
from aimclr.training.schedule import step_lr


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (checked); the defaults are the README's main job."""
    p = c.ArgumentParser(Path(__file__).name, __doc__.split("\n\n")[0])
    c.add_data_options(p)
    c.add_model_options(p)
    c.add_schedule_options(p)
    add = p.add_argument_group("monitor and evaluation").add_argument
    add("--knn-every", type=c.int_at_least(0), default=8,
        help="kNN monitor every N epochs and after the last; it keeps best.pt (0: off)")
    add("--linear-epochs", type=c.int_at_least(0), default=100,
        help="final linear probe epochs (0: off)")
    c.add_run_options(p, workdir="runs/pretrain")
    add = p.add_argument_group("run").add_argument
    add("--resume", action="store_true", help="continue the run in --workdir from its last.pt")
    add("--overwrite", action="store_true",
        help="start over in a --workdir that holds a run, removing its files")
    add("--skip-nonfinite", action="store_true",
        help="skip batches holding NaN or infinite values (with a warning) instead of "
             "stopping")
    add("--compile", choices=("off", "default", "reduce-overhead"), default="off",
        help="torch.compile the encoders' features; 'reduce-overhead' (CUDA graphs) suits "
             "small GPU batches")
    add("--workers", type=c.int_at_least(0), default=0, help="DataLoader worker processes")
    args = p.parse_args(argv)
    c.check_trainer_options(p, args)
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Pre-train, then evaluate; returns the final results (also in results.json)."""
    runtime = setup_runtime(args.device, args.amp, args.threads)
    log = RunLog(args.workdir, enabled=False)  # writes nothing before the checks pass
    if not args.resume and log.run_files() and not args.overwrite:
        raise AimCLRError(
            f"{args.workdir} holds a run ({', '.join(p.name for p in log.run_files())}); pass "
            "--resume to continue it, --overwrite to start over, or another --workdir")
    data = c.open_data(args, args.seed)
    summary = data.summary()
    seed_everything(args.seed)
    core = c.build_model(args, data.layout).to(runtime.device)
    if args.compile != "off":  # checks the mode against the device before any file changes
        core.compile_features(mode=args.compile)
    log = RunLog(args.workdir, runtime.is_main, args.quiet)
    optimizer = torch.optim.SGD([p for p in core.parameters() if p.requires_grad], lr=args.lr,
                                momentum=0.9, weight_decay=1e-4)  # fmt: skip
    state = TrainingState(core, optimizer, scaler=runtime.grad_scaler())
    if args.resume:  # the file and its options are checked before anything changes
        notes: list[str] = []
        log.resume(state, runtime.device, check=lambda saved: notes.extend(
            c.check_resumable(saved, args, summary, log.last_path)))  # fmt: skip
        if state.epoch > args.epochs:  # results.json would report fewer epochs than ran
            raise AimCLRError(f"{log.last_path} is the state after epoch {state.epoch}, past "
                              f"--epochs {args.epochs}; pass --epochs {state.epoch} or more")
        log.info("; ".join([f"resumed from {log.last_path} after epoch {state.epoch}",
                            *(f"with {note}" for note in notes)]))  # fmt: skip
    elif log.clear():
        log.info(f"--overwrite: removed the previous run's files in {args.workdir}")
    if runtime.is_main:
        check_queue_size(args.queue_size, summary["train"], stacklevel=1)
    model = runtime.distribute(core)
    views = PretrainViews(core.extreme_views, None if args.aug_codes == "paper"
                          else args.aug_codes, args.stream, data.layout)  # fmt: skip
    stream = partial(to_stream, stream=args.stream, layout=data.layout)
    monitor = KNNMonitor(data.train, data.test, data.num_classes, every=args.knn_every,
                         transform=stream, device=runtime.device)  # fmt: skip
    log.info(f"{args.preset} on {data.name} ({summary['train']} train / {summary['test']} test "
             f"samples, {data.num_classes} classes, layout {data.layout.name}), stream "
             f"{args.stream}, {runtime.device}, {runtime.world_size} process(es), amp "
             f"{runtime.amp_dtype}; writing to {log.folder.resolve()}")  # fmt: skip
    for epoch in range(state.epoch + 1, args.epochs + 1):
        record = pretrain_epoch(
            model, data.train, views, optimizer, epoch, batch_size=args.batch_size,
            seed=args.seed, lr=step_lr(epoch, args.lr, args.lr_steps), device=runtime.device,
            amp_dtype=runtime.amp_dtype, scaler=state.scaler, num_workers=args.workers,
            nonfinite="skip" if args.skip_nonfinite else "error").record()  # fmt: skip
        state.epoch = epoch
        if runtime.is_main and monitor.due(epoch, args.epochs):
            record.update(monitor(core.encoder_q))
        log.commit_epoch(state, record, args.epochs, best_key=monitor.best_key,
                         args=vars(args), data=summary)  # fmt: skip
    results: dict[str, Any] = {}
    if runtime.is_main:
        results = final_evaluation(args, core, data, monitor, runtime, log)
        log.write_json("results.json", results)
        log.info(format_results(results))
        log.info(f"wrote {', '.join(p.name for p in log.run_files())} in {log.folder.resolve()}")
    runtime.close()
    return results


def final_evaluation(args: argparse.Namespace, core: AimCLR, data: DatasetSplits,
                     monitor: KNNMonitor, runtime: Runtime, log: RunLog) -> dict[str, Any]:
    """kNN and linear probe of the pretrained encoder, a random one, and raw 1-NN; the
    pretrained encoder's confusion matrix (linear probe, else kNN) as confusion.png."""
    seed_everything(args.seed + 1)
    random_encoder = c.build_encoder(args, data.layout).to(runtime.device)
    results: dict[str, Any] = {"preset": args.preset, "data": data.name, "stream": args.stream,
                               "epochs": args.epochs, "seed": args.seed}  # fmt: skip
    train, test = (stream_dataset(d, args.stream, data.layout) if args.linear_epochs else d
                   for d in (data.train, data.test))  # fmt: skip
    predictions = None
    for name, encoder in (("pretrained", core.encoder_q), ("random", random_encoder)):
        scores: dict[str, float] = monitor(encoder)
        if args.linear_epochs:
            linear = linear_evaluation(
                encoder, train, test, data.num_classes, epochs=args.linear_epochs,
                milestones=(int(args.linear_epochs * 0.8),), device=runtime.device,
                generator=torch.Generator().manual_seed(args.seed))  # fmt: skip
            scores.update(linear_best=linear.best_top1, linear_last=linear.last_top1)
            if predictions is None:
                predictions = linear.best_scores.argmax(dim=1).cpu()
        results[name] = scores
    results["raw_1nn"] = raw_1nn_accuracy(data.train, data.test, transform=monitor.transform)
    if predictions is None:
        predictions, labels = monitor.predict(core.encoder_q)
    else:
        labels = torch.cat([y for _, y in DataLoader(data.test, batch_size=512)])
    log.confusion(predictions, labels, data.class_names,
                  f"{args.preset}, {'linear probe' if args.linear_epochs else 'kNN-1'}")
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
    return c.run_command(parse_args, run, argv, hints={
        NonFiniteInputError: "hint: --skip-nonfinite skips such batches with a warning"})


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
