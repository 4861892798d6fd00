"""Evaluation pictures: a confusion matrix and a 2-D PCA projection of embeddings.

:func:`confusion_matrix` and :func:`pca` are plain torch (no matplotlib needed);
:func:`plot_confusion_matrix` and :func:`plot_embeddings` draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from aimclr._checks import check_finite, check_floating, check_tensor, describe
from aimclr.errors import AimCLRError
from aimclr.viz import canvas

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PCA",
    "confusion_matrix",
    "pca",
    "plot_confusion_matrix",
    "plot_embeddings",
    "save_confusion_matrix",
]

_INTEGER = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _check_labels(labels: object, name: str, n: int | None = None) -> torch.Tensor:
    tensor = check_tensor(labels, name)
    if tensor.dim() != 1 or tensor.dtype not in _INTEGER or (n is not None and len(tensor) != n):
        expected = "(N,)" if n is None else f"(N,) with N = {n}"
        raise AimCLRError(f"{name} must be an integer tensor {expected}, got {describe(tensor)}")
    if len(tensor) and int(tensor.min()) < 0:
        raise AimCLRError(f"{name} must hold classes >= 0, got minimum {int(tensor.min())}")
    return tensor


def confusion_matrix(
    predictions: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None
) -> torch.Tensor:
    """Counts ``(K, K)``: row = true class, column = predicted class.

    Args:
        predictions: ``(N,)`` predicted classes, or ``(N, K)`` scores (their argmax).
        labels: ``(N,)`` true classes.
        num_classes: ``K``; by default the scores' width, else one more than the
            largest class seen.

    Returns:
        ``(K, K)`` int64 counts on the CPU; they sum to ``N``.

    Raises:
        AimCLRError: shapes or dtypes do not match, or a class is outside ``[0, K)``.

    Example:
        >>> confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]))
        tensor([[1, 0, 0],
                [0, 1, 0],
                [0, 1, 1]])
    """
    check_tensor(predictions, "predictions")
    if predictions.dim() == 2:
        check_floating(predictions, "predictions")
        if num_classes is None:
            num_classes = predictions.shape[1]
        predictions = predictions.argmax(dim=1)
    predictions = _check_labels(predictions, "predictions (N,) or scores (N, K)")
    labels = _check_labels(labels, "labels", len(predictions)).cpu()
    predictions = predictions.cpu()
    seen = int(torch.cat([predictions, labels]).max()) + 1 if len(labels) else 0
    k = seen if num_classes is None else num_classes
    if k < seen or k < 1:
        raise AimCLRError(f"num_classes must be >= 1 and cover every class (max {seen - 1}), "
                          f"got {num_classes}")
    flat = labels.long() * k + predictions.long()
    return torch.bincount(flat, minlength=k * k).reshape(k, k)


@dataclass(frozen=True)
class PCA:
    """A principal component projection.

    Attributes:
        coords: ``(N, dim)`` the centred data in the components' coordinates.
        components: ``(dim, D)`` orthonormal directions, by decreasing variance; the
            sign of each makes its largest-magnitude entry positive.
        mean: ``(D,)`` the mean that was subtracted.
        explained_variance_ratio: ``(dim,)`` share of the total variance per component.
    """

    coords: torch.Tensor
    components: torch.Tensor
    mean: torch.Tensor
    explained_variance_ratio: torch.Tensor


def pca(x: torch.Tensor, dim: int = 2) -> PCA:
    """Principal components of ``x (N, D)`` by an SVD of the centred data, in float64.

    Args:
        x: ``(N, D)`` embeddings, ``N >= 2``.
        dim: number of components, ``1 <= dim <= min(N, D)``.

    Returns:
        :class:`PCA` in float64 on ``x``'s device.

    Raises:
        AimCLRError: ``x`` is not a floating ``(N, D)`` tensor with ``N >= 2``, or
            ``dim`` is out of range.
        NonFiniteInputError: ``x`` holds NaN or inf.

    Example:
        >>> x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0], [2.0, 1.0], [2.0, -1.0]])
        >>> result = pca(x, dim=1)
        >>> result.components.tolist(), result.coords.flatten().tolist()
        ([[1.0, 0.0]], [-2.0, 0.0, 2.0, 0.0, 0.0])
    """
    check_tensor(x, "x")
    check_floating(x, "x")
    if x.dim() != 2 or x.shape[0] < 2:
        raise AimCLRError(f"x must have layout (N, D) with N >= 2, got {describe(x)}")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= min(x.shape):
        raise AimCLRError(f"dim must be an int in [1, min(N, D) = {min(x.shape)}], got {dim!r}")
    check_finite({"x (N, D)": x})  # the SVD of non-finite data does not converge
    data = x.detach().double()
    mean = data.mean(dim=0)
    centred = data - mean
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:dim]
    largest = components.abs().argmax(dim=1, keepdim=True)
    components = components * components.gather(1, largest).sign()
    variance = singular.square()
    total = variance.sum()
    ratio = variance[:dim] / total if total > 0 else torch.zeros_like(variance[:dim])
    return PCA(centred @ components.T, components, mean, ratio)


def _class_names(names: Sequence[str] | None, k: int) -> list[str]:
    if names is None:
        return [str(i) for i in range(k)]
    if len(names) < k:
        raise AimCLRError(f"class_names must name all {k} classes, got {len(names)} names")
    return [str(name) for name in names[:k]]


def plot_confusion_matrix(
    predictions: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
    title: str | None = None,
) -> Figure:
    """A heatmap of :func:`confusion_matrix`, rows = true class, columns = predicted.

    Args:
        predictions: ``(N,)`` predicted classes or ``(N, K)`` scores.
        labels: ``(N,)`` true classes.
        class_names: tick labels (default ``0 … K-1``); ``K`` is the scores' width,
            else ``len(class_names)`` when given, else the largest class seen + 1.
        normalize: show each row as fractions of its true class (rows sum to 1)
            instead of counts; the cells are annotated either way when ``K <= 20``.
        title: figure title; by default the top-1 accuracy.

    Returns:
        The figure; its first Axes holds the ``(K, K)`` image.

    Raises:
        AimCLRError: see :func:`confusion_matrix`; too few class names; matplotlib
            is missing.
    """
    scores = isinstance(predictions, torch.Tensor) and predictions.dim() == 2
    k = None if class_names is None or scores else len(class_names)
    counts = confusion_matrix(predictions, labels, k)
    k = counts.shape[0]
    names = _class_names(class_names, k)
    rows = counts.sum(dim=1, keepdim=True).clamp_min(1)
    shown = counts.double() / rows if normalize else counts.double()
    accuracy = float(counts.diag().sum()) / max(int(counts.sum()), 1)
    side = min(max(3.5, 0.42 * k + 1.8), 12.0)
    figure = canvas.new_figure(side + 0.8, side)
    ax = figure.subplots()
    top = 1.0 if normalize else max(float(shown.max()), 1.0)
    image = ax.imshow(shown.numpy(), cmap="Blues", vmin=0.0, vmax=top, interpolation="nearest")
    figure.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
    ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel("predicted", fontsize=9)
    ax.set_ylabel("true", fontsize=9)
    if k <= 20:
        middle = 0.5 * top
        for i in range(k):
            for j in range(k):
                value = float(shown[i, j])
                if counts[i, j] == 0:
                    continue
                text = f"{value:.2f}".lstrip("0") if normalize else str(int(counts[i, j]))
                ax.text(j, i, text, ha="center", va="center", fontsize=6,
                        color="white" if value > middle else "black")
    ax.set_title(title or f"top-1 {accuracy:.1%} (N = {int(counts.sum())})", fontsize=10)
    return figure


def save_confusion_matrix(
    predictions: torch.Tensor,
    labels: torch.Tensor,
    png: str | Path,
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Write :func:`plot_confusion_matrix` as ``png`` (parent folders are created).

    Returns:
        ``png`` as a :class:`~pathlib.Path`.

    Raises:
        AimCLRError: see :func:`plot_confusion_matrix`.
    """
    figure = plot_confusion_matrix(predictions, labels, class_names, normalize, title)
    return canvas.save_figure(figure, png)


