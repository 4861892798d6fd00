"""Evaluation protocols: kNN, linear probe, fine-tuning, score fusion.

What the AimCLR reference does (spec §6) and what this module mirrors:

* **kNN** (:func:`knn_predict`): the SimSiam ``knn_monitor`` the authors used —
  L2-normalised features, cosine similarity, the ``k = 200`` most similar
  training samples vote with weight ``exp(sim / 0.1)``. ``k = 1`` is plain
  nearest-neighbour classification.
* **Linear probe** (:func:`linear_evaluation`): frozen encoder kept in eval mode
  (BatchNorm uses its pre-training statistics), a linear classifier on the pooled
  features, SGD lr 3.0, momentum 0.9, no weight decay, x0.1 after epoch 80, 100
  epochs, batch 128. The reference reports the **best** test top-1 over its
  evaluations (every 5 epochs); :class:`EvalResult` holds both best and last.
* **Fine-tuning** (:func:`finetune`): all parameters train, the model stays in
  eval mode (as the reference), SGD lr 0.01, weight decay 1e-4.
  :func:`semi_supervised_finetune` trains on a class-balanced label subset with
  Nesterov momentum and gradient clipping at norm 2, as the reference's compiled
  ``semi_evaluation``.
* **Fusion** (:func:`fuse_scores`): weighted sum of raw logits, joint 0.6,
  bone 0.6, motion 0.4.

Accuracies are fractions in ``[0, 1]``. Data arguments accept a dataset of
``(x, label)`` pairs or an ``(x, labels)`` tuple of tensors, with ``x`` shaped
``(N, C, T, V, M)``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from aimclr._checks import check_positive, describe
from aimclr.data.subsets import class_balanced_subset
from aimclr.errors import AimCLRError

__all__ = [
    "EncoderClassifier",
    "EvalResult",
    "LinearProbe",
    "extract_features",
    "finetune",
    "fuse_scores",
    "knn_accuracy",
    "knn_predict",
    "knn_scores",
    "linear_evaluation",
    "semi_supervised_finetune",
    "topk_accuracy",
]

Data: TypeAlias = "Dataset[Any] | tuple[torch.Tensor, torch.Tensor]"
DEFAULT_FUSION_WEIGHTS: dict[str, float] = {"joint": 0.6, "bone": 0.6, "motion": 0.4}


def _module_device(module: nn.Module) -> torch.device:
    for param in module.parameters():
        return param.device
    for buffer in module.buffers():
        return buffer.device
    return torch.device("cpu")


def _float_dtype(module: nn.Module) -> torch.dtype:
    """The dtype inputs must have for ``module``: its first floating parameter's, else float32."""
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return torch.float32


def _training_modes(module: nn.Module) -> dict[nn.Module, bool]:
    """The train/eval flag of every submodule, for :func:`_restore_modes`."""
    return {m: m.training for m in module.modules()}


def _restore_modes(modes: dict[nn.Module, bool]) -> None:
    # Set the flags directly: ``train(mode)`` recurses and would flatten mixed modes
    # (e.g. a BatchNorm the caller froze in eval mode inside a training model).
    for m, mode in modes.items():
        m.training = mode


def _check_labels(labels: torch.Tensor, num_classes: int | None, name: str) -> None:
    """Raise unless ``labels`` are integer (not bool) classes in ``[0, num_classes)``.

    ``num_classes=None`` checks the dtype and ``labels >= 0`` only.
    """
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise AimCLRError(f"{name} must be integer class indices, got {describe(labels)}")
    if labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or (num_classes is not None and high >= num_classes):
        bound = "be >= 0" if num_classes is None else f"lie in [0, num_classes = {num_classes})"
        raise AimCLRError(
            f"{name} must {bound}, got values in [{low}, {high}] ({describe(labels)})"
        )


def _check_samples(data: Dataset[Any], name: str, num_classes: int) -> None:
    """Check ``x`` is floating and labels are valid classes before any training.

    All labels are checked when they are at hand (tensor data, or a dataset with a
    ``labels`` tensor); otherwise the first sample here, and :func:`_fit` and
    :func:`_predict` check every batch as it is read.
    """
    sample = data[0]  # once: a transform may be random or slow
    x, y = torch.as_tensor(sample[0]), sample[1]
    if not x.is_floating_point():
        raise AimCLRError(
            f"{name} x must be a floating tensor (N, C, T, V, M), got samples of {describe(x)}"
        )
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        labels = data.tensors[1]
    elif isinstance(getattr(data, "labels", None), torch.Tensor):
        labels = data.labels  # type: ignore[attr-defined]
    else:
        labels = torch.as_tensor(y).reshape(-1)
    _check_labels(labels, num_classes, f"{name} labels (N,)")


