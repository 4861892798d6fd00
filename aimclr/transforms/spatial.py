"""Random coordinate transforms: shear, rotation, spatial flip and axis mask."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from aimclr._checks import check_int, check_probability
from aimclr.graph import SkeletonLayout, get_layout
from aimclr.transforms._base import check_channels, check_range, coin, param_device, uniform
from aimclr.transforms._plan import ChannelMap, JointMap, Step
from aimclr.transforms.base import Transform
from aimclr.transforms.functional import (
    check_joints,
    check_mirror,
    rotation_matrix,
    shear_matrix,
)

__all__ = [
    "AxisMask",
    "AxisMaskParams",
    "Rotate",
    "RotateParams",
    "Shear",
    "ShearParams",
    "SpatialFlip",
    "SpatialFlipParams",
]


@dataclass(frozen=True)
class ShearParams:
    """Drawn shear: ``matrix (N, 3, 3)`` float64, see :func:`~aimclr.transforms.shear`."""

    matrix: torch.Tensor


class Shear(Transform[ShearParams]):
    """Random shear ``[[1, a, b], [c, 1, d], [e, f, 1]]`` with factors ``U(-r, r)``.

    Always applied (the reference's normal and extreme views both shear).

    Args:
        amplitude: ``r``; the reference uses 0.5.

    Example:
        >>> x = torch.randn(8, 3, 50, 25, 2)
        >>> Shear()(x, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([8, 3, 50, 25, 2])
    """

    def __init__(self, amplitude: float = 0.5) -> None:
        self.amplitude = check_range((-amplitude, amplitude), "amplitude")[1]

    def check(self, x: torch.Tensor) -> None:
        """Shear needs ``C = 3``."""
        check_channels(x, 3, "Shear")

    def sample_params(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> ShearParams:
        """Six factors per sample, uniform in ``[-amplitude, amplitude)``."""
        r = self.amplitude
        return ShearParams(shear_matrix(uniform((x.shape[0], 6), -r, r, generator)))

    def steps(self, params: ShearParams) -> list[Step]:
        """A coordinate map."""
        return [ChannelMap(params.matrix)]


@dataclass(frozen=True)
class RotateParams:
    """Drawn rotation: ``angles (N, 3)`` radians about x, y, z and ``matrix (N, 3, 3)``."""

    angles: torch.Tensor
    matrix: torch.Tensor


class Rotate(Transform[RotateParams]):
    """Random rotation about x, then y, then z (see :func:`~aimclr.transforms.rotation_matrix`).

    Per sample, one main axis is drawn uniformly from {x, y, z}; its angle is drawn
    from ``main_range`` and the two other angles from ``other_range`` (degrees).
    The defaults are symmetric; the AimCLR reference draws one-sided angles,
    ``main_range=(0, 30)`` and ``other_range=(0, 1)`` (see
    :func:`~aimclr.transforms.extreme_view`).

    Args:
        main_range: ``(low, high)`` degrees for the main axis.
        other_range: ``(low, high)`` degrees for the other two axes.
    """

    def __init__(
        self,
        main_range: tuple[float, float] = (-30.0, 30.0),
        other_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        self.main_range = check_range(main_range, "main_range")
        self.other_range = check_range(other_range, "other_range")

    def check(self, x: torch.Tensor) -> None:
        """Rotation needs ``C = 3``."""
        check_channels(x, 3, "Rotate")

    def sample_params(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> RotateParams:
        """Main axis, then three uniform angles per sample."""
        n = x.shape[0]
        main = torch.randint(0, 3, (n,), generator=generator, device=param_device(generator))
        is_main = torch.nn.functional.one_hot(main, 3).bool()
        low = torch.where(is_main, self.main_range[0], self.other_range[0])
        high = torch.where(is_main, self.main_range[1], self.other_range[1])
        degrees = uniform((n, 3), low.double(), high.double(), generator)
        angles = degrees * (math.pi / 180.0)
        return RotateParams(angles, rotation_matrix(angles))

    def steps(self, params: RotateParams) -> list[Step]:
        """A coordinate map."""
        return [ChannelMap(params.matrix)]


@dataclass(frozen=True)
class SpatialFlipParams:
    """Drawn flips: ``flip (N,)`` bool; ``channels`` is ``C`` of the batch."""

    flip: torch.Tensor
    channels: int


class SpatialFlip(Transform[SpatialFlipParams]):
    """With probability ``p``, swap the left and right joints of ``layout``.

    Args:
        layout: skeleton (name or :class:`~aimclr.SkeletonLayout`); ``V`` must match.
        p: probability per sample; the reference uses 0.5.
        mirror: also negate this coordinate channel (e.g. 0 for x) in flipped
            samples; None (default, the reference) only re-indexes joints.
    """

    def __init__(
        self, layout: str | SkeletonLayout = "ntu-rgb+d", p: float = 0.5, mirror: int | None = None
    ) -> None:
        check_probability(p, "p")
        if mirror is not None:
            mirror = check_int(mirror, "mirror", 0, meaning="a coordinate channel, or None")
        self.layout = get_layout(layout)
        self.p = p
        self.mirror = mirror

    def check(self, x: torch.Tensor) -> None:
        """``V`` must equal the layout's joint count; ``mirror`` a valid channel."""
        check_joints(x, self.layout)
        check_mirror(self.mirror, x.shape[-4])

    def sample_params(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> SpatialFlipParams:
        """One coin per sample."""
        return SpatialFlipParams(coin(x.shape[0], self.p, generator), x.shape[1])

    def steps(self, params: SpatialFlipParams) -> list[Step]:
        """A joint re-index, plus a diagonal ``±1`` map when ``mirror`` is set."""
        flip = params.flip
        perm = torch.tensor(self.layout.flip_index(), device=flip.device)
        identity = torch.arange(self.layout.num_joints, device=flip.device)
        steps: list[Step] = [JointMap(torch.where(flip.unsqueeze(1), perm, identity))]
        if self.mirror is not None:
            signs = torch.ones(
                flip.shape[0], params.channels, dtype=torch.float64, device=flip.device
            )
            signs[:, self.mirror] = torch.where(flip, -1.0, 1.0).double()
            steps.append(ChannelMap(torch.diag_embed(signs), diagonal=True))
        return steps


@dataclass(frozen=True)
class AxisMaskParams:
    """Drawn masks: ``mask (N, C)`` bool, True = channel set to zero."""

    mask: torch.Tensor


class AxisMask(Transform[AxisMaskParams]):
    """With probability ``p``, set one uniformly chosen coordinate channel to zero.

    Works for any number of channels ``C``.

    Args:
        p: probability per sample; the reference uses 0.5.
    """

    def __init__(self, p: float = 0.5) -> None:
        check_probability(p, "p")
        self.p = p

    def sample_params(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> AxisMaskParams:
        """A coin and a channel per sample."""
        n, c = x.shape[:2]
        apply = coin(n, self.p, generator)
        axis = torch.randint(0, c, (n,), generator=generator, device=param_device(generator))
        mask = torch.nn.functional.one_hot(axis, c).bool() & apply.unsqueeze(1)
        return AxisMaskParams(mask)

    def steps(self, params: AxisMaskParams) -> list[Step]:
        """A diagonal 0/1 coordinate map."""
        keep = (~params.mask).double()
        return [ChannelMap(torch.diag_embed(keep), diagonal=True)]
