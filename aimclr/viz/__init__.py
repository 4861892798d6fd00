"""Pictures of skeletons, views, EADM and training: the optional ``viz`` extra.

Install with ``pip install "aimclr[viz]"`` (matplotlib; Pillow comes with it).
``import aimclr.viz`` works without it: drawing then raises
:class:`~aimclr.AimCLRError` naming the extra, while
:func:`~aimclr.viz.canvas.save_if_available` quietly does nothing, for trainers
that write pictures only when the extra is installed. ``import aimclr`` never
imports matplotlib.

Every function builds a :class:`matplotlib.figure.Figure` on an Agg canvas (no
``pyplot``, no display, no global backend change) at a fixed size and
:data:`~aimclr.viz.canvas.DPI`; :func:`~aimclr.viz.canvas.save_figure` writes
PNGs without run-dependent metadata, so a picture is a pure function of its
inputs for a given matplotlib.

The names below are defined in the submodules :mod:`aimclr.viz.canvas`,
:mod:`aimclr.viz.skeleton`, :mod:`aimclr.viz.views`, :mod:`aimclr.viz.eadm`,
:mod:`aimclr.viz.curves` and :mod:`aimclr.viz.evaluation`, and imported here.

Example:
    >>> import aimclr.viz
    >>> path = aimclr.viz.save_if_available(
    ...     aimclr.viz.save_training_curves, "runs/x/metrics.jsonl", "runs/x/curves.png"
    ... )  # doctest: +SKIP
"""

from __future__ import annotations

from aimclr.viz.canvas import (
    DPI,
    available,
    figure_pixels,
    new_figure,
    require_matplotlib,
    save_figure,
    save_if_available,
)
from aimclr.viz.curves import (
    IGNORED_METRICS,
    metric_groups,
    plot_training_curves,
    read_metrics,
    save_training_curves,
)
from aimclr.viz.eadm import DropMasks, eadm_masks, plot_eadm
from aimclr.viz.evaluation import (
    PCA,
    confusion_matrix,
    pca,
    plot_confusion_matrix,
    plot_embeddings,
    save_confusion_matrix,
)
from aimclr.viz.skeleton import (
    GHOST_COLOR,
    PERSON_COLORS,
    draw_pose,
    frame_indices,
    joint_colors,
    plot_skeleton_frames,
    project,
    save_skeleton_gif,
)
from aimclr.viz.views import (
    AugmentationExample,
    aimclr_views,
    augmentation_examples,
    plot_augmentations,
    plot_views,
)

__all__ = [
    "DPI",
    "GHOST_COLOR",
    "IGNORED_METRICS",
    "PCA",
    "PERSON_COLORS",
    "AugmentationExample",
    "DropMasks",
    "aimclr_views",
    "augmentation_examples",
    "available",
    "confusion_matrix",
    "draw_pose",
    "eadm_masks",
    "figure_pixels",
    "frame_indices",
    "joint_colors",
    "metric_groups",
    "new_figure",
    "pca",
    "plot_augmentations",
    "plot_confusion_matrix",
    "plot_eadm",
    "plot_embeddings",
    "plot_skeleton_frames",
    "plot_training_curves",
    "plot_views",
    "project",
    "read_metrics",
    "require_matplotlib",
    "save_confusion_matrix",
    "save_figure",
    "save_if_available",
    "save_skeleton_gif",
    "save_training_curves",
]
