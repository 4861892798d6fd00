"""EADM: the energy-based attention-guided drop module of AimCLR.

EADM scores every element of a feature map ``(N, C, T, V)`` with SimAM's inverse
energy (Yang et al., ICML 2021), then zeroes the most salient joints (spatial mask) and
the most salient elements or frames (temporal mask) and rescales what is kept, so that
the query encoder also has to match the key from less obvious evidence.

Masks are deterministic (a threshold on the attention, no sampling) and constant for
autograd: gradients reach only the kept elements, scaled by the same factors.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from aimclr._checks import (
    check_floating,
    check_positive,
    check_probability,
    check_rank,
    check_tensor,
    describe,
)
from aimclr.errors import AimCLRError

__all__ = ["EADM", "attention_drop", "simam_attention"]

TemporalMode = Literal["element", "frame"]
RescaleMode = Literal["batch", "sample"]

_LAYOUT = "(N, C, T, V)"


def _check_map(x: torch.Tensor) -> None:
    check_tensor(x, "x")
    check_rank(x, "x", (_LAYOUT,))
    check_floating(x, "x")
    if x.shape[2] * x.shape[3] < 2:
        raise AimCLRError(
            f"x must have layout {_LAYOUT} with T·V >= 2 (the variance over (T, V) divides "
            f"by T·V - 1), got {describe(x)}"
        )


def _check_options(threshold: float, lam: float, temporal: str, rescale: str) -> None:
    check_probability(threshold, "threshold")
    check_positive(lam, "lam")
    if temporal not in ("element", "frame"):
        raise AimCLRError(f"temporal must be 'element' or 'frame', got {temporal!r}")
    if rescale not in ("batch", "sample"):
        raise AimCLRError(f"rescale must be 'batch' or 'sample', got {rescale!r}")


def simam_attention(x: torch.Tensor, lam: float = 1e-4) -> torch.Tensor:
    r"""SimAM attention: sigmoid of the inverse minimal energy of each element (Eq. 3).

    Per sample and channel, with $\mu$ the mean over $(T, V)$, $d = (x - \mu)^2$ and
    $\sigma^2 = \sum_{T,V} d \,/\, (TV - 1)$:

    $$
    \mathrm{att} = \operatorname{sigmoid}\left(\frac{d}{4(\sigma^2 + \lambda)} + \frac{1}{2}\right).
    $$

    Values lie in $[\operatorname{sigmoid}(0.5), 1) \approx [0.6225, 1)$; atypical
    elements score high.

    Args:
        x: feature map ``(N, C, T, V)`` with ``T·V >= 2``.
        lam: the energy regulariser ``λ > 0``.

    Returns:
        ``(N, C, T, V)`` attention, same dtype as ``x`` (computed in at least float32).

    Raises:
        AimCLRError: bad rank, dtype or ``T·V < 2``, or ``lam <= 0``.

    Example:
        >>> x = torch.zeros(1, 1, 2, 2)
        >>> x[0, 0, 0, 0] = 1.0
        >>> simam_attention(x)[0, 0].round(decimals=4)
        tensor([[0.7431, 0.6370],
                [0.6370, 0.6370]])
    """
    _check_map(x)
    check_positive(lam, "lam")
    return _simam(x, lam).to(x.dtype)


def _simam(x: torch.Tensor, lam: float) -> torch.Tensor:
    """SimAM attention in float32 or float64 (half precision overflows the sums)."""
    xs = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    count = x.shape[2] * x.shape[3] - 1
    d = (xs - xs.mean(dim=(2, 3), keepdim=True)).square_()
    # In place on the fresh buffer: the same values as out-of-place, fewer allocations.
    return d.div_(4 * (d.sum(dim=(2, 3), keepdim=True) / count + lam)).add_(0.5).sigmoid_()


def _keep_scale(keep: torch.Tensor, rescale: RescaleMode) -> torch.Tensor:
    """``keep`` (N, ...) 0/1 times numel / count of ones, globally or per sample.

    Where nothing is kept the factor is irrelevant (every element is zero); clamping the
    count at 1 avoids the division by zero.
    """
    return keep * _keep_factor(keep, rescale)


def _keep_factor(keep: torch.Tensor, rescale: RescaleMode) -> torch.Tensor:
    """numel / count of ones of ``keep``: a scalar or ``(N, 1, ...)`` per sample."""
    if rescale == "batch":
        return keep.numel() / keep.sum().clamp_min(1)
    dims = tuple(range(1, keep.dim()))
    return keep[0].numel() / keep.sum(dim=dims, keepdim=True).clamp_min(1)


def attention_drop(
    x: torch.Tensor,
    threshold: float = 0.7,
    lam: float = 1e-4,
    temporal: TemporalMode = "element",
    rescale: RescaleMode = "batch",
) -> torch.Tensor:
    """Drop the most salient joints and elements/frames of a feature map (EADM).

    1. ``att = simam_attention(x, lam)``, computed once from the un-dropped ``x``.
    2. Spatial: ``a_s = mean of att over (C, T)`` ``(N, V)``; joints with
       ``a_s >= threshold`` are zeroed in every channel and frame.
    3. Temporal: with ``temporal="element"`` (the reference code) each element with
       ``att >= threshold`` is zeroed; with ``temporal="frame"`` (the paper's wording)
       ``a_t = mean of att over (C, V)`` ``(N, T)`` and whole frames are zeroed.
    4. After each mask the kept values are multiplied by ``count / kept``: over the
       whole batch (``rescale="batch"``, the reference) or per sample (``"sample"``).

    If a mask drops everything (in the batch, or in a sample with ``"sample"``), the
    affected output is all zeros; there is no division by zero and no NaN.

    Args:
        x: feature map ``(N, C, T, V)``, e.g. the encoder's final map ``(N·M, D, T', V)``.
        threshold: attention value at or above which an element is dropped; attention
            lies in ``[0.6225, 1)``, so values below 0.6225 drop everything.
        lam: SimAM's ``λ``.
        temporal: ``"element"`` or ``"frame"``, see step 3.
        rescale: ``"batch"`` or ``"sample"``, see step 4.

    Returns:
        ``(N, C, T, V)``, ``x`` times a mask that is constant for autograd.

    Raises:
        AimCLRError: bad ``x`` (see :func:`simam_attention`) or an unknown mode.

    Example:
        >>> x = torch.rand(2, 8, 6, 5)
        >>> attention_drop(x).shape
        torch.Size([2, 8, 6, 5])
        >>> attention_drop(x, threshold=0.5).abs().max()  # everything dropped
        tensor(0.)
    """
    _check_map(x)
    _check_options(threshold, lam, temporal, rescale)
    with torch.no_grad():
        # Masks and factors in the attention's dtype (>= float32): counts up to numel.
        att = _simam(x.detach(), lam)
        spatial = (att.mean(dim=(1, 2)) < threshold).to(att.dtype)  # (N, V)
        spatial = _keep_scale(spatial, rescale)[:, None, None, :]
        if temporal == "element":
            kept = (att < threshold).to(att.dtype)  # (N, C, T, V)
            # Fold both factors into the small spatial term: one full-size product.
            multiplier = kept * (spatial * _keep_factor(kept, rescale))
        else:
            kept = (att.mean(dim=(1, 3)) < threshold).to(att.dtype)  # (N, T)
            multiplier = spatial * _keep_scale(kept, rescale)[:, None, :, None]
        multiplier = multiplier.to(x.dtype)
    return x * multiplier


class EADM(nn.Module):
    """Energy-based attention-guided drop module, see :func:`attention_drop`.

    In training mode it drops; in eval mode it is the identity unless
    ``active_in_eval=True`` or the call passes ``force=True`` (AimCLR applies it to the
    extreme view's feature map only, and the reference also does so in eval mode).

    Args:
        threshold: attention threshold (AimCLR: 0.7).
        lam: SimAM's ``λ`` (AimCLR: 1e-4).
        temporal: ``"element"`` (reference) or ``"frame"`` (paper wording).
        rescale: ``"batch"`` (reference) or ``"sample"``.
        active_in_eval: also drop in eval mode.

    Raises:
        AimCLRError: an argument is out of range or an unknown mode.

    Example:
        >>> eadm = EADM()
        >>> x = torch.rand(4, 16, 13, 25)  # (N, C, T, V)
        >>> torch.equal(eadm.eval()(x), x)
        True
        >>> torch.equal(eadm(x, force=True), x)
        False
    """

    def __init__(
        self,
        threshold: float = 0.7,
        lam: float = 1e-4,
        temporal: TemporalMode = "element",
        rescale: RescaleMode = "batch",
        active_in_eval: bool = False,
    ) -> None:
        super().__init__()
        _check_options(threshold, lam, temporal, rescale)
        self.threshold = threshold
        self.lam = lam
        self.temporal: TemporalMode = temporal
        self.rescale: RescaleMode = rescale
        self.active_in_eval = active_in_eval

    def forward(self, x: torch.Tensor, force: bool = False) -> torch.Tensor:
        """Drop salient parts of ``x`` ``(N, C, T, V)``; same shape out.

        Args:
            x: feature map ``(N, C, T, V)``.
            force: drop even in eval mode.

        Raises:
            AimCLRError: bad ``x`` (checked in every mode).
        """
        if not (self.training or self.active_in_eval or force):
            _check_map(x)
            return x
        return attention_drop(x, self.threshold, self.lam, self.temporal, self.rescale)

    def extra_repr(self) -> str:
        return (
            f"threshold={self.threshold}, lam={self.lam}, temporal={self.temporal!r}, "
            f"rescale={self.rescale!r}, active_in_eval={self.active_in_eval}"
        )