def plot_embeddings(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Embeddings ``(N, D)`` projected on their first two principal components.

    One colour per class (matplotlib's ``tab10`` colours, ``tab20`` beyond ten
    classes); the axes say how much of the variance each component explains.

    Args:
        embeddings: ``(N, D)`` floating, ``N >= 2``, ``D >= 2``.
        labels: ``(N,)`` classes.
        class_names: legend labels (default the class numbers).
        title: figure title.

    Returns:
        The figure; its first Axes holds one scatter collection per class, in class order.

    Raises:
        AimCLRError: see :func:`pca`; labels of another length; matplotlib is missing.
    """
    result = pca(embeddings, dim=2)
    labels = _check_labels(labels, "labels", embeddings.shape[0]).cpu()
    k = int(labels.max()) + 1
    names = _class_names(class_names, k)
    coords = result.coords.cpu()
    figure = canvas.new_figure(6.4, 4.6)
    ax = figure.subplots()
    from matplotlib import colormaps

    palette = colormaps["tab10" if k <= 10 else "tab20"]
    for c in range(k):
        chosen = labels == c
        if bool(chosen.any()):
            ax.scatter(coords[chosen, 0].numpy(), coords[chosen, 1].numpy(), s=9,
                       color=palette(c % palette.N), label=names[c], linewidths=0)
    ratio = result.explained_variance_ratio.tolist()
    ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of the variance)", fontsize=9)
    ax.set_ylabel(f"PC 2 ({ratio[1]:.0%})", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title(title or f"PCA of {embeddings.shape[0]} embeddings", fontsize=10)
    return figure
