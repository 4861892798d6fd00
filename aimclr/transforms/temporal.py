"""Random frame re-indexing: the reference crop (mirror-pad and shift) and time flip."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from aimclr._checks import check_int, check_probability
from aimclr.transforms._base import coin, param_device
from aimclr.transforms._plan import Step, TimeMap
from aimclr.transforms.base import Transform
from aimclr.transforms.functional import _crop_index, check_pad

__all__ = ["TemporalCrop", "TemporalCropParams", "TemporalFlip", "TemporalFlipParams"]


@lru_cache(maxsize=32)
def _crop_table(pad: int, num_frames: int, device: torch.device) -> torch.Tensor:
    """:func:`crop_index` of every start ``0 … 2·pad``: ``(2·pad + 1, T)``, one row each."""
    return _crop_index(torch.arange(2 * pad + 1, device=device), pad, num_frames)


@dataclass(frozen=True)
class TemporalCropParams:
    """Drawn crops: ``start (N,)`` int64 in ``[0, 2 * pad]``, ``pad`` and ``num_frames`` T."""

    start: torch.Tensor
    pad: int
    num_frames: int


class TemporalCrop(Transform[TemporalCropParams]):
    """Mirror-pad ``pad`` frames at each end and keep ``T`` frames from a random start.

    ``pad = T // ratio`` (or ``padding`` when given) and ``start`` is uniform over
    ``{0, …, 2·pad}``; see :func:`~aimclr.transforms.temporal_crop`. This is the
    reference "crop" (a random temporal shift, no resizing), always applied.

    Args:
        ratio: padding ratio ``γ``; the reference uses 6 (pad 8 for T = 50).
        padding: fixed pad in frames instead of ``T // ratio``.

    Example:
        >>> x = torch.randn(4, 3, 50, 25, 2)
        >>> TemporalCrop()(x).shape
        torch.Size([4, 3, 50, 25, 2])
    """

    def __init__(self, ratio: int = 6, padding: int | None = None) -> None:
        self.ratio = check_int(ratio, "ratio")
        self.padding = None if padding is None else check_int(padding, "padding", 0)

    def pad_for(self, num_frames: int) -> int:
        """The pad used for sequences of ``num_frames`` frames."""
        return self.padding if self.padding is not None else num_frames // self.ratio

    def check(self, x: torch.Tensor) -> None:
        """Mirroring ``pad`` frames needs ``T >= pad``."""
        check_pad(self.pad_for(x.shape[-3]), x.shape[-3], x)

    def sample_params(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> TemporalCropParams:
        """One start offset per sample."""
        t = x.shape[2]
        pad = self.pad_for(t)
        start = torch.randint(
            0, 2 * pad + 1, (x.shape[0],), generator=generator, device=param_device(generator)
        )
        return TemporalCropParams(start, pad, t)

    def steps(self, params: TemporalCropParams) -> list[Step]:
        """A frame re-index."""
        table = _crop_table(params.pad, params.num_frames, params.start.device)
        index = table[params.start]
        return [TimeMap(index, symmetric=params.pad == 0)]


@dataclass(frozen=True)
class TemporalFlipParams:
    """Drawn flips: ``flip (N,)`` bool and ``num_frames`` T."""

    flip: torch.Tensor
    num_frames: int


class TemporalFlip(Transform[TemporalFlipParams]):
    """With probability ``p``, reverse the order of the frames.

    Args:
        p: probability per sample; the reference uses 0.5.
    """

    def __init__(self, p: float = 0.5) -> None:
        check_probability(p, "p")
        self.p = p

    def sample_params(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> TemporalFlipParams:
        """One coin per sample."""
        return TemporalFlipParams(coin(x.shape[0], self.p, generator), x.shape[2])

    def steps(self, params: TemporalFlipParams) -> list[Step]:
        """A frame re-index that is the identity or a reversal."""
        t = params.num_frames
        forward = torch.arange(t, device=params.flip.device)
        index = torch.where(params.flip.unsqueeze(1), forward.flip(0), forward)
        return [TimeMap(index, symmetric=True)]
