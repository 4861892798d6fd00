"""The AimCLR views: normal (crop, shear) and extreme (all eight augmentations).

The presets reproduce the reference implementation's parameters: un-normalised blur,
one-sided rotation angles and joint-swap-only flips (see DESIGN.md). Each preset is a
fused :class:`~aimclr.transforms.Compose`, so a batch is augmented in a few passes.
"""

from __future__ import annotations

from typing import Any

import torch

from aimclr._checks import check_generator
from aimclr.errors import AimCLRError
from aimclr.graph import SkeletonLayout
from aimclr.transforms._base import as_batch, check_skeleton
from aimclr.transforms._plan import execute_many
from aimclr.transforms.base import Transform
from aimclr.transforms.compose import Compose
from aimclr.transforms.noise import GaussianBlur, GaussianNoise
from aimclr.transforms.spatial import AxisMask, Rotate, Shear, SpatialFlip
from aimclr.transforms.temporal import TemporalCrop, TemporalFlip

__all__ = ["EXTREME_CODES", "AimCLRViews", "extreme_view", "normal_view"]

EXTREME_CODES = {
    "1": "SpatialFlip",
    "2": "Rotate",
    "3": "GaussianNoise",
    "4": "GaussianBlur",
    "5": "AxisMask",
    "6": "TemporalFlip",
}
"""The reference's ``aug_method`` digits, applied in this order after crop and shear."""


def normal_view(shear_amplitude: float = 0.5, padding_ratio: int = 6) -> Compose:
    """The normal augmentation of SkeletonCLR/AimCLR: crop, then shear.

    Args:
        shear_amplitude: shear factors are drawn from ``U(-a, a)``.
        padding_ratio: crop pad is ``T // padding_ratio`` frames.

    Returns:
        ``Compose([TemporalCrop(padding_ratio), Shear(shear_amplitude)])``.

    Example:
        >>> view = normal_view()
        >>> view(torch.randn(3, 50, 25, 2)).shape
        torch.Size([3, 50, 25, 2])
    """
    return Compose([TemporalCrop(ratio=padding_ratio), Shear(shear_amplitude)])


def extreme_view(
    codes: str | None = None,
    layout: str | SkeletonLayout = "ntu-rgb+d",
    shear_amplitude: float = 0.5,
    padding_ratio: int = 6,
) -> Compose:
    """The extreme augmentation of AimCLR with the reference parameters.

    With ``codes=None`` (the paper and the first code release) all eight run in the
    order crop, shear, spatial flip, rotate, temporal flip, noise, blur, axis mask.
    A codes string selects the current reference's subset instead: crop and shear,
    then the selected ones of ``1`` spatial flip, ``2`` rotate, ``3`` noise, ``4``
    blur, ``5`` axis mask, ``6`` temporal flip in that order; ``"12345"`` is the
    reference default (no temporal flip), and ``""`` keeps crop and shear alone
    (the normal view's transforms).

    Parameters: flip p 0.5 (joints only); rotation main axis uniform in {x, y, z},
    ``U(0°, 30°)`` about it and ``U(0°, 1°)`` about the others, always applied;
    time flip p 0.5; noise std 0.01, p 0.5; blur kernel 15, σ ~ U(0.1, 2),
    un-normalised, p 0.5; axis mask p 0.5.

    Args:
        codes: None for all eight, or digits from ``"123456"`` (each at most once;
            possibly none).
        layout: skeleton for the spatial flip.
        shear_amplitude: shear factors are drawn from ``U(-a, a)``.
        padding_ratio: crop pad is ``T // padding_ratio`` frames.

    Returns:
        A fused :class:`Compose`.

    Raises:
        AimCLRError: ``codes`` holds another character or a repeated digit.

    Example:
        >>> [type(t).__name__ for t in extreme_view("25").transforms]
        ['TemporalCrop', 'Shear', 'Rotate', 'AxisMask']
    """
    parts: dict[str, Transform[Any]] = {
        "1": SpatialFlip(layout, p=0.5),
        "2": Rotate(main_range=(0.0, 30.0), other_range=(0.0, 1.0)),
        "3": GaussianNoise(std=0.01, p=0.5),
        "4": GaussianBlur(sigma=(0.1, 2.0), kernel_size=15, p=0.5, normalize=False),
        "5": AxisMask(p=0.5),
        "6": TemporalFlip(p=0.5),
    }
    if codes is None:
        order = "126345"
    else:
        if not isinstance(codes, str) or any(ch not in EXTREME_CODES for ch in codes) or len(
            set(codes)
        ) != len(codes):
            raise AimCLRError(
                f"codes must be None or distinct digits from '123456' "
                f"({', '.join(f'{k}={v}' for k, v in EXTREME_CODES.items())}), got {codes!r}"
            )
        order = "".join(ch for ch in "123456" if ch in codes)
    head: list[Transform[Any]] = [TemporalCrop(ratio=padding_ratio), Shear(shear_amplitude)]
    return Compose(head + [parts[ch] for ch in order])


