"""Evaluate a pretrained encoder: kNN, linear probe, fine-tuning or semi-supervised.

The checkpoint can be this library's (``last.pt`` or ``best.pt`` written by
``pretrain.py``) or the official AimCLR code's: a pre-training ``epoch*_model.pt``
(364 entries) or a linear-evaluation ``best_model.pt`` (179 entries). The data options
mean what they mean in ``pretrain.py`` (synthetic, a ``.npz`` file, or ``ntu:DIR``; see
:func:`aimclr.data.open_dataset`)::

    python examples/evaluate.py runs/pretrain/last.pt --protocol linear
    python examples/evaluate.py runs/pretrain/last.pt --protocol semi --label-fraction 0.1
    python examples/evaluate.py ntu60_xsub_joint.pt --reference --data ntu:/data/NTU60/xsub \\
        --protocol linear

Protocols follow the reference recipes (:mod:`aimclr.eval`): ``knn`` (cosine, k = 200,
tau = 0.1, and k = 1); ``linear`` (frozen encoder, BatchNorm in eval mode, SGD lr 3.0,
x0.1 at 80 %, weight decay 0); ``finetune`` (every weight trained, lr 0.01, wd 1e-4);
``semi`` (fine-tuning on a class-balanced label fraction, Nesterov, gradient clip 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aimclr import STGCN, AimCLRError, to_stream
from aimclr.checkpoint import load_reference_encoder, load_state_dict_file
from aimclr.data import DatasetSplits
from aimclr.eval import (
    EncoderClassifier,
    finetune,
    linear_evaluation,
    semi_supervised_finetune,
)
from aimclr.nn import encoder_width
from aimclr.streams import stream_dataset
from aimclr.training import KNNMonitor, load_checkpoint, setup_runtime
from aimclr.training import cli as c


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (checked): the checkpoint, the protocol, and the data as in
    pretrain.py."""
    p = c.ArgumentParser(Path(__file__).name, __doc__.split("\n\n")[0])
    add = p.add_argument
    add("checkpoint", type=Path,
        help="last.pt or best.pt of examples/pretrain.py, or an official AimCLR checkpoint "
             "(with --reference)")
    add("--reference", action="store_true",
        help="the checkpoint comes from the official AimCLR code (NTU RGB+D layout)")
    add("--protocol", choices=("knn", "linear", "finetune", "semi"), default="linear",
        help="kNN, linear probe, fine-tuning, or semi-supervised fine-tuning")
    add("--stream", choices=("joint", "bone", "motion"), default=None,
        help="input stream; default: the one a library checkpoint was trained on "
             "(joint for --reference files)")
    add("--label-fraction", type=c.number_in(0, 1, high_open=False), default=0.1,
        help="semi: labelled share of the training set, in (0, 1]")
    add("--eval-epochs", type=c.int_at_least(1), default=100, help="classifier epochs")
    add("--eval-batch-size", type=c.int_at_least(1), default=128, help="classifier batch size")
    add("--save-scores", type=Path, default=None,
        help="write the best evaluation's test logits (N_test, K) here, for "
             "aimclr.eval.fuse_scores")
    c.add_data_options(p)
    add("--seed", type=c.int_at_least(0, c.MAX_SEED), default=0,
        help="synthetic data, random split and classifier initialisation")
    add("--device", type=c.device_name, default="auto",
        help="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:INDEX', ...")
    add("--threads", type=c.int_at_least(1, c.MAX_THREADS), default=None,
        help="CPU threads (torch.set_num_threads); default: torch's")
    args = p.parse_args(argv)
    c.check_data_options(p, args)
    if not args.checkpoint.is_file():
        p.error(f"checkpoint file not found: {args.checkpoint}")
    if args.save_scores is not None and args.protocol == "knn":
        p.error("--save-scores needs a classifier's logits: use it with --protocol linear, "
                "finetune or semi, not knn")
    if args.save_scores is not None and args.save_scores.resolve() == args.checkpoint.resolve():
        p.error(f"--save-scores {args.save_scores} is the checkpoint: writing the scores "
                "would replace it; name another file")
    if args.save_scores is not None and args.save_scores.is_dir():
        p.error(f"--save-scores: {str(args.save_scores)!r} is a folder; name the file to "
                "write, e.g. scores.pt")
    if args.save_scores is not None:
        try:
            c.check_writable_folder(args.save_scores.parent)
        except AimCLRError as error:
            p.error(f"--save-scores: {error}")
    return args


