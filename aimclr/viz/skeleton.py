"""Skeleton sequences of any :class:`~aimclr.SkeletonLayout` as pictures and GIFs.

A sample ``(C, T, V, M)`` is drawn through an orthographic camera (:func:`project`):
3-D joints (``C = 3``) are turned by an azimuth about the vertical axis and an
elevation, 2-D joints (``C = 2``) are drawn as they are. Bones come from the layout's
edges; every person has its own colours, and within a person the left joints of the
layout's flip pairs, the right joints and the rest differ (:func:`joint_colors`), so
a spatial flip is visible. Persons that are all zeros (absent) are not drawn.

Example:
    >>> from aimclr.data import make_synthetic_actions
    >>> x, _ = make_synthetic_actions(1, num_frames=20)
    >>> figure = plot_skeleton_frames(x[0], "ntu-rgb+d", frames=4, azim=30)  # doctest: +SKIP
    >>> save_skeleton_gif(x[0], "ntu-rgb+d", "wave.gif", fps=10)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from aimclr._checks import check_floating, check_int, check_rank, check_tensor, describe
from aimclr.errors import AimCLRError
from aimclr.graph import SkeletonLayout, get_layout
from aimclr.viz import canvas

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "GHOST_COLOR",
    "PERSON_COLORS",
    "draw_pose",
    "frame_indices",
    "joint_colors",
    "plot_skeleton_frames",
    "project",
    "save_skeleton_gif",
]

Up = Literal["y", "z"]
RGB = tuple[float, float, float]

_LAYOUTS = ("(C, T, V, M)", "(C, T, V)")


def _rgb(hex_color: str) -> RGB:
    value = int(hex_color.lstrip("#"), 16)
    return ((value >> 16) / 255.0, ((value >> 8) & 255) / 255.0, (value & 255) / 255.0)


PERSON_COLORS: tuple[tuple[RGB, RGB, RGB], ...] = (
    (_rgb("#1f5fbf"), _rgb("#d0312d"), _rgb("#404040")),
    (_rgb("#17a2b8"), _rgb("#f28e2b"), _rgb("#8c564b")),
    (_rgb("#6a3d9a"), _rgb("#b8860b"), _rgb("#2ca02c")),
)
"""``(left, right, centre)`` colours of persons 0, 1, 2 (then repeated): the first
joint of each flip pair is "left", the second "right", every other joint "centre"."""

GHOST_COLOR: RGB = _rgb("#b4b4b4")
"""The light grey of a reference skeleton drawn behind another (e.g. the input under
an augmented view)."""


def joint_colors(layout: str | SkeletonLayout, person: int = 0) -> list[RGB]:
    """The RGB colour (components in ``[0, 1]``) of every joint of ``person``.

    Args:
        layout: the skeleton (name or :class:`~aimclr.SkeletonLayout`).
        person: person index ``m``; colours repeat after ``len(PERSON_COLORS)``.

    Returns:
        ``V`` colours from :data:`PERSON_COLORS`.

    Raises:
        AimCLRError: unknown layout, or ``person`` not an int ``>= 0``.

    Example:
        >>> from aimclr import NTU_RGBD
        >>> colors = joint_colors(NTU_RGBD)
        >>> colors[4] == PERSON_COLORS[0][0], colors[8] == PERSON_COLORS[0][1]
        (True, True)
    """
    layout = get_layout(layout)
    person = check_int(person, "person", 0, meaning="person index m")
    left, right, centre = PERSON_COLORS[person % len(PERSON_COLORS)]
    colors = [centre] * layout.num_joints
    for a, b in layout.flip_pairs:
        colors[a], colors[b] = left, right
    return colors


def _check_sample(x: object, layout: SkeletonLayout, name: str = "x") -> torch.Tensor:
    """A validated sample as a float64 CPU tensor ``(C, T, V, M)`` with ``C`` 2 or 3."""
    tensor = check_tensor(x, name)
    check_rank(tensor, name, _LAYOUTS)
    check_floating(tensor, name)
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(-1)
    c, t, v, m = tensor.shape
    if c not in (2, 3) or t < 1 or v != layout.num_joints or m < 1:
        raise AimCLRError(
            f"{name} must have layout {' or '.join(_LAYOUTS)} with C = 2 or 3 coordinates, "
            f"T >= 1, M >= 1 and V = {layout.num_joints} joints of layout {layout.name!r}, got "
            f"{describe(tensor)}"
        )
    return tensor.detach().to("cpu", torch.float64)


def project(
    x: torch.Tensor, azim: float = 0.0, elev: float = 0.0, up: Up = "y"
) -> torch.Tensor:
    """Screen coordinates of joints seen by an orthographic camera.

    With ``up="y"`` (NTU RGB+D, Kinect), the camera at ``azim = elev = 0`` looks from
    ``+z`` towards ``-z``: screen ``(u, v) = (x, y)``. ``azim`` turns the camera about
    the vertical axis towards ``+x`` (at 90° it looks from ``+x``, so ``u = -z``);
    ``elev`` then raises it (at 90° it looks straight down). In formulas, with
    ``w = x sin(azim) + z cos(azim)`` the depth towards the camera,
    ``u = x cos(azim) - z sin(azim)`` and ``v = y cos(elev) - w sin(elev)``.
    ``up="z"`` reads ``(x, y, z)`` as ``(x, -z, y)`` of the ``y``-up frame first.
    Two coordinates are returned unchanged.

    Args:
        x: coordinates in the first axis, ``(C, ...)`` with ``C = 3`` or ``C = 2``.
        azim: azimuth in degrees.
        elev: elevation in degrees.
        up: the vertical axis of 3-D input.

    Returns:
        ``(2, ...)`` screen coordinates ``(u, v)``, ``v`` up, in ``x``'s dtype.

    Raises:
        AimCLRError: ``x`` is not a floating tensor with 2 or 3 coordinates first,
            ``up`` is neither ``"y"`` nor ``"z"``, or an angle is not a finite number.

    Example:
        >>> p = torch.tensor([1.0, 2.0, 3.0])                # x, y, z of one joint
        >>> project(p, azim=90).round(decimals=6).tolist()   # seen from +x
        [-3.0, 2.0]
    """
    check_tensor(x, "x")
    check_floating(x, "x")
    if x.dim() < 1 or x.shape[0] not in (2, 3):
        raise AimCLRError(f"x must have layout (C, ...) with C = 2 or 3, got {describe(x)}")
    if up not in ("y", "z"):
        raise AimCLRError(f"up must be 'y' or 'z', got {up!r}")
    for name, angle in (("azim", azim), ("elev", elev)):
        if isinstance(angle, bool) or not isinstance(angle, numbers.Real) or not math.isfinite(
            angle
        ):
            raise AimCLRError(f"{name} must be a finite angle in degrees, got {angle!r}")
    if x.shape[0] == 2:
        return x.clone()
    px, py, pz = x.unbind(0)
    if up == "z":
        py, pz = pz, -py
    a, e = math.radians(azim), math.radians(elev)
    u = px * math.cos(a) - pz * math.sin(a)
    depth = px * math.sin(a) + pz * math.cos(a)
    v = py * math.cos(e) - depth * math.sin(e)
    return torch.stack((u, v))


def frame_indices(num_frames: int, frames: int | Sequence[int] | None) -> list[int]:
    """The frames to draw: all (None), ``frames`` evenly spaced ones, or those listed.

    Raises:
        AimCLRError: ``num_frames < 1``, a count below 1, an index outside
            ``[0, num_frames)``, or ``frames`` of another type.

    Example:
        >>> frame_indices(50, 5)
        [0, 12, 24, 37, 49]
    """
    check_int(num_frames, "num_frames", meaning="frames T")
    if frames is None:
        return list(range(num_frames))
    if isinstance(frames, numbers.Integral) and not isinstance(frames, bool):
        if frames < 1:
            raise AimCLRError(f"frames must be a count >= 1 or frame indices, got {frames!r}")
        count = min(int(frames), num_frames)
        return [int(i) for i in np.linspace(0, num_frames - 1, count).round().astype(int)]
    if not isinstance(frames, Sequence) or isinstance(frames, str) or not all(
        isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in frames
    ):
        raise AimCLRError(f"frames must be a count >= 1 or a list of frame indices, got {frames!r}")
    chosen = [int(i) for i in frames]
    bad = [i for i in chosen if not 0 <= i < num_frames]
    if not chosen or bad:
        raise AimCLRError(
            f"frames must list indices in [0, T = {num_frames}), got {list(frames)}"
        )
    return chosen


def _present(x: torch.Tensor) -> list[int]:
    """Persons of ``(C, T, V, M)`` that are not all zeros."""
    return [m for m in range(x.shape[-1]) if bool(x[..., m].ne(0).any())]


def _limits(points: torch.Tensor, margin: float = 0.08) -> tuple[float, float, float, float]:
    """Square ``(u0, u1, v0, v1)`` around ``points (2, ...)`` with a relative margin."""
    flat = points.reshape(2, -1)
    flat = flat[:, torch.isfinite(flat).all(dim=0)]
    if flat.shape[1] == 0:
        return -1.0, 1.0, -1.0, 1.0
    low, high = flat.min(dim=1).values, flat.max(dim=1).values
    centre = (low + high) / 2
    half = float((high - low).max()) / 2 * (1 + margin) or 1.0
    return (float(centre[0]) - half, float(centre[0]) + half,
            float(centre[1]) - half, float(centre[1]) + half)


def _style_axes(ax: Axes, limits: tuple[float, float, float, float]) -> None:
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#dddddd")


def draw_pose(
    ax: Axes,
    points: torch.Tensor,
    layout: str | SkeletonLayout,
    person: int = 0,
    color: RGB | None = None,
    joint_size: float = 12.0,
    bone_width: float = 1.6,
    alpha: float = 1.0,
    zorder: float = 2.0,
) -> None:
    """Draw one pose, ``points (2, V)`` in screen coordinates, on a matplotlib Axes.

    Bones (the layout's edges) are lines under the joints; a bone takes its joints'
    colour when both are on the same side, the centre colour otherwise.

    Args:
        ax: the matplotlib ``Axes`` to draw on.
        points: ``(2, V)`` screen coordinates, e.g. a frame of :func:`project`.
        layout: the skeleton.
        person: selects the colours of :func:`joint_colors`.
        color: one colour for every joint and bone instead (e.g. :data:`GHOST_COLOR`).
        joint_size: marker area in points².
        bone_width: line width in points.
        alpha: opacity.
        zorder: drawing order; joints go at ``zorder + 0.5``.

    Raises:
        AimCLRError: ``points`` is not ``(2, V)`` for the layout.
    """
    layout = get_layout(layout)
    check_tensor(points, "points")
    if tuple(points.shape) != (2, layout.num_joints):
        raise AimCLRError(
            f"points must have layout (2, V) with V = {layout.num_joints} joints of layout "
            f"{layout.name!r}, got {describe(points)}"
        )
    from matplotlib.collections import LineCollection

    xy = points.detach().to("cpu", torch.float64).T.numpy()  # (V, 2)
    colors = [color] * layout.num_joints if color is not None else joint_colors(layout, person)
    segments = [xy[[a, b]] for a, b in layout.edges]
    centre = PERSON_COLORS[person % len(PERSON_COLORS)][2] if color is None else color
    bone_colors = [colors[a] if colors[a] == colors[b] else centre for a, b in layout.edges]
    ax.add_collection(LineCollection(segments, colors=bone_colors, linewidths=bone_width,
                                     alpha=alpha, zorder=zorder, capstyle="round"))
    ax.scatter(xy[:, 0], xy[:, 1], s=joint_size, c=colors, alpha=alpha, linewidths=0,
               zorder=zorder + 0.5)


def _draw_frame(
    ax: Axes, screen: torch.Tensor, layout: SkeletonLayout, t: int, persons: list[int],
    color: RGB | None = None, alpha: float = 1.0, zorder: float = 2.0,
) -> None:
    """All persons of frame ``t`` of ``screen (2, T, V, M)`` that are present in it."""
    for m in persons:
        pose = screen[:, t, :, m]
        if bool(pose.ne(0).any()):
            draw_pose(ax, pose, layout, person=m, color=color, alpha=alpha, zorder=zorder)


def plot_skeleton_frames(
    x: torch.Tensor,
    layout: str | SkeletonLayout,
    frames: int | Sequence[int] | None = 6,
    azim: float = 0.0,
    elev: float = 0.0,
    up: Up = "y",
    ghost: torch.Tensor | None = None,
    panel_size: float = 1.8,
    title: str | None = None,
) -> Figure:
    """A strip of frames of one sample, one panel per frame, all at the same scale.

    Args:
        x: the sample ``(C, T, V, M)`` (or ``(C, T, V)``), ``C`` = 3 (or 2 for 2-D poses).
        layout: its skeleton; ``V`` must match.
        frames: a number of evenly spaced frames, frame indices, or None for all.
        azim: camera azimuth in degrees (see :func:`project`).
        elev: camera elevation in degrees.
        up: vertical axis of 3-D coordinates.
        ghost: optional second sample of the same shape drawn in light grey behind
            ``x`` (e.g. the input under an augmented view).
        panel_size: width and height of each panel in inches.
        title: figure title.

    Returns:
        The :class:`matplotlib.figure.Figure` (save it with :func:`~aimclr.viz.canvas.save_figure`).

    Raises:
        AimCLRError: bad ``x`` or ``ghost``, bad ``frames``, or matplotlib is missing.
    """
    layout = get_layout(layout)
    sample = _check_sample(x, layout)
    chosen = frame_indices(sample.shape[1], frames)
    screen = project(sample, azim, elev, up)
    shown = [screen[:, chosen]]
    behind = None
    if ghost is not None:
        behind = _check_sample(ghost, layout, "ghost")
        if behind.shape != sample.shape:
            raise AimCLRError(
                f"ghost must have the shape of x {tuple(sample.shape)}, got {describe(behind)}"
            )
        behind = project(behind, azim, elev, up)
        shown.append(behind[:, chosen])
    limits = _limits(torch.cat(shown, dim=1))
    figure = canvas.new_figure(panel_size * len(chosen), panel_size + (0.3 if title else 0.1))
    axes = figure.subplots(1, len(chosen), squeeze=False)[0]
    persons = _present(sample)
    for ax, t in zip(axes, chosen, strict=True):
        if behind is not None:
            _draw_frame(ax, behind, layout, t, _present(behind), GHOST_COLOR, zorder=1.0)
        _draw_frame(ax, screen, layout, t, persons)
        _style_axes(ax, limits)
        ax.set_title(f"t = {t}", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def save_skeleton_gif(
    x: torch.Tensor,
    layout: str | SkeletonLayout,
    path: str | Path,
    fps: float = 10.0,
    frames: int | Sequence[int] | None = None,
    azim: float = 0.0,
    elev: float = 0.0,
    up: Up = "y",
    size: float = 3.0,
    title: str | None = None,
) -> Path:
    """Write a sample as an animated GIF (through Pillow), one GIF frame per frame.

    Every frame is labelled ``t = i``, so consecutive GIF frames always differ (GIF
    writers merge identical ones) and the GIF has exactly one frame per chosen frame.
    The axes keep one scale for the whole sequence. The GIF loops forever.

    Args:
        x: the sample ``(C, T, V, M)`` (or ``(C, T, V)``).
        layout: its skeleton.
        path: target ``.gif`` file; parent folders are created.
        fps: frames per second; each frame lasts ``1000 / fps`` ms rounded to 10 ms,
            the GIF format's unit.
        frames: frames to show (see :func:`frame_indices`); None = all.
        azim: camera azimuth in degrees (see :func:`project`).
        elev: camera elevation in degrees.
        up: vertical axis of 3-D coordinates.
        size: width and height in inches (at :data:`~aimclr.viz.canvas.DPI` dots per inch).
        title: text above the skeleton, before ``t = i``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        AimCLRError: bad ``x``, ``frames`` or ``fps``, ``path`` is a folder, or
            matplotlib is missing.
    """
    layout = get_layout(layout)
    sample = _check_sample(x, layout)
    if not fps > 0 or not math.isfinite(fps):
        raise AimCLRError(f"fps must be a positive finite number, got {fps!r}")
    chosen = frame_indices(sample.shape[1], frames)
    screen = project(sample, azim, elev, up)
    limits = _limits(screen[:, chosen])
    persons = _present(sample)
    from PIL import Image

    figure = canvas.new_figure(size, size)
    ax = figure.subplots()
    images = []
    for t in chosen:
        ax.clear()
        _draw_frame(ax, screen, layout, t, persons)
        _style_axes(ax, limits)
        ax.set_title(f"{title}  t = {t}" if title else f"t = {t}", fontsize=9)
        images.append(Image.fromarray(canvas.figure_pixels(figure)[..., :3]))
    path = canvas.prepare_file(path, ".gif")
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=10 * max(1, round(100 / fps)), loop=0)
    return path
