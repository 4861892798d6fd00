"""The interface every random skeleton transform implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

import torch

from aimclr._checks import check_generator
from aimclr.graph import SkeletonLayout
from aimclr.transforms._base import as_batch, check_skeleton
from aimclr.transforms._plan import Step, build_plan, execute

__all__ = ["Transform"]

P = TypeVar("P")


class Transform(ABC, Generic[P]):
    """A random transform of skeleton sequences with independent draws per sample.

    Calling ``t(x, generator=g)`` validates ``x``, draws the parameters of every
    sample (:meth:`sample_params`) and applies them (:meth:`apply`). ``x`` is a batch
    ``(N, C, T, V, M)`` or one sample ``(C, T, V, M)``; the output has its shape,
    device and dtype. Parameters are drawn on the generator's device (the CPU
    without one) and moved to ``x``; pass a seeded :class:`torch.Generator` to
    make the views reproducible. Large noise tensors are drawn on the generator's
    device, or on ``x.device`` when no generator is given.

    Subclasses implement :meth:`sample_params` and :meth:`steps` (how the drawn
    parameters act, which lets :class:`~aimclr.transforms.Compose` fuse a chain
    into few passes) and may override :meth:`check`.
    """

    def __call__(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Apply the transform with fresh random parameters.

        Args:
            x: ``(N, C, T, V, M)`` or ``(C, T, V, M)`` floating tensor.
            generator: source of randomness; None uses the global CPU generator.

        Returns:
            The transformed tensor, same shape, device and dtype as ``x``, without
            autograd history (augmentation is not differentiable; the functional
            forms in :mod:`aimclr.transforms` are).

        Raises:
            AimCLRError: ``x`` has a bad layout or dtype for this transform, or
                ``generator`` is not a :class:`torch.Generator`.
        """
        x = check_skeleton(x)
        self.check(x)
        check_generator(generator)
        if x.numel() == 0:  # nothing to draw for: an empty batch stays empty
            return x.detach().clone()
        xb, single = as_batch(x)
        out = self.apply(xb, self.sample_params(xb, generator=generator))
        return out[0] if single else out

    def check(self, x: torch.Tensor) -> None:
        """Raise :class:`~aimclr.AimCLRError` if this transform cannot handle ``x``.

        Called with a validated ``(N, C, T, V, M)`` or ``(C, T, V, M)`` tensor before
        anything is drawn; the message shows the shape as the caller passed it.
        """

    @abstractmethod
    def sample_params(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> P:
        """Draw the parameters of every sample of the batch ``x (N, C, T, V, M)``."""

    @abstractmethod
    def steps(self, params: P) -> list[Step]:
        """The effect of ``params`` as plan steps (see :mod:`aimclr.transforms._plan`)."""

    def apply(self, x: torch.Tensor, params: P, out: torch.Tensor | None = None) -> torch.Tensor:
        """Apply drawn ``params`` to the batch ``x (N, C, T, V, M)``.

        Args:
            x: the batch; never modified.
            params: from :meth:`sample_params`.
            out: optional contiguous tensor like ``x`` that receives the result.

        Returns:
            ``out``, or a new tensor.
        """
        return execute(x, build_plan(self.steps(params)), out)

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={v.name!r}" if isinstance(v, SkeletonLayout) else f"{k}={v!r}"
            for k, v in vars(self).items()
            if not k.startswith("_")
        )
        return f"{type(self).__name__}({fields})"