def load_encoder(args: argparse.Namespace, saved: dict[str, Any],
                 data: DatasetSplits) -> tuple[nn.Module, str]:  # fmt: skip
    """The query encoder of a library or reference checkpoint ``saved`` (on the CPU) and
    its stream: ``--stream`` if given, else the stream a library checkpoint was trained
    on (``"joint"`` for reference files). The data must have the checkpoint's layout."""
    if args.reference:
        encoder, _ = load_reference_encoder(saved, "encoder_q.", data.layout, dropout=0.0)
        return encoder, args.stream or "joint"
    options = saved.get("args")
    if not isinstance(saved.get("model"), dict) or not isinstance(options, dict):
        raise AimCLRError(
            f"{args.checkpoint} is not a checkpoint of examples/pretrain.py (expected the "
            "entries 'model' and 'args'); pass --reference for the official code's files"
        )
    layout = saved.get("data", {}).get("layout", "ntu-rgb+d")
    if layout != data.layout.name:
        raise AimCLRError(f"{args.checkpoint} was trained on layout {layout!r}, but --data "
                          f"{args.data} has layout {data.layout.name!r}; pass the data it was "
                          "trained on (or --map-to / --layout as in training)")  # fmt: skip
    try:  # rebuilt with the widths it was trained with; evaluation runs it in eval mode
        encoder = STGCN(data.layout, hidden_channels=options["hidden_channels"],
                        hidden_dim=options["hidden_dim"], dropout=0.0)  # fmt: skip
        prefix = "encoder_q."
        encoder.load_state_dict({k[len(prefix):]: v for k, v in saved["model"].items()
                                 if k.startswith(prefix)})  # fmt: skip
    except (KeyError, TypeError, RuntimeError) as error:
        raise AimCLRError(f"{args.checkpoint}: the encoder does not load: {error}") from None
    return encoder, args.stream or options.get("stream", "joint")


def evaluate(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the chosen protocol; returns (and prints) the accuracies."""
    return run(parse_args(argv))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate the checkpoint that ``args`` name; returns (and prints) the accuracies."""
    runtime = setup_runtime(args.device, "off", args.threads)
    # The file is read (and verified) before the data.
    read = load_state_dict_file if args.reference else load_checkpoint
    saved: dict[str, Any] = dict(read(args.checkpoint))
    data = c.open_data(args, args.seed)
    encoder, stream = load_encoder(args, saved, data)
    encoder = encoder.to(runtime.device)
    train, test = (stream_dataset(d, stream, data.layout) for d in (data.train, data.test))
    generator = torch.Generator().manual_seed(args.seed)
    schedule = {"epochs": args.eval_epochs, "milestones": (int(args.eval_epochs * 0.8),),
                "batch_size": args.eval_batch_size, "device": runtime.device,
                "generator": generator}
    result: dict[str, Any] = {"checkpoint": str(args.checkpoint), "protocol": args.protocol,
                              "data": data.name, "stream": stream}
    if args.protocol == "knn":
        monitor = KNNMonitor(data.train, data.test, data.num_classes, device=runtime.device,
                             transform=partial(to_stream, stream=stream, layout=data.layout))
        result.update(monitor(encoder))
    elif args.protocol == "linear":
        outcome = linear_evaluation(encoder, train, test, data.num_classes, **schedule)
        result.update(top1_best=outcome.best_top1, top1_last=outcome.last_top1)
    else:
        classifier = EncoderClassifier(encoder, encoder_width(encoder), data.num_classes,
                                       generator=torch.Generator().manual_seed(args.seed))
        if args.protocol == "finetune":
            outcome = finetune(classifier, train, test, **schedule)
        else:
            outcome = semi_supervised_finetune(classifier, train, test, args.label_fraction,
                                               seed=args.seed, **schedule)
        result.update(top1_best=outcome.best_top1, top1_last=outcome.last_top1)
    if args.save_scores is not None:
        torch.save(outcome.best_scores.cpu(), args.save_scores)
    print(json.dumps(result, indent=2))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    return c.run_command(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
