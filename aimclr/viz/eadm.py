"""What EADM drops: its attention over ``(T, V)`` and its masks, as heatmaps and on a skeleton.

:func:`eadm_masks` recomputes the masks of :func:`aimclr.attention_drop` (no
matplotlib needed); :func:`plot_eadm` draws them for one sample of a feature map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from aimclr._checks import (
    check_finite,
    check_positive,
    check_probability,
    describe,
)
from aimclr.errors import AimCLRError
from aimclr.graph import SkeletonLayout, get_layout
from aimclr.nn.eadm import TemporalMode, _check_map, _dropped, simam_attention
from aimclr.viz import canvas
from aimclr.viz.skeleton import (
    Up,
    _check_sample,
    _limits,
    _style_axes,
    draw_pose,
    frame_indices,
    project,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DropMasks", "eadm_masks", "plot_eadm"]

_HALF = (torch.float16, torch.bfloat16)
_DROP_COLOR = (0.85, 0.1, 0.1)


@dataclass(frozen=True)
class DropMasks:
    """EADM's attention and masks for a feature map ``(N, C, T, V)``; True = dropped.

    Attributes:
        attention: ``(N, C, T, V)`` SimAM attention (float32 or float64).
        joints: ``(N, V)`` joints dropped in every channel and frame (spatial mask).
        temporal: ``(N, C, T, V)`` elements (``temporal="element"``) or ``(N, T)``
            frames (``"frame"``) dropped by the temporal mask.
        dropped: ``(N, C, T, V)`` every element that the output zeroes: the union of
            both masks.
    """

    attention: torch.Tensor
    joints: torch.Tensor
    temporal: torch.Tensor
    dropped: torch.Tensor


def eadm_masks(
    x: torch.Tensor, threshold: float = 0.7, lam: float = 1e-4, temporal: TemporalMode = "element"
) -> DropMasks:
    """The masks :func:`aimclr.attention_drop` applies to ``x``, returned instead of applied.

    Same rule and precision: attention ``>= threshold`` drops (joints by the mean over
    ``(C, T)``; elements, or frames by the mean over ``(C, V)``). Where ``x`` is not
    zero, ``attention_drop(x, ...) == 0`` exactly where :attr:`DropMasks.dropped`.

    Args:
        x: feature map ``(N, C, T, V)`` with ``T·V >= 2``.
        threshold: attention value at or above which EADM drops.
        lam: SimAM's ``λ``.
        temporal: ``"element"`` (reference) or ``"frame"`` (paper wording).

    Returns:
        :class:`DropMasks`.

    Raises:
        AimCLRError: bad ``x`` or options (as :func:`aimclr.attention_drop`).
        NonFiniteInputError: ``x`` holds NaN or inf.

    Example:
        >>> x = torch.zeros(1, 1, 6, 3)             # (N, C, T, V)
        >>> x[0, 0, 1, 2] = 5.0                     # one element stands out
        >>> masks = eadm_masks(x)
        >>> masks.joints.tolist(), masks.dropped[0, 0].nonzero().tolist()  # (t, v) dropped
        ([[False, False, False]], [[1, 2]])
    """
    _check_map(x)
    check_probability(threshold, "threshold")
    check_positive(lam, "lam")
    if temporal not in ("element", "frame"):
        raise AimCLRError(f"temporal must be 'element' or 'frame', got {temporal!r}")
    check_finite({"x (N, C, T, V)": x})  # NaN attention would draw as an arbitrary mask
    with torch.no_grad():
        att = simam_attention(x.detach().float() if x.dtype in _HALF else x.detach(), lam)
        joints, elements, frames = _dropped(att, threshold)
        if temporal == "element":
            dropped_t = elements
            dropped = dropped_t | joints[:, None, None, :]
        else:
            dropped_t = frames
            dropped = (dropped_t[:, None, :, None] | joints[:, None, None, :]).expand_as(att)
    return DropMasks(att, joints, dropped_t, dropped.clone())


def plot_eadm(
    feature_map: torch.Tensor,
    sample: int = 0,
    threshold: float = 0.7,
    lam: float = 1e-4,
    temporal: TemporalMode = "element",
    pose: torch.Tensor | None = None,
    layout: str | SkeletonLayout | None = None,
    frame: int | None = None,
    azim: float = 0.0,
    elev: float = 0.0,
    up: Up = "y",
    title: str | None = None,
) -> Figure:
    """EADM on one sample of a feature map: attention, dropped elements, dropped joints.

    Panels (frames ``T`` left to right, joints ``V`` top to bottom):

    1. the attention ``sigmoid(1/e)`` averaged over channels, with the threshold
       marked on the colour bar;
    2. the fraction of channels in which each ``(t, v)`` is dropped (1 for a
       dropped joint or frame): the mean over ``C`` of :attr:`DropMasks.dropped`;
    3. with ``pose`` and ``layout``: the skeleton at ``frame`` with the joints dropped
       in every frame (the spatial mask) crossed out in red.

    Args:
        feature_map: ``(N, C, T, V)``, e.g. an encoder's final map ``(N·M, D, T', V)``.
        sample: the row ``n`` shown.
        threshold: EADM's threshold (AimCLR 0.7).
        lam: SimAM's ``λ``.
        temporal: ``"element"`` or ``"frame"``.
        pose: optional skeleton sample ``(3, T, V, M)`` (or ``(3, T, V)``) for panel 3;
            its ``T`` may differ from the feature map's.
        layout: the skeleton of ``pose`` (required with it).
        frame: frame of ``pose`` shown; None = the middle one.
        azim: camera azimuth in degrees (see :func:`~aimclr.viz.skeleton.project`).
        elev: camera elevation in degrees.
        up: vertical axis.
        title: figure title.

    Returns:
        The figure; its first two Axes hold the heatmaps as images whose arrays are
        ``(V, T)``.

    Raises:
        AimCLRError: bad feature map, ``sample`` out of range, ``pose`` without
            ``layout`` or with another ``V``, or matplotlib is missing.
    """
    _check_map(feature_map, "feature_map")
    n, _, t_len, v_len = feature_map.shape
    if not 0 <= sample < n:
        raise AimCLRError(f"sample must lie in [0, N = {n}) of feature_map, got {sample}")
    masks = eadm_masks(feature_map, threshold, lam, temporal)
    skeleton = None
    if pose is not None or layout is not None:
        if pose is None or layout is None:
            raise AimCLRError("pose and layout go together: give both or neither")
        layout = get_layout(layout)
        skeleton = _check_sample(pose, layout, "pose")
        if layout.num_joints != v_len:
            raise AimCLRError(
                f"feature_map {describe(feature_map)} has V = {v_len} joints but layout "
                f"{layout.name!r} has {layout.num_joints}"
            )
    attention = masks.attention[sample].mean(dim=0).T.cpu().double()  # (V, T)
    dropped = masks.dropped[sample].double().mean(dim=0).T.cpu()  # (V, T)
    panels = 3 if skeleton is not None else 2
    figure = canvas.new_figure(3.4 * panels, 3.6)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    low = float(torch.sigmoid(torch.tensor(0.5)))
    for ax, data, cmap, limits, label in (
        (axes[0], attention, "viridis", (low, 1.0), "attention, mean over C"),
        (axes[1], dropped, "Reds", (0.0, 1.0), "dropped, fraction of C"),
    ):
        image = ax.imshow(data.numpy(), cmap=cmap, vmin=limits[0], vmax=limits[1],
                          aspect="auto", interpolation="nearest", origin="upper")
        ax.set_xlabel(f"frame t (T = {t_len})", fontsize=8)
        ax.set_ylabel(f"joint v (V = {v_len})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_title(label, fontsize=9)
        bar = figure.colorbar(image, ax=ax, shrink=0.85)
        bar.ax.tick_params(labelsize=7)
        if cmap == "viridis":
            bar.ax.axhline(threshold, color="white", linewidth=1.5)
    if skeleton is not None and layout is not None:
        ax = axes[2]
        t = frame_indices(skeleton.shape[1], [skeleton.shape[1] // 2 if frame is None
                                              else frame])[0]
        screen = project(skeleton[:, t, :, 0], azim, elev, up)  # (2, V)
        draw_pose(ax, screen, layout)
        gone = masks.joints[sample].nonzero().flatten().tolist()
        if gone:
            ax.scatter(screen[0, gone].numpy(), screen[1, gone].numpy(), marker="x", s=70,
                       c=[_DROP_COLOR], linewidths=2.0, zorder=4)
        _style_axes(ax, _limits(screen))
        listed = ", ".join(map(str, gone)) if gone else "none"
        ax.set_title(f"joints dropped in every frame: {listed}", fontsize=9)
    rule = "elements" if temporal == "element" else "frames"
    figure.suptitle(title or f"EADM (threshold {threshold:g}, temporal mask on {rule}): "
                    f"{float(masks.dropped[sample].double().mean()):.0%} of the map dropped",
                    fontsize=10)
    return figure