def _as_dataset(data: Data, name: str) -> Dataset[Any]:
    if isinstance(data, tuple):
        if len(data) != 2 or not all(isinstance(t, torch.Tensor) for t in data):
            raise AimCLRError(f"{name} must be a Dataset or an (x, labels) tuple of tensors")
        x, y = data
        if x.dim() != 5 or y.dim() != 1 or x.shape[0] != y.shape[0]:
            raise AimCLRError(
                f"{name} must be (x (N, C, T, V, M), labels (N,)), got x {describe(x)}, "
                f"labels {describe(y)}"
            )
        return TensorDataset(x, y)
    if not isinstance(data, Dataset):
        raise AimCLRError(f"{name} must be a Dataset or an (x, labels) tuple, got {type(data)}")
    return data


def _dataset_len(data: Dataset[Any], name: str) -> int:
    size = len(data)  # type: ignore[arg-type]
    if size == 0:
        raise AimCLRError(f"{name} is empty; at least one sample is needed")
    return size


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    data: torch.Tensor | Data | Iterable[Any],
    device: torch.device | str | None = None,
    batch_size: int = 256,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``encoder`` over a data set in eval mode without gradients.

    The encoder is switched to eval mode for the pass and the mode of each of its
    submodules restored afterwards. Inputs are cast to the dtype of the encoder's
    floating parameters (float32 for an encoder without any).

    Args:
        encoder: any module mapping ``(B, C, T, V, M)`` to ``(B, D)``.
        data: a tensor ``(N, C, T, V, M)``, a dataset of ``(x, label)``, an
            ``(x, labels)`` tuple, or an iterable of ``(x, labels)`` batches
            (e.g. a :class:`~torch.utils.data.DataLoader`).
        device: where to compute; ``None`` uses the encoder's device.
        batch_size: batch size for tensors and datasets.
        labels: ``(N,)`` labels to return with a tensor ``data``.

    Returns:
        ``(features (N, D), labels (N,) or None)`` on ``device``; labels are
        ``None`` only for a tensor without ``labels``.

    Raises:
        AimCLRError: bad batch size, empty data, or an encoder output that is not
            ``(B, D)``.

    Example:
        >>> enc = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 25 * 1, 8))
        >>> feats, _ = extract_features(enc, torch.randn(5, 3, 4, 25, 1))
        >>> tuple(feats.shape)
        (5, 8)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise AimCLRError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    device = torch.device(device) if device is not None else _module_device(encoder)
    batches: Iterable[Any]
    if isinstance(data, torch.Tensor):
        if data.dim() != 5:
            raise AimCLRError(f"data must have layout (N, C, T, V, M), got {describe(data)}")
        if labels is not None and labels.shape != (data.shape[0],):
            raise AimCLRError(
                f"labels must be (N,) with N = {data.shape[0]}, got {describe(labels)}"
            )
        batches = [(chunk, None) for chunk in torch.split(data, batch_size)]
    elif isinstance(data, (tuple, Dataset)):
        dataset = _as_dataset(data, "data")
        _dataset_len(dataset, "data")
        batches = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    else:
        batches = data
    dtype = _float_dtype(encoder)
    modes = _training_modes(encoder)
    encoder.eval()
    feats: list[torch.Tensor] = []
    targets: list[torch.Tensor] = []
    try:
        for batch in batches:
            x, y = batch[0], batch[1]
            out = encoder(x.to(device, dtype))
            if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != len(x):
                got = describe(out) if isinstance(out, torch.Tensor) else type(out).__name__
                raise AimCLRError(
                    f"encoder must map (B, C, T, V, M) to features (B, D); for input "
                    f"{describe(x)} it returned {got}"
                )
            feats.append(out)
            if y is not None:
                targets.append(torch.as_tensor(y).to(device, torch.long))
    finally:
        _restore_modes(modes)
    if not feats:
        raise AimCLRError("data is empty; at least one sample is needed")
    if isinstance(data, torch.Tensor):
        return torch.cat(feats), None if labels is None else labels.to(device, torch.long)
    return torch.cat(feats), torch.cat(targets) if targets else None


