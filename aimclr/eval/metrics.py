"""Top-k accuracy and multi-stream score fusion."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch

from aimclr._checks import check_finite, check_floating, check_tensor, describe
from aimclr.errors import AimCLRError
from aimclr.eval._data import (
    check_labels,
)

DEFAULT_FUSION_WEIGHTS: dict[str, float] = {"joint": 0.6, "bone": 0.6, "motion": 0.4}
"""The reference's score-fusion weights per stream (:func:`fuse_scores`)."""


def topk_accuracy(
    scores: torch.Tensor, labels: torch.Tensor, k: Sequence[int] = (1, 5)
) -> tuple[float, ...]:
    """Top-k accuracies in ``[0, 1]``, one per entry of ``k``.

    Args:
        scores: ``(N, K)`` class scores (logits or probabilities).
        labels: ``(N,)`` true classes, integers in ``[0, K)``.
        k: the ``k`` values (at least one), each in ``[1, K]``; a single int is
            read as ``(k,)``.

    Raises:
        AimCLRError: shape mismatch, empty input, scores not floating, labels not
            integers in ``[0, K)``, or ``k`` empty or outside ``[1, K]``.
        NonFiniteInputError: ``scores`` hold NaN or inf.

    Example:
        >>> scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
        >>> topk_accuracy(scores, torch.tensor([2, 0]), k=(1, 2))
        (0.5, 1.0)
    """
    scores, labels = check_tensor(scores, "scores"), check_tensor(labels, "labels")
    if isinstance(k, numbers.Integral):
        k = (int(k),)
    if scores.dim() != 2 or labels.shape != (scores.shape[0],) or scores.shape[0] == 0:
        raise AimCLRError(
            f"scores must be (N, K) and labels (N,) with N >= 1, got scores {describe(scores)}, "
            f"labels {describe(labels)}"
        )
    num_classes = scores.shape[1]
    check_labels(labels, num_classes, "labels (N,)")
    if len(k) == 0:
        raise AimCLRError(f"k must hold at least one value in [1, K = {num_classes}], got {k!r}")
    whole = [isinstance(kk, numbers.Integral) and not isinstance(kk, bool) for kk in k]
    bad = [kk for kk, ok in zip(k, whole, strict=True) if not ok or not 1 <= kk <= num_classes]
    if bad:
        raise AimCLRError(f"every k must lie in [1, K = {num_classes}] (ints), got {list(k)}")
    check_floating(scores, "scores")
    check_finite({"scores": scores})  # NaN sorts above every number: a made-up ranking
    top = scores.topk(max(k), dim=1).indices  # (N, max k)
    hits = top == labels.to(top.device)[:, None]
    return tuple(float(hits[:, :kk].any(dim=1).float().mean()) for kk in k)


def fuse_scores(
    scores: Mapping[str, torch.Tensor], weights: Mapping[str, float] | None = None
) -> torch.Tensor:
    """Weighted sum of per-stream scores (the reference fuses raw logits).

    Args:
        scores: stream name -> ``(N, K)`` scores, all of the same shape.
        weights: stream name -> weight; ``None`` uses joint 0.6, bone 0.6,
            motion 0.4. Weights of streams absent from ``scores`` are ignored.

    Returns:
        ``(N, K)`` fused scores.

    Raises:
        AimCLRError: no scores, a score that is not a tensor, shapes differ, or a
            stream has no finite weight.

    Example:
        >>> s = {"joint": torch.tensor([[1.0, 0.0]]), "motion": torch.tensor([[0.0, 2.0]])}
        >>> fuse_scores(s)
        tensor([[0.6000, 0.8000]])
    """
    weights = DEFAULT_FUSION_WEIGHTS if weights is None else weights
    for name, value in (("scores", scores), ("weights", weights)):
        if not isinstance(value, Mapping):
            raise AimCLRError(
                f"{name} must map stream names to values, e.g. {{'joint': ..., 'bone': ...}}, "
                f"got {type(value).__name__}"
            )
    if not scores:
        raise AimCLRError("scores is empty; give at least one stream's (N, K) scores")
    for name, s in scores.items():
        check_tensor(s, f"scores[{name!r}]")
    missing = [name for name in scores if name not in weights]
    if missing:
        raise AimCLRError(f"no weight for streams {missing}; weights has {sorted(weights)}")
    for name in scores:
        weight = weights[name]
        finite = isinstance(weight, (int, float)) and math.isfinite(weight)
        if isinstance(weight, bool) or not finite:
            raise AimCLRError(
                f"the weight of stream {name!r} must be a finite number, got {weight!r}"
            )
    shapes = {name: tuple(s.shape) for name, s in scores.items()}
    if len(set(shapes.values())) != 1 or any(len(s) != 2 for s in shapes.values()):
        raise AimCLRError(f"all scores must be (N, K) of one shape, got {shapes}")
    return sum(
        (float(weights[name]) * s for name, s in scores.items()),
        start=torch.zeros(next(iter(shapes.values()))).to(next(iter(scores.values()))),
    )
