"""Training curves from a ``metrics.jsonl`` log: every loss term, the learning rate, kNN.

The log holds one JSON object per line (per epoch), as the example trainer writes
it: ``{"epoch": 3, "lr": 0.05, "loss": 9.1, "info_nce": 4.0, ..., "knn1": 0.41}``.
Keys are sorted into panels by name (:func:`metric_groups`): ``epoch`` is the
x-axis; ``lr`` the learning rate; keys starting with ``knn``, ``linear`` or ``top``
or containing ``acc`` are accuracies (fractions in ``[0, 1]``, drawn in %); the
timing keys ``seconds`` and ``samples_per_s`` are left out; every other number is a
loss term. A term missing from some epochs (InfoNCE after the mining epoch, NNM
before it, kNN between measurements) is drawn where present.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aimclr.errors import AimCLRError
from aimclr.viz import canvas

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "IGNORED_METRICS",
    "metric_groups",
    "plot_training_curves",
    "read_metrics",
    "save_training_curves",
]

IGNORED_METRICS = frozenset({"seconds", "samples_per_s"})
"""Keys of a metrics record that are not curves (timing)."""

_ACCURACY_PREFIXES = ("knn", "linear", "top")
_LINE_STYLES = ("-", "--", "-.", ":")


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """Read a ``metrics.jsonl`` file: one JSON object per non-blank line.

    Only numeric values are kept (booleans and strings are dropped).

    Args:
        path: the file.

    Returns:
        One dict per line, in file order.

    Raises:
        AimCLRError: the file is missing, or a line is not a JSON object (the message
            names the line number).
    """
    path = Path(path)
    if not path.is_file():
        raise AimCLRError(f"metrics file {str(path)!r} does not exist")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise AimCLRError(f"{path}:{number} is not valid JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise AimCLRError(f"{path}:{number} must be a JSON object, got {line[:60]!r}")
        records.append({k: float(v) for k, v in record.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return records


def metric_groups(records: Sequence[Mapping[str, float]]) -> dict[str, list[str]]:
    """Sort the keys of ``records`` into ``{"loss": [...], "lr": [...], "accuracy": [...]}``.

    Keys keep the order of their first appearance; ``"loss"`` (the total) comes first
    among the loss terms.

    Example:
        >>> metric_groups([{"epoch": 1, "lr": 0.1, "d3m": 5.0, "loss": 9.0, "seconds": 3.0},
        ...                {"epoch": 2, "lr": 0.1, "nnm": 4.0, "loss": 8.0, "knn1": 0.4}])
        {'loss': ['loss', 'd3m', 'nnm'], 'lr': ['lr'], 'accuracy': ['knn1']}
    """
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
    groups: dict[str, list[str]] = {"loss": [], "lr": [], "accuracy": []}
    for key in keys:
        if key == "epoch" or key in IGNORED_METRICS:
            continue
        if key == "lr":
            groups["lr"].append(key)
        elif key.startswith(_ACCURACY_PREFIXES) or "acc" in key:
            groups["accuracy"].append(key)
        else:
            groups["loss"].append(key)
    groups["loss"].sort(key=lambda k: k != "loss")  # stable: only moves the total first
    return groups


def _series(records: Sequence[Mapping[str, float]], key: str) -> tuple[list[float], list[float]]:
    """``(epochs, values)`` of the records that hold a finite ``key``."""
    pairs = [(r["epoch"], r[key]) for r in records if key in r and math.isfinite(r[key])]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def plot_training_curves(
    metrics: str | Path | Sequence[Mapping[str, float]], title: str | None = None
) -> Figure:
    """Loss terms, learning rate and accuracies over the epochs, one panel each.

    One line per key of :func:`metric_groups` (its label is the key): the total
    ``loss`` in black, the other terms in colours and dash patterns (terms that
    coincide stay visible); the learning rate from 0; accuracies in %, with markers.
    The accuracy panel is left out when no record holds one.

    Args:
        metrics: a ``metrics.jsonl`` path, or records as :func:`read_metrics` returns.
        title: figure title.

    Returns:
        The figure: Axes 0 the losses, 1 the learning rate, 2 the accuracies.

    Raises:
        AimCLRError: no records, a record without ``epoch`` or with a value that is
            not a number, or matplotlib is missing.
    """
    is_path = isinstance(metrics, (str, Path))
    if not is_path and (
        not isinstance(metrics, Sequence) or not all(isinstance(r, Mapping) for r in metrics)
    ):
        raise AimCLRError(
            "metrics must be a metrics.jsonl path or a list of records (one mapping of "
            f"names to numbers per epoch), got {type(metrics).__name__}"
        )
    records = read_metrics(metrics) if isinstance(metrics, (str, Path)) else list(metrics)
    if not records:
        raise AimCLRError("metrics holds no records; expected one JSON object per epoch")
    missing = [i for i, r in enumerate(records) if "epoch" not in r]
    if missing:
        raise AimCLRError(f"every metrics record needs an 'epoch'; records {missing[:5]} lack it")
    bad = [(i, k, v) for i, r in enumerate(records) for k, v in r.items()
           if isinstance(v, bool) or not isinstance(v, (int, float))]  # fmt: skip
    if bad:
        i, key, value = bad[0]
        raise AimCLRError(
            f"metrics records must map names to numbers (as read_metrics returns them), "
            f"got record {i}: {key!r} = {value!r}"
        )
    groups = metric_groups(records)
    panels = [name for name in ("loss", "lr", "accuracy") if groups[name]]
    figure = canvas.new_figure(4.0 * len(panels), 3.2)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    from matplotlib.ticker import MaxNLocator

    for ax, name in zip(axes, panels, strict=True):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for i, key in enumerate(groups[name]):
            epochs, values = _series(records, key)
            # Terms can coincide (D3M is the mean of its two parts): vary dashes and widths.
            style = _LINE_STYLES[i % len(_LINE_STYLES)]
            if name == "accuracy":
                ax.plot(epochs, [100 * v for v in values], marker="o", linestyle=style,
                        markersize=3, label=key)
            elif key == "loss":
                ax.plot(epochs, values, color="black", linewidth=2.0, label=key)
            else:  # later lines thinner, so that lines drawn before them show at the edges
                ax.plot(epochs, values, linewidth=max(0.8, 2.2 - 0.3 * i), linestyle=style,
                        label=key)
        ax.set_xlabel("epoch", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, color="#e6e6e6", linewidth=0.6)
        if name == "lr":
            ax.set_ylim(bottom=0)
            ax.set_title("learning rate", fontsize=10)
        elif name == "accuracy":
            ax.set_ylabel("%", fontsize=9)
            ax.set_title("accuracy", fontsize=10)
            ax.legend(fontsize=8)
        else:
            ax.set_title("loss terms", fontsize=10)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


def save_training_curves(
    metrics_jsonl: str | Path, png: str | Path, title: str | None = None
) -> Path:
    """Read ``metrics_jsonl`` and write :func:`plot_training_curves` as ``png``.

    Meant to be called by a trainer after every epoch (overwriting the picture).

    Args:
        metrics_jsonl: the log.
        png: target file; parent folders are created.
        title: figure title.

    Returns:
        ``png`` as a :class:`~pathlib.Path`.

    Raises:
        AimCLRError: see :func:`plot_training_curves`.
    """
    return canvas.save_figure(plot_training_curves(metrics_jsonl, title), png)
