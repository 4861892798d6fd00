"""Figures on Agg canvases, deterministic files, and the optional matplotlib import.

This is the only module of :mod:`aimclr.viz` that imports matplotlib at call time
(the others ask it for figures). Figures are :class:`matplotlib.figure.Figure`
objects with their own Agg canvas, never made through ``pyplot``: nothing changes
the global backend or needs a display, and a figure is freed like any object.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
from typing_extensions import ParamSpec

from aimclr._checks import check_positive
from aimclr.errors import AimCLRError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "available",
    "figure_pixels",
    "new_figure",
    "require_matplotlib",
    "save_figure",
    "save_if_available",
]

DPI = 100
"""Dots per inch of every figure, PNG and GIF frame; sizes are given in inches."""

_MISSING = (
    "aimclr.viz needs matplotlib, which is not installed; install the optional extra "
    'with `pip install "aimclr[viz]"`'
)

P = ParamSpec("P")


def available() -> bool:
    """Whether the ``viz`` extra (matplotlib) can be imported.

    Example:
        >>> isinstance(available(), bool)
        True
    """
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return False
    return True


def require_matplotlib() -> ModuleType:
    """Import matplotlib, or raise :class:`~aimclr.AimCLRError` naming the extra.

    Raises:
        AimCLRError: matplotlib is not installed (``pip install "aimclr[viz]"``).
    """
    try:
        return importlib.import_module("matplotlib")
    except ImportError as error:
        raise AimCLRError(_MISSING) from error


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches at :data:`DPI` on its own Agg canvas.

    It uses matplotlib's constrained layout, so titles and colour bars never overlap.

    Raises:
        AimCLRError: a size is not a positive finite number, or matplotlib is not
            installed.
    """
    check_positive(width, "width")
    check_positive(height, "height")
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def prepare_file(path: str | Path, suffix: str) -> Path:
    """``path`` as a :class:`~pathlib.Path` whose parent folders exist.

    Raises:
        AimCLRError: ``path`` is an existing folder, or a parent is a file.
    """
    path = Path(path)
    if path.is_dir():
        raise AimCLRError(f"path must name a {suffix} file, got the folder {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise AimCLRError(f"cannot create the folder of {path}: {error}") from None
    return path


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG at :data:`DPI` without run-dependent metadata.

    The ``Software`` entry (matplotlib's version) is left out and Agg writes no time
    stamp, so one figure gives the same bytes on every run with the same matplotlib
    and FreeType. Parent folders are created.

    Args:
        figure: the figure to write.
        path: the target ``.png`` file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        AimCLRError: ``path`` is an existing folder, or a parent is a file.
    """
    path = prepare_file(path, ".png")
    figure.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    return path


def figure_pixels(figure: Figure) -> np.ndarray:
    """Render ``figure`` and return its pixels, ``(H, W, 4)`` uint8 RGBA, row 0 on top.

    Data coordinates map to pixels through ``ax.transData.transform((u, v))``,
    which gives ``(column, H - row)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(figure)
    canvas.draw()  # type: ignore[no-untyped-call]
    return np.array(canvas.buffer_rgba(), dtype=np.uint8)  # type: ignore[no-untyped-call]


def save_if_available(save: Callable[P, Path], *args: P.args, **kwargs: P.kwargs) -> Path | None:
    """Call ``save(*args, **kwargs)`` if matplotlib is installed, else return None.

    For trainers that write pictures only when the ``viz`` extra is installed: a
    missing extra writes nothing and is not an error; every other error still is.

    Args:
        save: a function that writes a picture and returns its path, e.g.
            :func:`~aimclr.viz.curves.save_training_curves` or
            :func:`~aimclr.viz.evaluation.save_confusion_matrix`.
        *args: positional arguments of ``save``.
        **kwargs: keyword arguments of ``save``.

    Returns:
        What ``save`` returns, or None without matplotlib.

    Example:
        >>> from aimclr.viz import save_if_available, save_training_curves
        >>> png = save_if_available(save_training_curves, "run/metrics.jsonl",
        ...                         "run/curves.png")  # doctest: +SKIP
    """
    if not available():
        return None
    return save(*args, **kwargs)
