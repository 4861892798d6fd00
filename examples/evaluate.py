"""Evaluate a pretrained encoder: kNN, linear probe, fine-tuning or semi-supervised.

The checkpoint can be this library's (``last.pt`` written by ``pretrain.py``) or the
official AimCLR code's: a pre-training ``epoch*_model.pt`` (364 entries) or a
linear-evaluation ``best_model.pt`` (179 entries). The data options are those of
``pretrain.py`` (synthetic, a ``.npz`` file, or ``ntu:DIR``)::

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
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pretrain

from aimclr import AimCLR, AimCLRError
from aimclr.checkpoint import load_reference_encoder, load_state_dict_file
from aimclr.eval import (
    EncoderClassifier,
    finetune,
    linear_evaluation,
    semi_supervised_finetune,
)
from aimclr.training import load_checkpoint


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """This script's options; everything else is passed to ``pretrain.parse_args``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--reference", action="store_true",
                   help="the checkpoint comes from the official AimCLR code")
    p.add_argument("--protocol", choices=("knn", "linear", "finetune", "semi"), default="linear")
    p.add_argument("--stream", choices=("joint", "bone", "motion"), default=None,
                   help="input stream; default: the one a library checkpoint was trained on "
                        "(joint for --reference files)")
    p.add_argument("--label-fraction", type=float, default=0.1, help="semi: labelled share")
    p.add_argument("--eval-epochs", type=int, default=100)
    p.add_argument("--eval-batch-size", type=int, default=128)
    p.add_argument("--save-scores", type=Path, default=None,
                   help="write the best evaluation's test logits (N_test, K) here, for "
                        "aimclr.eval.fuse_scores")
    return p.parse_known_args(argv)


def load_encoder(args: argparse.Namespace, data_args: argparse.Namespace) -> nn.Module:
    """The query encoder of a library or reference checkpoint, on the CPU.

    Also sets ``data_args.stream``: ``--stream`` if given, else the stream a library
    checkpoint was trained on (``"joint"`` for reference files).
    """
    if not args.checkpoint.is_file():
        raise AimCLRError(f"checkpoint file not found: {args.checkpoint}")
    if args.reference:
        data_args.stream = args.stream or "joint"
        state = load_state_dict_file(args.checkpoint)
        encoder, _ = load_reference_encoder(state, "encoder_q.", "ntu-rgb+d", dropout=0.0)
        return encoder
    saved = load_checkpoint(args.checkpoint)
    if "model" not in saved or "args" not in saved:
        raise AimCLRError(
            f"{args.checkpoint} is not a checkpoint of examples/pretrain.py (expected the "
            "keys 'model' and 'args'); pass --reference for the official code's files"
        )
    data_args.stream = args.stream or saved["args"].get("stream", "joint")
    # Rebuild the model with the widths it was trained with.
    for name in ("hidden_channels", "hidden_dim", "feature_dim", "queue_size", "preset"):
        setattr(data_args, name, saved["args"][name])
    model: AimCLR = pretrain.build_model(data_args)
    model.load_state_dict(saved["model"])
    return model.encoder_q


def evaluate(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the chosen protocol; returns (and prints) the accuracies."""
    args, rest = parse_args(argv)
    if args.save_scores is not None and args.protocol == "knn":
        raise AimCLRError("--save-scores needs a classifier's logits: use it with --protocol "
                          "linear, finetune or semi, not knn")
    data_args = pretrain.parse_args(rest)
    runtime = pretrain.setup_runtime(data_args)
    encoder = load_encoder(args, data_args).to(runtime.device)  # checked before the data
    data = pretrain.load_data(data_args)
    num_classes = pretrain.num_classes_of(data)
    stream = data_args.stream
    train = pretrain.stream_dataset(data.train, stream)
    test = pretrain.stream_dataset(data.test, stream)
    generator = torch.Generator().manual_seed(data_args.seed)
    schedule = {"epochs": args.eval_epochs, "milestones": (int(args.eval_epochs * 0.8),),
                "batch_size": args.eval_batch_size, "device": runtime.device,
                "generator": generator}
    result: dict[str, Any] = {"checkpoint": str(args.checkpoint), "protocol": args.protocol,
                              "data": data.name, "stream": stream}
    if args.protocol == "knn":
        result.update(pretrain.knn_report(encoder, data, stream, runtime.device, num_classes))
    elif args.protocol == "linear":
        outcome = linear_evaluation(encoder, train, test, num_classes, **schedule)
        result.update(top1_best=outcome.best_top1, top1_last=outcome.last_top1)
    else:
        feature_dim = int(getattr(encoder, "hidden_dim", 0)) or None
        if feature_dim is None:
            raise AimCLRError("the encoder has no hidden_dim attribute to size the classifier")
        classifier = EncoderClassifier(encoder, feature_dim, num_classes)
        if args.protocol == "finetune":
            outcome = finetune(classifier, train, test, **schedule)
        else:
            outcome = semi_supervised_finetune(classifier, train, test, args.label_fraction,
                                               seed=data_args.seed, **schedule)
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
