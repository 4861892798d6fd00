"""Chaining transforms (fused into few passes) and applying one at random."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from aimclr._checks import check_probability
from aimclr.errors import AimCLRError
from aimclr.transforms._base import coin
from aimclr.transforms._plan import NotFusable, Plan, Step, build_plan, execute, mask_steps
from aimclr.transforms.base import Transform

__all__ = ["Compose", "RandomApply", "RandomApplyParams"]


class Compose(Transform[list[Any]]):
    """Apply transforms in order, each with its own per-sample draws.

    All parameters are drawn first, in order, then applied. With ``fuse=True`` the
    whole chain runs as one plan (one gather for crops and flips, one ``3 × 3``
    matrix per sample for shear, rotation, mirror and axis mask, then noise and
    blur on the samples that get them); the result equals applying the transforms
    one by one with the same parameters (up to float rounding), and so also for the
    same generator seed. Chains that cannot be fused (a crop after a blur, two
    blurs, noise after noise or blur) silently run one by one.

    Args:
        transforms: the transforms, applied first to last.
        fuse: fold the chain into one plan when possible.

    Example:
        >>> from aimclr.transforms import Shear, TemporalCrop
        >>> view = Compose([TemporalCrop(), Shear()])
        >>> g = torch.Generator().manual_seed(0)
        >>> view(torch.randn(4, 3, 50, 25, 2), generator=g).shape
        torch.Size([4, 3, 50, 25, 2])
    """

    def __init__(self, transforms: Sequence[Transform[Any]], fuse: bool = True) -> None:
        if isinstance(transforms, Transform) or not isinstance(transforms, Sequence):
            raise AimCLRError(
                "Compose takes a sequence (list or tuple) of aimclr.transforms.Transform "
                f"objects, got {type(transforms).__name__}"
            )
        transforms = list(transforms)
        for t in transforms:
            if not isinstance(t, Transform):
                raise AimCLRError(
                    f"Compose takes aimclr.transforms.Transform objects, got {type(t).__name__}"
                )
        self.transforms = transforms
        self.fuse = fuse

    def check(self, x: torch.Tensor) -> None:
        """Every transform must accept ``x`` (shapes are kept, so checking once is enough)."""
        for t in self.transforms:
            t.check(x)

    def sample_params(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> list[Any]:
        """The parameters of each transform, drawn in order."""
        return [t.sample_params(x, generator=generator) for t in self.transforms]

    def steps(self, params: list[Any]) -> list[Step]:
        """The steps of all transforms, concatenated."""
        return [s for t, p in zip(self.transforms, params, strict=True) for s in t.steps(p)]

    def apply(
        self, x: torch.Tensor, params: list[Any], out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """:meth:`Transform.apply`, fused into one plan when the steps allow it."""
        plan = self._fused_plan(params)
        if plan is not None:
            return execute(x, plan, out)
        y = x
        for t, p in zip(self.transforms, params, strict=True):
            y = t.apply(y, p)
        if out is not None:
            return out.copy_(y)
        return y if y is not x else y.clone()

    def _fused_plan(self, params: list[Any]) -> Plan | None:
        """The chain as one plan; None when fusing is off or the steps do not fold."""
        if not self.fuse:
            return None
        try:
            return build_plan(self.steps(params))
        except NotFusable:
            return None

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n], fuse={self.fuse})"


@dataclass(frozen=True)
class RandomApplyParams:
    """Drawn coins ``mask (N,)`` bool and the inner transform's parameters (all samples)."""

    mask: torch.Tensor
    inner: Any


class RandomApply(Transform[RandomApplyParams]):
    """Apply ``transform`` to each sample with probability ``p``; others pass unchanged.

    Args:
        transform: the transform to apply.
        p: probability per sample.

    Example:
        >>> from aimclr.transforms import Shear
        >>> t = RandomApply(Shear(), p=0.0)
        >>> x = torch.randn(2, 3, 5, 4, 1)
        >>> bool((t(x) == x).all())
        True
    """

    def __init__(self, transform: Transform[Any], p: float = 0.5) -> None:
        if not isinstance(transform, Transform):
            raise AimCLRError(
                f"RandomApply takes an aimclr.transforms.Transform, got {type(transform).__name__}"
            )
        check_probability(p, "p")
        self.transform = transform
        self.p = p

    def check(self, x: torch.Tensor) -> None:
        """The inner transform must accept ``x``."""
        self.transform.check(x)

    def sample_params(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> RandomApplyParams:
        """A coin per sample, then the inner parameters for all samples."""
        mask = coin(x.shape[0], self.p, generator)
        return RandomApplyParams(mask, self.transform.sample_params(x, generator=generator))

    def steps(self, params: RandomApplyParams) -> list[Step]:
        """The inner steps, made the identity for samples whose coin is False."""
        return mask_steps(self.transform.steps(params.inner), params.mask)

    def apply(
        self, x: torch.Tensor, params: RandomApplyParams, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """:meth:`Transform.apply`: the inner transform where the coin says so."""
        try:
            return execute(x, build_plan(self.steps(params)), out)
        except NotFusable:
            inner = self.transform.apply(x, params.inner)
            keep = params.mask.to(x.device).view(-1, 1, 1, 1, 1)
            return torch.where(keep, inner, x, out=out)
