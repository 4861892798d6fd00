"""Evaluate a pretrained encoder: kNN, linear probe, fine-tuning or semi-supervised.

The checkpoint can be this library's (``last.pt`` written by ``pretrain.py``) or the
official AimCLR code's: a pre-training ``epoch*_model.pt`` (364 entries) or a
linear-evaluation ``best_model.pt`` (179 entries). The data options mean what they
mean in ``pretrain.py`` (synthetic, a ``.npz`` file, or ``ntu:DIR``; see
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
from aimclr.data import SHORT_RUN_SYNTHETIC, open_dataset, parse_synthetic_options
from aimclr.eval import (
    EncoderClassifier,
    finetune,
    linear_evaluation,
    semi_supervised_finetune,
)
from aimclr.streams import stream_dataset
from aimclr.training import KNNMonitor, load_checkpoint, setup_runtime


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options: the checkpoint, the protocol, and the data as in pretrain.py."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("checkpoint", type=Path)
    add("--reference", action="store_true",
        help="the checkpoint comes from the official AimCLR code")
    add("--protocol", choices=("knn", "linear", "finetune", "semi"), default="linear")
    add("--stream", choices=("joint", "bone", "motion"), default=None,
        help="input stream; default: the one a library checkpoint was trained on "
             "(joint for --reference files)")
    add("--label-fraction", type=float, default=0.1, help="semi: labelled share")
    add("--eval-epochs", type=int, default=100)
    add("--eval-batch-size", type=int, default=128)
    add("--save-scores", type=Path, default=None,
        help="write the best evaluation's test logits (N_test, K) here, for "
             "aimclr.eval.fuse_scores")
    add("--data", default="synthetic", help="'synthetic', a .npz file, or 'ntu:DIR'")
    add("--train-samples", type=int, default=1600, help="synthetic set: training samples")
    add("--test-samples", type=int, default=800, help="synthetic set: held-out samples")
    add("--synthetic", action="append", default=[], metavar="NAME=VALUE",
        help="synthetic set: a keyword of aimclr.data.make_synthetic_actions (repeatable)")
    add("--test-styles", default="masculine,normal,youthful",
        help=".npz data: comma-separated styles held out for testing")
    add("--frames", type=int, default=25, help="synthetic and .npz data: T")
    add("--persons", type=int, default=None, help="synthetic and .npz data: M (default 1)")
    add("--seed", type=int, default=0, help="synthetic data and classifier initialisation")
    add("--device", default="auto", help="'auto' (CUDA when present), 'cpu', 'cuda', ...")
    add("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    return p.parse_args(argv)


def load_encoder(args: argparse.Namespace) -> tuple[nn.Module, str]:
    """The query encoder of a library or reference checkpoint (on the CPU) and its stream:
    ``--stream`` if given, else the stream a library checkpoint was trained on
    (``"joint"`` for reference files)."""
    if not args.checkpoint.is_file():
        raise AimCLRError(f"checkpoint file not found: {args.checkpoint}")
    if args.reference:
        state = load_state_dict_file(args.checkpoint)
        encoder, _ = load_reference_encoder(state, "encoder_q.", "ntu-rgb+d", dropout=0.0)
        return encoder, args.stream or "joint"
    saved = load_checkpoint(args.checkpoint)
    if "model" not in saved or "args" not in saved:
        raise AimCLRError(
            f"{args.checkpoint} is not a checkpoint of examples/pretrain.py (expected the "
            "keys 'model' and 'args'); pass --reference for the official code's files"
        )
    options = saved["args"]
    # Rebuilt with the widths it was trained with; evaluation runs it in eval mode.
    encoder = STGCN("ntu-rgb+d", hidden_channels=options["hidden_channels"],
                    hidden_dim=options["hidden_dim"], dropout=0.0)  # fmt: skip
    prefix = "encoder_q."
    weights = {k[len(prefix):]: v for k, v in saved["model"].items() if k.startswith(prefix)}
    try:
        encoder.load_state_dict(weights)
    except RuntimeError as error:
        raise AimCLRError(f"{args.checkpoint}: the encoder does not load: {error}") from None
    return encoder, args.stream or options.get("stream", "joint")


def evaluate(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the chosen protocol; returns (and prints) the accuracies."""
    args = parse_args(argv)
    if args.save_scores is not None and args.protocol == "knn":
        raise AimCLRError("--save-scores needs a classifier's logits: use it with --protocol "
                          "linear, finetune or semi, not knn")
    runtime = setup_runtime(args.device, "off", args.threads)
    encoder, stream = load_encoder(args)  # checked before the data
    encoder = encoder.to(runtime.device)
    data = open_dataset(
        args.data, num_frames=args.frames, num_persons=args.persons or 1,
        train_samples=args.train_samples, test_samples=args.test_samples, seed=args.seed,
        synthetic={**SHORT_RUN_SYNTHETIC, **parse_synthetic_options(args.synthetic)},
        test_styles=args.test_styles.split(","))  # fmt: skip
    train, test = stream_dataset(data.train, stream), stream_dataset(data.test, stream)
    generator = torch.Generator().manual_seed(args.seed)
    schedule = {"epochs": args.eval_epochs, "milestones": (int(args.eval_epochs * 0.8),),
                "batch_size": args.eval_batch_size, "device": runtime.device,
                "generator": generator}
    result: dict[str, Any] = {"checkpoint": str(args.checkpoint), "protocol": args.protocol,
                              "data": data.name, "stream": stream}
    if args.protocol == "knn":
        monitor = KNNMonitor(data.train, data.test, data.num_classes,
                             transform=partial(to_stream, stream=stream), device=runtime.device)
        result.update(monitor(encoder))
    elif args.protocol == "linear":
        outcome = linear_evaluation(encoder, train, test, data.num_classes, **schedule)
        result.update(top1_best=outcome.best_top1, top1_last=outcome.last_top1)
    else:
        feature_dim = int(getattr(encoder, "hidden_dim", 0)) or None
        if feature_dim is None:
            raise AimCLRError("the encoder has no hidden_dim attribute to size the classifier")
        classifier = EncoderClassifier(encoder, feature_dim, data.num_classes)
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
    try:
        evaluate(argv)
    except AimCLRError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
