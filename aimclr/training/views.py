"""The augmented views of a pre-training step, made from a batch on its device."""

from __future__ import annotations

from typing import Protocol

import torch

from aimclr.errors import AimCLRError
from aimclr.graph import SkeletonLayout
from aimclr.streams import STREAMS, to_stream
from aimclr.transforms import AimCLRViews, normal_view

__all__ = ["PretrainViews", "ViewMaker"]


class ViewMaker(Protocol):
    """What :func:`~aimclr.training.loop.pretrain_epoch` calls to augment a batch.

    Any callable ``views(x, generator=g)`` that maps a batch ``(N, C, T, V, M)`` to
    the three inputs of :class:`~aimclr.model.AimCLR`: ``(x_extreme, x_query,
    x_key)``, each ``(N, C, T, V, M)`` or ``None`` where the model does not use it.
    :class:`~aimclr.transforms.AimCLRViews` and :class:`PretrainViews` are view
    makers.
    """

    def __call__(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]: ...


class PretrainViews:
    """The views a configuration of :class:`~aimclr.model.AimCLR` trains on, as a stream.

    With ``extreme=True`` the extreme view and both normal views come from one fused
    :class:`~aimclr.transforms.AimCLRViews` call; with ``extreme=False`` (SkeletonCLR)
    only the two normal views are drawn and ``x_extreme`` is ``None``. The stream
    (:func:`~aimclr.streams.to_stream`) is computed after augmentation, as the
    reference computes bone and motion from the augmented joints.

    Args:
        extreme: draw the extreme view; pass the model's ``extreme_views``.
        codes: the extreme set (see :func:`~aimclr.transforms.extreme_view`);
            ``None`` = the paper's eight.
        stream: ``"joint"``, ``"bone"`` or ``"motion"``.
        layout: the skeleton of the batches (spatial flip, bone pairs).

    Raises:
        AimCLRError: an unknown stream or extreme code.

    Example:
        >>> views = PretrainViews(codes="12345", stream="bone")
        >>> g = torch.Generator().manual_seed(0)
        >>> x_extreme, x_query, x_key = views(torch.randn(4, 3, 16, 25, 1), generator=g)
        >>> tuple(x_extreme.shape), x_query.shape == x_key.shape
        ((4, 3, 16, 25, 1), True)
    """

    def __init__(
        self,
        extreme: bool = True,
        codes: str | None = "12345",
        stream: str = "joint",
        layout: str | SkeletonLayout = "ntu-rgb+d",
    ) -> None:
        if stream not in STREAMS:
            raise AimCLRError(f"unknown stream {stream!r}; expected one of {STREAMS}")
        self.normal = normal_view()
        self.all_three = AimCLRViews(codes, layout) if extreme else None
        self.stream = stream
        self.layout = layout

    def __call__(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Return ``(x_extreme, x_query, x_key)`` of the batch ``x`` ``(N, C, T, V, M)``.

        The random draws come from ``generator`` in the order extreme, query, key.
        """
        x_extreme: torch.Tensor | None = None
        if self.all_three is not None:
            x_extreme, x_query, x_key = self.all_three(x, generator=generator)
        else:
            x_query = self.normal(x, generator=generator)
            x_key = self.normal(x, generator=generator)
        if x_extreme is not None:
            x_extreme = to_stream(x_extreme, self.stream, self.layout)
        return (x_extreme, to_stream(x_query, self.stream, self.layout),
                to_stream(x_key, self.stream, self.layout))  # fmt: skip