class AimCLRViews:
    """The three views of AimCLR pre-training: ``(extreme, normal, normal)``.

    The reference feeds them to the model as ``(im_q_extreme, im_q, im_k)``. The
    two normal views are independent draws.

    Args:
        codes: extreme set, see :func:`extreme_view` (None = all eight).
        layout: skeleton for the spatial flip.
        fuse: run each view as one fused plan, the three together (same values
            as unfused, up to float rounding).

    Example:
        >>> views = AimCLRViews(codes="12345")
        >>> g = torch.Generator().manual_seed(0)
        >>> extreme, query, key = views(torch.randn(4, 3, 50, 25, 2), generator=g)
        >>> extreme.shape == query.shape == key.shape
        True
    """

    def __init__(
        self, codes: str | None = None, layout: str | SkeletonLayout = "ntu-rgb+d",
        fuse: bool = True,
    ) -> None:
        self.extreme = extreme_view(codes, layout)
        self.normal = normal_view()
        self.extreme.fuse = self.normal.fuse = fuse

    def __call__(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(extreme, normal_1, normal_2)`` views of ``x``.

        Args:
            x: ``(N, C, T, V, M)`` or ``(C, T, V, M)``.
            generator: source of randomness, drawn in the order extreme, normal, normal.

        Returns:
            Three tensors with the shape, device and dtype of ``x``: slices of one
            ``(3, *x.shape)`` allocation (they share a storage, which e.g.
            ``torch.save`` of a single view writes whole). Augmentation is not
            differentiable: the views carry no autograd history.
        """
        x = check_skeleton(x)
        self.extreme.check(x)
        check_generator(generator)
        xb, single = as_batch(x)
        views = (self.extreme, self.normal, self.normal)
        # One allocation for the three views: fewer, larger buffers keep the allocator
        # from handing pages back to the OS and faulting them in again on every call.
        out = torch.empty((3, *xb.shape), dtype=x.dtype, device=x.device)
        # Parameters and plans stay internal: inference mode makes their many small
        # ops cheaper (only ``out`` must be a normal tensor).
        with torch.inference_mode():
            params = [view.sample_params(xb, generator=generator) for view in views]
            plans = [view._fused_plan(p) for view, p in zip(views, params, strict=True)]
            fused = [plan for plan in plans if plan is not None]
            if len(fused) == len(views):
                execute_many(xb, fused, out)  # one coordinate-map product for all three
            else:
                for view, p, target in zip(views, params, out, strict=True):
                    view.apply(xb, p, out=target)
        extreme, normal_1, normal_2 = out[:, 0] if single else out
        return extreme, normal_1, normal_2

    def __repr__(self) -> str:
        return f"AimCLRViews(extreme={self.extreme!r}, normal={self.normal!r})"