def _check_knn_inputs(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    k: int,
    temperature: float,
) -> None:
    for name, t in (("train_feats", train_feats), ("test_feats", test_feats)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or not t.is_floating_point():
            got = describe(t) if isinstance(t, torch.Tensor) else type(t).__name__
            raise AimCLRError(f"{name} must be a floating tensor (N, D), got {got}")
    if train_feats.shape[0] == 0:
        raise AimCLRError("train_feats is empty; kNN needs at least one training sample")
    if train_feats.shape[1] != test_feats.shape[1]:
        raise AimCLRError(
            f"train_feats (N_train, D) and test_feats (N_test, D) must share D, got "
            f"{tuple(train_feats.shape)} and {tuple(test_feats.shape)}"
        )
    if train_labels.shape != (train_feats.shape[0],) or train_labels.is_floating_point() or (
        train_labels.is_complex() or train_labels.dtype == torch.bool
    ):
        raise AimCLRError(
            f"train_labels must be integer (N_train,) = ({train_feats.shape[0]},), got "
            f"{describe(train_labels)}"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise AimCLRError(f"k must be an integer >= 1, got {k!r}")
    check_positive(temperature, "temperature")


def knn_scores(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Weighted kNN class scores (the SimSiam ``knn_monitor`` rule).

    Features are L2-normalised; for each test sample the ``k`` training samples
    of highest cosine similarity ``s`` vote for their class with weight
    ``exp(s / temperature)``. ``k`` larger than ``N_train`` is clipped to
    ``N_train`` (small labelled sets would otherwise fail). Test rows are processed
    ``chunk_size`` at a time, so memory is ``O(chunk_size * N_train)``. The votes are
    computed in float32, or float64 if either feature tensor is float64: half
    precision would overflow (one vote reaches ``exp(1 / 0.1) = 2.2e4``).

    Args:
        train_feats: ``(N_train, D)``.
        train_labels: ``(N_train,)`` integer classes.
        test_feats: ``(N_test, D)``; its floating dtype may differ from ``train_feats``'.
        k: neighbours that vote (``1`` = nearest neighbour).
        temperature: ``tau > 0`` of the vote weights.
        num_classes: ``K``; ``None`` uses ``max(train_labels) + 1``.
        chunk_size: test rows per similarity block.

    Returns:
        ``(N_test, K)`` summed vote weights (float32, or float64).

    Raises:
        AimCLRError: shape mismatches, empty training set, ``k < 1``,
            non-positive temperature, or labels not integers in ``[0, K)``.
    """
    _check_knn_inputs(train_feats, train_labels, test_feats, k, temperature)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise AimCLRError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    num_classes = int(train_labels.max()) + 1 if num_classes is None else num_classes
    _check_labels(train_labels, num_classes, "train_labels (N_train,)")
    k = min(k, train_feats.shape[0])
    # One vote reaches exp(1 / 0.1) = 2.2e4: sums overflow float16 (max 65504) and
    # bfloat16 rounds them coarsely, so vote in float32 at least (float64 stays).
    dtype = torch.promote_types(torch.promote_types(train_feats.dtype, test_feats.dtype),
                                torch.float32)
    bank = nn.functional.normalize(train_feats.to(dtype), dim=1)
    labels = train_labels.to(bank.device)
    out = []
    for query in torch.split(test_feats.to(bank.device, dtype), chunk_size):
        sim = nn.functional.normalize(query, dim=1) @ bank.T  # (B, N_train)
        top_sim, top_idx = sim.topk(k, dim=1)  # (B, k)
        weights = (top_sim / temperature).exp()
        scores = torch.zeros(len(query), num_classes, device=bank.device, dtype=weights.dtype)
        out.append(scores.scatter_add_(1, labels[top_idx], weights))
    if not out:
        return torch.zeros(0, num_classes, device=bank.device, dtype=bank.dtype)
    return torch.cat(out)


def knn_predict(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Predicted class ``(N_test,)`` of :func:`knn_scores` (ties: lowest class).

    Args:
        train_feats: ``(N_train, D)``.
        train_labels: ``(N_train,)`` integer classes.
        test_feats: ``(N_test, D)``.
        k: neighbours that vote (``1`` = nearest neighbour).
        temperature: ``tau > 0`` of the vote weights.
        num_classes: ``K``; ``None`` uses ``max(train_labels) + 1``.
        chunk_size: test rows per similarity block.

    Returns:
        ``(N_test,)`` int64 classes in ``[0, K)``.

    Raises:
        AimCLRError: see :func:`knn_scores`.

    Example:
        >>> train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> knn_predict(train, torch.tensor([0, 0, 1]), torch.tensor([[0.1, 1.0]]), k=1)
        tensor([1])
    """
    scores = knn_scores(
        train_feats, train_labels, test_feats, k, temperature, num_classes, chunk_size
    )
    return scores.argmax(dim=1)


def knn_accuracy(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    test_labels: torch.Tensor,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> float:
    """Top-1 accuracy in ``[0, 1]`` of :func:`knn_predict`.

    Args:
        train_feats: ``(N_train, D)``.
        train_labels: ``(N_train,)`` integer classes.
        test_feats: ``(N_test, D)`` with ``N_test >= 1``.
        test_labels: ``(N_test,)`` integer classes, in ``[0, num_classes)`` when
            ``num_classes`` is given (without it a test class absent from the
            training set is allowed: it is never predicted).
        k: neighbours that vote (``1`` = nearest neighbour).
        temperature: ``tau > 0`` of the vote weights.
        num_classes: ``K``; ``None`` uses ``max(train_labels) + 1``.
        chunk_size: test rows per similarity block.

    Raises:
        AimCLRError: bad test labels or see :func:`knn_scores`.
    """
    if test_labels.shape != (test_feats.shape[0],) or test_feats.shape[0] == 0:
        raise AimCLRError(
            f"test_labels must be (N_test,) with N_test = {test_feats.shape[0]} >= 1, got "
            f"{describe(test_labels)}"
        )
    _check_labels(test_labels, num_classes, "test_labels (N_test,)")
    pred = knn_predict(train_feats, train_labels, test_feats, k, temperature, num_classes,
                       chunk_size)
    return float((pred == test_labels.to(pred.device)).float().mean())


def topk_accuracy(
    scores: torch.Tensor, labels: torch.Tensor, k: Sequence[int] = (1, 5)
) -> tuple[float, ...]:
    """Top-k accuracies in ``[0, 1]``, one per entry of ``k``.

    Args:
        scores: ``(N, K)`` class scores (logits or probabilities).
        labels: ``(N,)`` true classes, integers in ``[0, K)``.
        k: the ``k`` values (at least one), each in ``[1, K]``.

    Raises:
        AimCLRError: shape mismatch, empty input, labels not integers in ``[0, K)``,
            or ``k`` empty or outside ``[1, K]``.

    Example:
        >>> scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
        >>> topk_accuracy(scores, torch.tensor([2, 0]), k=(1, 2))
        (0.5, 1.0)
    """
    if scores.dim() != 2 or labels.shape != (scores.shape[0],) or scores.shape[0] == 0:
        raise AimCLRError(
            f"scores must be (N, K) and labels (N,) with N >= 1, got scores {describe(scores)}, "
            f"labels {describe(labels)}"
        )
    num_classes = scores.shape[1]
    _check_labels(labels, num_classes, "labels (N,)")
    if len(k) == 0:
        raise AimCLRError(f"k must hold at least one value in [1, K = {num_classes}], got {k!r}")
    bad = [kk for kk in k if not 1 <= kk <= num_classes]
    if bad:
        raise AimCLRError(f"every k must lie in [1, K = {num_classes}], got {list(k)}")
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
        AimCLRError: no scores, shapes differ, or a stream has no finite weight.

    Example:
        >>> s = {"joint": torch.tensor([[1.0, 0.0]]), "motion": torch.tensor([[0.0, 2.0]])}
        >>> fuse_scores(s)
        tensor([[0.6000, 0.8000]])
    """
    weights = DEFAULT_FUSION_WEIGHTS if weights is None else weights
    if not scores:
        raise AimCLRError("scores is empty; give at least one stream's (N, K) scores")
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


class EncoderClassifier(nn.Module):
    """An encoder followed by a linear classifier on its features.

    Args:
        encoder: module mapping ``(N, C, T, V, M)`` to pooled features ``(N, D)``.
        feature_dim: ``D``.
        num_classes: ``K``.
        freeze_encoder: stop gradients into the encoder (linear probe).
        encoder_eval: keep the encoder in eval mode even in ``train()`` (BatchNorm
            uses its stored statistics, dropout is off), as the reference does for
            both linear evaluation and fine-tuning.

    Shapes:
        ``forward``: ``(N, C, T, V, M)`` -> logits ``(N, K)``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        feature_dim: int,
        num_classes: int,
        freeze_encoder: bool = False,
        encoder_eval: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("feature_dim", feature_dim), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AimCLRError(f"{name} must be an integer >= 1, got {value!r}")
        self.encoder = encoder
        self.fc = nn.Linear(feature_dim, num_classes)
        self.freeze_encoder = freeze_encoder
        self.encoder_eval = encoder_eval
        if freeze_encoder:
            encoder.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> EncoderClassifier:
        """Set training mode; the encoder stays in eval mode if ``encoder_eval``."""
        super().train(mode)
        if self.encoder_eval:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` for ``x`` ``(N, C, T, V, M)``."""
        if self.freeze_encoder:
            with torch.no_grad():
                feats = self.encoder(x)
        else:
            feats = self.encoder(x)
        logits: torch.Tensor = self.fc(feats)
        return logits


class LinearProbe(EncoderClassifier):
    """Frozen encoder in eval mode plus a trainable linear layer (linear evaluation).

    The encoder's parameters get ``requires_grad=False`` and its forward runs without
    gradients, so only ``fc`` can train (:func:`finetune` refuses this model).

    Args:
        encoder: module mapping ``(N, C, T, V, M)`` to pooled features ``(N, D)``.
        feature_dim: ``D``.
        num_classes: ``K``.

    Shapes:
        ``forward``: ``(N, C, T, V, M)`` -> logits ``(N, K)``.
    """

    def __init__(self, encoder: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__(encoder, feature_dim, num_classes, freeze_encoder=True,
                         encoder_eval=True)


@dataclass
class EvalResult:
    """Outcome of a training protocol.

    The reference reports the best top-1 over its periodic evaluations on the test
    set (an optimistic model selection); ``last_top1`` is the honest number.

    Attributes:
        best_top1: best test top-1 over evaluations, in ``[0, 1]``.
        best_top5: test top-5 at that evaluation (top-``K`` if ``K < 5``).
        best_epoch: epoch (1-based) of the best evaluation.
        last_top1: test top-1 after the last epoch.
        last_top5: test top-5 after the last epoch.
        best_scores: ``(N_test, K)`` test logits at the best evaluation (input
            to :func:`fuse_scores`).
        history: ``(epoch, top1, top5)`` of every evaluation.
        model: the trained module (for :func:`linear_evaluation` the
            :class:`LinearProbe`, whatever ``precompute``).
    """

    best_top1: float
    best_top5: float
    best_epoch: int
    last_top1: float
    last_top5: float
    best_scores: torch.Tensor
    history: list[tuple[int, float, float]] = field(default_factory=list)
    model: nn.Module | None = None


def _check_schedule(epochs: int, batch_size: int, eval_every: int, lr: float) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size),
                        ("eval_every", eval_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AimCLRError(f"{name} must be an integer >= 1, got {value!r}")
    check_positive(lr, "lr")


def _batch(x: Any, y: Any, device: torch.device, dtype: torch.dtype,
           name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A loaded batch on ``device``, ``x`` cast to the model's dtype (floating input only)."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if not x.is_floating_point():
        raise AimCLRError(f"{name} x must be a floating tensor, got a batch of {describe(x)}")
    return x.to(device, dtype), y.to(device)


@torch.no_grad()
def _predict(model: nn.Module, data: Dataset[Any], device: torch.device, dtype: torch.dtype,
             batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    modes = _training_modes(model)
    model.eval()
    scores, labels = [], []
    try:
        for x, y in DataLoader(data, batch_size=batch_size, shuffle=False):
            x, y = _batch(x, y, device, dtype, "test_data")
            scores.append(model(x))
            _check_labels(y, scores[-1].shape[1], "test labels (N,)")
            labels.append(y.long())
    finally:
        _restore_modes(modes)
    return torch.cat(scores), torch.cat(labels)


@torch.no_grad()
def _init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    """``nn.Linear``'s default initialisation, drawn from ``generator``.

    ``kaiming_uniform_(a=sqrt(5))`` of the weight and the bias rule both amount to
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; drawn with ``torch.rand`` because
    ``nn.init`` takes a generator only from torch 2.2.
    """
    bound = 1.0 / math.sqrt(layer.in_features)
    for param in (layer.weight, layer.bias):
        u = torch.rand(param.shape, generator=generator, device=generator.device)
        param.copy_((2.0 * u - 1.0) * bound)


def _fit(
    model: nn.Module,
    params: list[nn.Parameter],
    train: Dataset[Any],
    test: Dataset[Any],
    *,
    device: torch.device,
    epochs: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    nesterov: bool,
    milestones: Sequence[int],
    gamma: float,
    batch_size: int,
    eval_every: int,
    max_grad_norm: float | None,
    generator: torch.Generator | None,
    train_mode: bool,
    dtype: torch.dtype,
) -> EvalResult:
    """SGD with step decay (per epoch), cross-entropy; evaluate every ``eval_every``.

    ``train_mode=False`` trains with the model in eval mode (reference fine-tuning).
    Inputs are cast to ``dtype``; labels are checked against the logits' ``K``.
    """
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                nesterov=nesterov)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones), gamma)
    # drop_last as the reference, unless the set is smaller than one batch.
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator,
                        drop_last=_dataset_len(train, "train data") >= batch_size)
    history: list[tuple[int, float, float]] = []
    best: tuple[float, float, int, torch.Tensor] | None = None
    top1 = top5 = 0.0
    model.train(train_mode)
    for epoch in range(1, epochs + 1):
        for x, y in loader:
            x, y = _batch(x, y, device, dtype, "train_data")
            logits = model(x)
            _check_labels(y, logits.shape[1], "train labels (N,)")
            loss = nn.functional.cross_entropy(logits, y.long())
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_(params, max_norm=max_grad_norm, norm_type=2)
            optimizer.step()
        scheduler.step()
        if epoch % eval_every == 0 or epoch == epochs:
            scores, labels = _predict(model, test, device, dtype, batch_size)
            top1, top5 = topk_accuracy(scores, labels, (1, min(5, scores.shape[1])))
            history.append((epoch, top1, top5))
            if best is None or top1 > best[0]:
                best = (top1, top5, epoch, scores.detach().clone())
    assert best is not None  # the last epoch always evaluates
    return EvalResult(best[0], best[1], best[2], top1, top5, best[3], history, model)


def linear_evaluation(
    encoder: nn.Module,
    train_data: Data,
    test_data: Data,
    num_classes: int,
    *,
    feature_dim: int | None = None,
    epochs: int = 100,
    lr: float = 3.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    milestones: Sequence[int] = (80,),
    gamma: float = 0.1,
    batch_size: int = 128,
    eval_every: int = 5,
    precompute: bool = True,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> EvalResult:
    """Linear evaluation: train ``Linear(D, K)`` on a frozen encoder (reference recipe).

    The encoder stays in eval mode throughout and sees no augmentation, so its
    features are a fixed function of the input: with ``precompute=True`` (the
    default) they are extracted once and the classifier trains on them — the same
    mathematics as running the encoder every step, much faster. With the same
    ``generator`` both paths initialise the classifier alike and visit the batches
    in the same order, so they agree up to floating-point rounding.

    Both paths cast ``x`` to the dtype of the encoder's floating parameters (the
    classifier gets that dtype too) and check ``feature_dim`` against one sample's
    features before training.

    Args:
        encoder: maps ``(N, C, T, V, M)`` to pooled features ``(N, D)``. Its
            weights, ``requires_grad`` flags and the train/eval mode of every
            submodule are as before on return (it is moved to ``device``).
        train_data: dataset of ``(x, label)`` pairs or an ``(x, labels)`` tuple of
            tensors: ``x`` floating ``(N, C, T, V, M)``, labels ``(N,)`` integers in
            ``[0, K)``.
        test_data: the same for the test set.
        num_classes: ``K``.
        feature_dim: ``D``; ``None`` infers it from the encoder's output.
        epochs: training epochs (reference 100).
        lr: SGD learning rate (reference 3.0).
        momentum: SGD momentum (0.9).
        weight_decay: (0).
        milestones: epochs after which lr is multiplied by ``gamma`` (``(80,)``).
        gamma: the decay factor (0.1).
        batch_size: (128); the last incomplete batch is dropped as in the reference.
        eval_every: evaluate on the test set every this many epochs (5) and at the end.
        precompute: extract features once instead of every step.
        device: where to train; ``None`` uses the encoder's device.
        generator: random generator of the batch order and of the classifier's
            initial weights (``nn.Linear``'s default distribution); ``None`` uses
            the global RNG for both.

    Returns:
        :class:`EvalResult` with best and last top-1/top-5 and the best logits.

    Raises:
        AimCLRError: bad hyper-parameters, empty data, non-floating ``x``, labels
            not integers in ``[0, K)``, an encoder output that is not ``(N, D)``, or
            a ``feature_dim`` other than that ``D``. Labels of a dataset without a
            ``labels`` tensor are fully checked only as they are read.
    """
    _check_schedule(epochs, batch_size, eval_every, lr)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise AimCLRError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    device = torch.device(device) if device is not None else _module_device(encoder)
    train, test = _as_dataset(train_data, "train_data"), _as_dataset(test_data, "test_data")
    _dataset_len(train, "train_data")
    _dataset_len(test, "test_data")
    _check_samples(train, "train_data", num_classes)
    _check_samples(test, "test_data", num_classes)
    # One sample through the encoder (eval mode, no random state used) fixes D for
    # both paths before anything trains.
    width = int(extract_features(encoder, torch.as_tensor(train[0][0])[None])[0].shape[1])
    if feature_dim is None:
        feature_dim = width
    elif feature_dim != width:
        raise AimCLRError(
            f"feature_dim is {feature_dim} but the encoder maps (N, C, T, V, M) to "
            f"(N, D) with D = {width}"
        )
    dtype = _float_dtype(encoder)
    grad_flags = [p.requires_grad for p in encoder.parameters()]
    modes = _training_modes(encoder)
    try:
        probe = LinearProbe(encoder, feature_dim, num_classes).to(device)
        probe.fc.to(dtype)  # the features come in the encoder's dtype
        if generator is not None:  # before the batch order: both paths draw alike
            _init_linear(probe.fc, generator)
        model: nn.Module = probe
        if precompute:
            train_feats, train_labels = extract_features(encoder, train, device, batch_size)
            test_feats, test_labels = extract_features(encoder, test, device, batch_size)
            assert train_labels is not None and test_labels is not None  # datasets carry labels
            model = probe.fc
            train = TensorDataset(train_feats, train_labels)
            test = TensorDataset(test_feats, test_labels)
        params = list(probe.fc.parameters())
        result = _fit(model, params, train, test, device=device, epochs=epochs, lr=lr,
                      momentum=momentum, weight_decay=weight_decay, nesterov=False,
                      milestones=milestones, gamma=gamma, batch_size=batch_size,
                      eval_every=eval_every, max_grad_norm=None, generator=generator,
                      train_mode=True, dtype=dtype)
    finally:  # the probe froze the encoder and put it in eval mode; undo both
        for param, flag in zip(encoder.parameters(), grad_flags, strict=True):
            param.requires_grad_(flag)
        _restore_modes(modes)
    result.model = probe
    return result


def finetune(
    model: nn.Module,
    train_data: Data,
    test_data: Data,
    *,
    epochs: int = 100,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    nesterov: bool = False,
    milestones: Sequence[int] = (80,),
    gamma: float = 0.1,
    batch_size: int = 128,
    eval_every: int = 5,
    max_grad_norm: float | None = None,
    keep_eval_mode: bool = True,
    copy_model: bool = True,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> EvalResult:
    """Fine-tune every parameter of a classifier (reference ``finetune_evaluation``).

    Every parameter gets ``requires_grad=True``. The train/eval mode of every
    submodule of the trained module is restored afterwards (with ``copy_model=False``
    the caller's model keeps its mode but its weights are trained in place). ``x`` is
    cast to the dtype of the model's floating parameters.

    Args:
        model: maps ``(N, C, T, V, M)`` to logits ``(N, K)``, e.g.
            ``EncoderClassifier(encoder, 256, K)``. An :class:`EncoderClassifier`
            inside it must not freeze its encoder (``freeze_encoder=True``, as in
            :class:`LinearProbe`: its forward runs the encoder without gradients)
            nor, with ``keep_eval_mode=False``, hold it in eval mode
            (``encoder_eval=True``, the default): rather than silently not train the
            encoder as asked, these raise.
        train_data: dataset of ``(x, label)`` pairs or an ``(x, labels)`` tuple of
            tensors: ``x`` floating ``(N, C, T, V, M)``, labels ``(N,)`` integers in
            ``[0, K)``.
        test_data: the same for the test set.
        epochs: training epochs.
        lr: SGD learning rate (author: 0.01 or 0.001).
        momentum: SGD momentum.
        weight_decay: (author: 1e-4).
        nesterov: Nesterov momentum.
        milestones: epochs after which lr is multiplied by ``gamma``.
        gamma: the decay factor.
        batch_size: batch size.
        eval_every: evaluate every this many epochs and at the end.
        max_grad_norm: clip the global gradient 2-norm to this value; ``None`` = off.
        keep_eval_mode: keep the whole model in eval mode while training (BatchNorm
            statistics frozen, dropout off), as the reference does.
        copy_model: train a deep copy and leave ``model`` untouched.
        device: where to train; ``None`` uses the model's device.
        generator: random generator of the batch order. The model's weights are
            used as given (nothing is re-initialised): build it under a seed for a
            reproducible classifier head.

    Returns:
        :class:`EvalResult`; ``model`` holds the trained module.

    Raises:
        AimCLRError: bad hyper-parameters, empty data, a model that freezes its
            encoder (see ``model``), non-floating ``x``, or labels not integers in
            ``[0, K)``. Labels of a dataset without a ``labels`` tensor are fully
            checked only as they are read.
    """
    _check_schedule(epochs, batch_size, eval_every, lr)
    if max_grad_norm is not None:
        check_positive(max_grad_norm, "max_grad_norm")
    for module in model.modules():
        if isinstance(module, EncoderClassifier) and module.freeze_encoder:
            raise AimCLRError(
                f"finetune trains every parameter, but the model holds a "
                f"{type(module).__name__} with freeze_encoder=True, whose forward runs the "
                f"encoder without gradients; fine-tune an EncoderClassifier(encoder, D, K) "
                f"or use linear_evaluation"
            )
        if isinstance(module, EncoderClassifier) and module.encoder_eval and not keep_eval_mode:
            raise AimCLRError(
                f"keep_eval_mode=False asks for training mode, but the model holds a "
                f"{type(module).__name__} with encoder_eval=True, which keeps its encoder in "
                f"eval mode; build it with encoder_eval=False or keep keep_eval_mode=True"
            )
    device = torch.device(device) if device is not None else _module_device(model)
    train, test = _as_dataset(train_data, "train_data"), _as_dataset(test_data, "test_data")
    _dataset_len(train, "train_data")
    _dataset_len(test, "test_data")
    # K from one sample (eval mode, no gradients, modes restored: nothing changes),
    # so labels in hand are range-checked before any weight moves.
    num_classes = int(extract_features(model, torch.as_tensor(train[0][0])[None])[0].shape[1])
    _check_samples(train, "train_data", num_classes)
    _check_samples(test, "test_data", num_classes)
    net = (copy.deepcopy(model) if copy_model else model).to(device)
    net.requires_grad_(True)
    params = list(net.parameters())
    modes = _training_modes(net)
    try:
        return _fit(net, params, train, test, device=device, epochs=epochs, lr=lr,
                    momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
                    milestones=milestones, gamma=gamma, batch_size=batch_size,
                    eval_every=eval_every, max_grad_norm=max_grad_norm, generator=generator,
                    train_mode=not keep_eval_mode, dtype=_float_dtype(net))
    finally:  # _fit switched the modes for training
        _restore_modes(modes)


def semi_supervised_finetune(
    model: nn.Module,
    train_data: Data,
    test_data: Data,
    label_fraction: float,
    *,
    seed: int | torch.Generator | None = 0,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
    nesterov: bool = True,
    max_grad_norm: float | None = 2.0,
    **kwargs: Any,
) -> EvalResult:
    """Fine-tune on a class-balanced fraction of the training labels (1 %, 10 %).

    Picks ``round(label_fraction * count)`` samples per class with
    :func:`~aimclr.data.class_balanced_subset`, then runs :func:`finetune` with
    the defaults of the reference's compiled ``semi_evaluation``: Nesterov
    momentum and gradient clipping at norm 2.

    Args:
        model: maps ``(N, C, T, V, M)`` to logits ``(N, K)``; see :func:`finetune`
            (a copy is trained unless ``copy_model=False``; modes are restored).
        train_data: full labelled training set: dataset of ``(x, label)`` pairs or
            an ``(x, labels)`` tuple of tensors, ``x`` floating ``(N, C, T, V, M)``,
            labels ``(N,)`` integers in ``[0, K)``.
        test_data: the same for the test set.
        label_fraction: share of each class kept, in ``(0, 1]``.
        seed: seed or generator of the subset draw.
        lr: SGD learning rate.
        weight_decay: weight decay.
        nesterov: Nesterov momentum.
        max_grad_norm: gradient clipping norm.
        **kwargs: passed to :func:`finetune`.

    Raises:
        AimCLRError: bad fraction or see :func:`finetune`.
    """
    train = _as_dataset(train_data, "train_data")
    if isinstance(train_data, tuple):
        labels = train_data[1]
    elif isinstance(getattr(train, "labels", None), (torch.Tensor, list)):
        labels = torch.as_tensor(train.labels)  # type: ignore[attr-defined]
    else:
        labels = torch.tensor([int(train[i][1]) for i in range(_dataset_len(train, "train"))])
    subset = Subset(train, class_balanced_subset(labels, label_fraction, generator=seed))
    return finetune(model, subset, test_data, lr=lr, weight_decay=weight_decay,
                    nesterov=nesterov, max_grad_norm=max_grad_norm, **kwargs)
