"""Training protocols: linear evaluation, fine-tuning, semi-supervised fine-tuning."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from aimclr._checks import (
    check_bool,
    check_device,
    check_generator,
    check_int,
    check_module,
    check_nonnegative,
    check_positive,
    check_probability,
    describe,
)
from aimclr.data.subsets import class_balanced_subset
from aimclr.errors import AimCLRError
from aimclr.eval._data import (
    Data,
    as_dataset,
    check_labels,
    check_samples,
    dataset_len,
    float_dtype,
    module_device,
    restore_modes,
    training_modes,
)
from aimclr.eval.classifiers import EncoderClassifier, LinearProbe, init_linear_
from aimclr.eval.features import extract_features
from aimclr.eval.metrics import topk_accuracy


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


def _check_schedule(epochs: int, batch_size: int, eval_every: int, lr: float, *,
                    momentum: float, weight_decay: float, milestones: Sequence[int],
                    gamma: float, generator: torch.Generator | None) -> None:
    """The optimiser and schedule options of both protocols, before anything trains."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size),
                        ("eval_every", eval_every)):
        check_int(value, name)
    check_positive(lr, "lr")
    check_probability(momentum, "momentum")  # SGD momentum above 1 diverges
    check_nonnegative(gamma, "gamma")
    check_nonnegative(weight_decay, "weight_decay")
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
        raise AimCLRError(f"milestones must be a sequence of epochs >= 0, got {milestones!r}")
    for milestone in milestones:  # a negative epoch is never reached: no decay at all
        check_int(milestone, "every milestone", 0, meaning="an epoch")
    check_generator(generator)


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
    modes = training_modes(model)
    model.eval()
    scores, labels = [], []
    try:
        for x, y in DataLoader(data, batch_size=batch_size, shuffle=False):
            x, y = _batch(x, y, device, dtype, "test_data")
            scores.append(model(x))
            check_labels(y, scores[-1].shape[1], "test labels (N,)")
            labels.append(y.long())
    finally:
        restore_modes(modes)
    return torch.cat(scores), torch.cat(labels)


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
                        drop_last=dataset_len(train, "train data") >= batch_size)
    history: list[tuple[int, float, float]] = []
    best: tuple[float, float, int, torch.Tensor] | None = None
    top1 = top5 = 0.0
    model.train(train_mode)
    for epoch in range(1, epochs + 1):
        for x, y in loader:
            x, y = _batch(x, y, device, dtype, "train_data")
            logits = model(x)
            check_labels(y, logits.shape[1], "train labels (N,)")
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
    check_module(encoder, "encoder")
    check_bool(precompute, "precompute")
    _check_schedule(epochs, batch_size, eval_every, lr, momentum=momentum,
                    weight_decay=weight_decay, milestones=milestones, gamma=gamma,
                    generator=generator)
    check_int(num_classes, "num_classes")
    device = check_device(device) or module_device(encoder)
    train, test = as_dataset(train_data, "train_data"), as_dataset(test_data, "test_data")
    dataset_len(train, "train_data")
    dataset_len(test, "test_data")
    check_samples(train, "train_data", num_classes)
    check_samples(test, "test_data", num_classes)
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
    dtype = float_dtype(encoder)
    grad_flags = [p.requires_grad for p in encoder.parameters()]
    modes = training_modes(encoder)
    try:
        probe = LinearProbe(encoder, feature_dim, num_classes).to(device)
        probe.fc.to(dtype)  # the features come in the encoder's dtype
        if generator is not None:  # before the batch order: both paths draw alike
            init_linear_(probe.fc, generator)
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
        restore_modes(modes)
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
    check_module(model, "model")
    for name, flag in (("nesterov", nesterov), ("keep_eval_mode", keep_eval_mode),
                       ("copy_model", copy_model)):
        check_bool(flag, name)
    _check_schedule(epochs, batch_size, eval_every, lr, momentum=momentum,
                    weight_decay=weight_decay, milestones=milestones, gamma=gamma,
                    generator=generator)
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
    device = check_device(device) or module_device(model)
    train, test = as_dataset(train_data, "train_data"), as_dataset(test_data, "test_data")
    dataset_len(train, "train_data")
    dataset_len(test, "test_data")
    # K from one sample (eval mode, no gradients, modes restored: nothing changes),
    # so labels in hand are range-checked before any weight moves.
    num_classes = int(extract_features(model, torch.as_tensor(train[0][0])[None])[0].shape[1])
    check_samples(train, "train_data", num_classes)
    check_samples(test, "test_data", num_classes)
    net = (copy.deepcopy(model) if copy_model else model).to(device)
    net.requires_grad_(True)
    params = list(net.parameters())
    modes = training_modes(net)
    try:
        return _fit(net, params, train, test, device=device, epochs=epochs, lr=lr,
                    momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
                    milestones=milestones, gamma=gamma, batch_size=batch_size,
                    eval_every=eval_every, max_grad_norm=max_grad_norm, generator=generator,
                    train_mode=not keep_eval_mode, dtype=float_dtype(net))
    finally:  # _fit switched the modes for training
        restore_modes(modes)


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
    unknown = sorted(set(kwargs) - set(inspect.signature(finetune).parameters))
    if unknown:
        raise AimCLRError(
            f"unknown keyword arguments {unknown}: semi_supervised_finetune passes its "
            "keyword arguments to finetune, which has no such options"
        )
    check_module(model, "model")
    train = as_dataset(train_data, "train_data")
    if isinstance(train_data, tuple):
        labels = train_data[1]
    elif isinstance(getattr(train, "labels", None), (torch.Tensor, list)):
        labels = torch.as_tensor(train.labels)  # type: ignore[attr-defined]
    else:
        labels = torch.tensor([int(train[i][1]) for i in range(dataset_len(train, "train"))])
    subset = Subset(train, class_balanced_subset(labels, label_fraction, generator=seed))
    return finetune(model, subset, test_data, lr=lr, weight_decay=weight_decay,
                    nesterov=nesterov, max_grad_norm=max_grad_norm, **kwargs)
