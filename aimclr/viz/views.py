"""AimCLR's views of one sample: the three training views and the eight augmentations.

:func:`augmentation_examples` and :func:`aimclr_views` return the tensors (no
matplotlib needed); :func:`plot_augmentations` and :func:`plot_views` draw them.
Everything is seeded: the same sample and seed give the same pictures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from aimclr._checks import check_int
from aimclr.errors import AimCLRError
from aimclr.graph import SkeletonLayout, get_layout
from aimclr.transforms import (
    AimCLRViews,
    AxisMask,
    GaussianBlur,
    GaussianNoise,
    Rotate,
    Shear,
    SpatialFlip,
    TemporalCrop,
    TemporalFlip,
    Transform,
)
from aimclr.viz import canvas
from aimclr.viz.skeleton import (
    GHOST_COLOR,
    Up,
    _check_sample,
    _draw_frame,
    _limits,
    _present,
    _style_axes,
    frame_indices,
    joint_colors,
    project,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "AugmentationExample",
    "aimclr_views",
    "augmentation_examples",
    "plot_augmentations",
    "plot_views",
]

_AXES = "xyz"
_SIGMA = "\N{GREEK SMALL LETTER SIGMA}"


@dataclass(frozen=True)
class AugmentationExample:
    """One augmentation applied to one sample.

    Attributes:
        name: the augmentation, e.g. ``"Rotate"``.
        detail: its drawn parameter in words, e.g. ``"y 23.4°, x 0.3°, z 0.8°"``.
        view: the augmented sample ``(C, T, V, M)``.
    """

    name: str
    detail: str
    view: torch.Tensor


def _describe(transform: Transform[Any], params: Any, num_frames: int) -> str:
    """The drawn parameter of sample 0 in words."""
    if isinstance(transform, Shear):
        m = params.matrix[0]
        factors = [m[0, 1], m[0, 2], m[1, 0], m[1, 2], m[2, 0], m[2, 1]]
        text = [f"{float(f):+.2f}" for f in factors]
        return f"factors {' '.join(text[:3])}\n{' '.join(text[3:])}"
    if isinstance(transform, SpatialFlip):
        return "left and right joints swapped"
    if isinstance(transform, Rotate):
        degrees = [math.degrees(float(a)) for a in params.angles[0]]
        main = max(range(3), key=lambda i: abs(degrees[i]))
        others = ", ".join(f"{_AXES[i]} {degrees[i]:.1f}°" for i in range(3) if i != main)
        return f"{degrees[main]:.1f}° about {_AXES[main]}\n({others})"
    if isinstance(transform, AxisMask):
        axis = int(params.mask[0].nonzero()[0, 0])
        return f"{_AXES[axis] if axis < 3 else axis} coordinate zeroed"
    if isinstance(transform, TemporalCrop):
        start = int(params.start[0])
        return f"pad {params.pad}, start {start}\n(shift {start - params.pad:+d} frames)"
    if isinstance(transform, TemporalFlip):
        return f"frames reversed (T = {num_frames})"
    if isinstance(transform, GaussianNoise):
        return f"{_SIGMA} = {transform.std:g}"
    if isinstance(transform, GaussianBlur):
        sigma = float(params.sigma[0])
        norm = "normalised" if transform.normalize else "un-normalised"
        return f"{_SIGMA} = {sigma:.2f} frames, kernel {transform.kernel_size}\n{norm}"
    raise TypeError(f"no description for {type(transform).__name__}")  # pragma: no cover


def augmentation_examples(
    x: torch.Tensor, layout: str | SkeletonLayout = "ntu-rgb+d", seed: int = 0
) -> list[AugmentationExample]:
    """Each of AimCLR's eight augmentations applied alone to one sample.

    The reference parameters (as in :func:`~aimclr.transforms.extreme_view`), with
    every probability set to 1 so each one acts: Shear ``U(-0.5, 0.5)``, Spatial Flip
    (joints swapped), Rotate (main axis ``U(0°, 30°)``, others ``U(0°, 1°)``), Axis
    Mask, Temporal Crop (pad ``T // 6``), Temporal Flip, Gaussian Noise (σ 0.01) and
    Gaussian Blur (σ ``U(0.1, 2)`` frames, kernel 15, un-normalised), in this order
    (spatial, temporal, spatio-temporal), drawn from one generator seeded with ``seed``.

    Args:
        x: one sample ``(3, T, V, M)`` (or ``(3, T, V)``).
        layout: its skeleton, for the spatial flip.
        seed: seed of the draws.

    Returns:
        Eight :class:`AugmentationExample`, views ``(3, T, V, M)`` in float64.

    Raises:
        AimCLRError: ``x`` is not such a sample.

    Example:
        >>> from aimclr.data import make_synthetic_actions
        >>> x, _ = make_synthetic_actions(1, num_frames=12)
        >>> [e.name for e in augmentation_examples(x[0])][:4]
        ['Shear', 'Spatial Flip', 'Rotate', 'Axis Mask']
    """
    layout = get_layout(layout)
    sample = _check_sample(x, layout)
    transforms: list[tuple[str, Transform[Any]]] = [
        ("Shear", Shear(0.5)),
        ("Spatial Flip", SpatialFlip(layout, p=1.0)),
        ("Rotate", Rotate(main_range=(0.0, 30.0), other_range=(0.0, 1.0))),
        ("Axis Mask", AxisMask(p=1.0)),
        ("Temporal Crop", TemporalCrop(ratio=6)),
        ("Temporal Flip", TemporalFlip(p=1.0)),
        ("Gaussian Noise", GaussianNoise(std=0.01, p=1.0)),
        ("Gaussian Blur", GaussianBlur(sigma=(0.1, 2.0), kernel_size=15, p=1.0,
                                       normalize=False)),
    ]
    generator = torch.Generator().manual_seed(check_int(seed, "seed", 0))
    batch = sample.unsqueeze(0)
    examples = []
    for name, transform in transforms:
        transform.check(batch)
        params = transform.sample_params(batch, generator=generator)
        view = transform.apply(batch, params)[0]
        examples.append(AugmentationExample(name, _describe(transform, params, sample.shape[1]),
                                            view))
    return examples


def aimclr_views(
    x: torch.Tensor,
    layout: str | SkeletonLayout = "ntu-rgb+d",
    codes: str | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``(extreme, normal_1, normal_2)`` views of one sample, seeded.

    Args:
        x: one sample ``(3, T, V, M)`` (or ``(3, T, V)``).
        layout: its skeleton, for the spatial flip.
        codes: the extreme set (see :func:`~aimclr.transforms.extreme_view`).
        seed: seed of the :class:`~aimclr.transforms.AimCLRViews` generator.

    Returns:
        Three ``(3, T, V, M)`` float64 tensors.

    Raises:
        AimCLRError: bad ``x`` or ``codes``.
    """
    layout = get_layout(layout)
    sample = _check_sample(x, layout)
    views = AimCLRViews(codes=codes, layout=layout)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", 0))
    extreme, normal_1, normal_2 = views(sample, generator=generator)
    return extreme.clone(), normal_1.clone(), normal_2.clone()


def _check_joints(joints: Sequence[int], layout: SkeletonLayout) -> list[int]:
    """``joints`` as a list, each an index in ``[0, V)``."""
    chosen = [int(j) for j in joints]
    if any(not 0 <= j < layout.num_joints for j in chosen):
        raise AimCLRError(
            f"trace must list joint indices in [0, V = {layout.num_joints}) of layout "
            f"{layout.name!r}, got {list(joints)}"
        )
    return chosen


def _trace(ax: Axes, screen: torch.Tensor, joints: Sequence[int], colors: Sequence[object],
           style: str, zorder: float) -> None:
    """Trajectories over all frames of ``joints`` of person 0, ``screen (2, T, V, M)``."""
    for j in joints:
        ax.plot(screen[0, :, j, 0].numpy(), screen[1, :, j, 0].numpy(), style,
                color=colors[j], linewidth=0.9, alpha=0.8, zorder=zorder)


def plot_augmentations(
    x: torch.Tensor,
    layout: str | SkeletonLayout = "ntu-rgb+d",
    seed: int = 0,
    frame: int | None = None,
    trace: Sequence[int] = (),
    azim: float = 0.0,
    elev: float = 0.0,
    up: Up = "y",
    panel_size: float = 2.2,
) -> Figure:
    """The eight augmentations of :func:`augmentation_examples`, one panel each.

    Every panel shows the input at ``frame`` in light grey and the augmented sample at
    the same frame in colour; each panel is scaled to fit both (the un-normalised blur
    can multiply the coordinates by up to 5). The title names the augmentation and its
    drawn parameter. ``trace`` adds the trajectories over all frames of some joints
    (dashed grey: input; solid, in the joint's colour: augmented), which shows the
    temporal augmentations.

    Args:
        x: one sample ``(3, T, V, M)`` (or ``(3, T, V)``).
        layout: its skeleton.
        seed: seed of the draws.
        frame: the frame shown; None = the middle one.
        trace: joints of person 0 whose trajectories are drawn.
        azim: camera azimuth in degrees (see :func:`~aimclr.viz.skeleton.project`).
        elev: camera elevation in degrees.
        up: vertical axis.
        panel_size: width and height of each panel in inches.

    Returns:
        A figure with 2 rows of 4 panels.

    Raises:
        AimCLRError: bad ``x``, ``frame`` or ``trace``, or matplotlib is missing.
    """
    layout = get_layout(layout)
    sample = _check_sample(x, layout)
    t = frame_indices(sample.shape[1], [sample.shape[1] // 2 if frame is None else frame])[0]
    trace = _check_joints(trace, layout)
    examples = augmentation_examples(sample, layout, seed)
    original = project(sample, azim, elev, up)
    screens = [project(e.view, azim, elev, up) for e in examples]

    def limits(screen: torch.Tensor) -> tuple[float, float, float, float]:
        shown = [original[:, t], screen[:, t]]
        if trace:
            shown += [original[:, :, trace], screen[:, :, trace]]
        return _limits(torch.cat([s.reshape(2, -1) for s in shown], dim=1))

    figure = canvas.new_figure(4 * panel_size, 2 * panel_size + 0.8)
    axes = figure.subplots(2, 4).ravel()
    persons = _present(sample)
    for ax, example, screen in zip(axes, examples, screens, strict=True):
        _draw_frame(ax, original, layout, t, persons, GHOST_COLOR, zorder=1.0)
        if trace:
            _trace(ax, original, trace, [GHOST_COLOR] * layout.num_joints, "--", 0.5)
            _trace(ax, screen, trace, joint_colors(layout), "-", 0.8)
        _draw_frame(ax, screen, layout, t, _present(example.view))
        _style_axes(ax, limits(screen))
        ax.set_title(f"{example.name}\n{example.detail}", fontsize=8)
    figure.suptitle(f"The eight augmentations at t = {t} (grey: input)", fontsize=10)
    return figure


def plot_views(
    x: torch.Tensor,
    layout: str | SkeletonLayout = "ntu-rgb+d",
    codes: str | None = None,
    seed: int = 0,
    frames: int | Sequence[int] = 5,
    azim: float = 0.0,
    elev: float = 0.0,
    up: Up = "y",
    panel_size: float = 1.6,
) -> Figure:
    """The input and its three AimCLR views side by side, a strip of frames each.

    Rows: the input, the extreme view, the two normal views (query and key), drawn
    by :func:`aimclr_views`; columns: the same frames. All panels share one scale, so
    the amplitude change of the un-normalised blur shows.

    Args:
        x: one sample ``(3, T, V, M)`` (or ``(3, T, V)``).
        layout: its skeleton.
        codes: the extreme set (see :func:`~aimclr.transforms.extreme_view`).
        seed: seed of the views.
        frames: a number of evenly spaced frames, or frame indices.
        azim: camera azimuth in degrees (see :func:`~aimclr.viz.skeleton.project`).
        elev: camera elevation in degrees.
        up: vertical axis.
        panel_size: width and height of each panel in inches.

    Returns:
        A figure with 4 rows and one column per frame.

    Raises:
        AimCLRError: bad ``x``, ``codes`` or ``frames``, or matplotlib is missing.
    """
    layout = get_layout(layout)
    sample = _check_sample(x, layout)
    chosen = frame_indices(sample.shape[1], frames)
    rows = [("input", sample), *zip(("extreme", "normal 1 (query)", "normal 2 (key)"),
                                     aimclr_views(sample, layout, codes, seed), strict=True)]
    screens = [project(view, azim, elev, up) for _, view in rows]
    limits = _limits(torch.cat([s[:, chosen].reshape(2, -1) for s in screens], dim=1))
    figure = canvas.new_figure(panel_size * len(chosen) + 0.4, panel_size * len(rows) + 0.3)
    axes = figure.subplots(len(rows), len(chosen), squeeze=False)
    for r, ((label, view), screen) in enumerate(zip(rows, screens, strict=True)):
        for c, t in enumerate(chosen):
            ax = axes[r, c]
            _draw_frame(ax, screen, layout, t, _present(view))
            _style_axes(ax, limits)
            if r == 0:
                ax.set_title(f"t = {t}", fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    name = "the paper's eight" if codes is None else f"codes {codes!r}"
    figure.suptitle(f"AimCLR views (extreme: {name}; seed {seed})", fontsize=10)
    return figure
