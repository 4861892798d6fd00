"""EADM: the energy-based attention-guided drop module of AimCLR.

EADM scores every element of a feature map ``(N, C, T, V)`` with SimAM's inverse
energy, then zeroes the most salient joints (spatial mask) and the most salient
elements or frames (temporal mask) and rescales what is kept, so that the query encoder
also has to match the key from less obvious evidence.

Masks are deterministic (a threshold on the attention, no sampling) and constant for
autograd: gradients reach only the kept elements, scaled by the same factors.

Papers: AimCLR, Guo et al., AAAI 2022,
[arXiv:2112.03590](https://arxiv.org/abs/2112.03590) (Eq. 3, Algorithm 1); SimAM,
Yang et al., "SimAM: A Simple, Parameter-Free Attention Module for Convolutional
Neural Networks", ICML 2021,
[PMLR 139:11863-11874](https://proceedings.mlr.press/v139/yang21o.html).
"""

from __future__ import annotations

import math
import warnings
from typing import Literal, TypeVar

import torch
from torch import nn

from aimclr._checks import (
    check_bool,
    check_floating,
    check_positive,
    check_probability,
    check_rank,
    check_tensor,
    describe,
)
from aimclr.errors import AimCLRError

__all__ = [
    "ATTENTION_MIN",
    "CLIFF_THRESHOLD",
    "EADM",
    "attach_eadm",
    "attention_drop",
    "drop_fractions",
    "simam_attention",
]

ATTENTION_MIN = 1.0 / (1.0 + math.exp(-0.5))
"""``sigmoid(1/2) ≈ 0.6225``, the smallest SimAM attention: a threshold at or below it
drops every element of every map, so EADM refuses it."""

CLIFF_THRESHOLD = 0.66
"""Thresholds below this drop most or all joints of a typical deep feature map (the
measured table is in the EADM guide); EADM warns for them."""

ModuleT = TypeVar("ModuleT", bound=nn.Module)

TemporalMode = Literal["element", "frame"]
RescaleMode = Literal["batch", "sample"]

_LAYOUT = "(N, C, T, V)"


def _check_map(x: object, name: str = "x") -> torch.Tensor:
    """Raise unless ``x`` is a floating ``(N, C, T, V)`` tensor with ``T·V >= 2``."""
    tensor = check_tensor(x, name)
    check_rank(tensor, name, (_LAYOUT,))
    check_floating(tensor, name)
    if tensor.shape[2] * tensor.shape[3] < 2:
        raise AimCLRError(
            f"{name} must have layout {_LAYOUT} with T·V >= 2 (the variance over (T, V) "
            f"divides by T·V - 1), got {describe(tensor)}"
        )
    return tensor


def _check_options(threshold: float, lam: float, temporal: str, rescale: str) -> None:
    check_probability(threshold, "threshold")
    if threshold <= ATTENTION_MIN:
        raise AimCLRError(
            f"threshold must exceed {ATTENTION_MIN:.4f} = sigmoid(1/2), the smallest SimAM "
            f"attention, or every element is dropped; got {threshold!r} (AimCLR uses 0.7, "
            f"and below {CLIFF_THRESHOLD} a typical deep map loses most joints)"
        )
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

    The options are checked here; unlike :class:`EADM` this function does not warn
    for thresholds below :data:`CLIFF_THRESHOLD`.

    Args:
        x: feature map ``(N, C, T, V)``, e.g. the encoder's final map ``(N·M, D, T', V)``.
        threshold: attention value at or above which an element is dropped, in
            ``(0.6225, 1]``: attention lies in ``[0.6225, 1)``, so a threshold at or
            below :data:`ATTENTION_MIN` would drop everything and is refused. Below
            about 0.66 (:data:`CLIFF_THRESHOLD`) a typical deep map loses most or all of
            its joints; see :func:`drop_fractions` and the EADM guide's table.
        lam: SimAM's ``λ``.
        temporal: ``"element"`` or ``"frame"``, see step 3.
        rescale: ``"batch"`` or ``"sample"``, see step 4.

    Returns:
        ``(N, C, T, V)``, ``x`` times a mask that is constant for autograd.

    Raises:
        AimCLRError: bad ``x`` (see :func:`simam_attention`), a threshold outside
            ``(0.6225, 1]`` or an unknown mode.

    Example:
        >>> x = torch.rand(2, 8, 6, 5)
        >>> attention_drop(x).shape
        torch.Size([2, 8, 6, 5])
        >>> attention_drop(x, threshold=0.5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        aimclr.errors.AimCLRError: threshold must exceed 0.6225 = sigmoid(1/2), ...
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

    To put it into a third-party network without renaming the network's parameters,
    use :func:`attach_eadm`; to build that network's momentum copy without it, use
    ``copy_and_freeze(net, without=EADM)``.

    Args:
        threshold: attention threshold in ``(0.6225, 1]`` (AimCLR: 0.7); below
            :data:`CLIFF_THRESHOLD` (0.66) a :class:`UserWarning` says that a typical
            deep map loses most or all joints there.
        lam: SimAM's ``λ`` (AimCLR: 1e-4).
        temporal: ``"element"`` (reference) or ``"frame"`` (paper wording).
        rescale: ``"batch"`` (reference) or ``"sample"``.
        active_in_eval: also drop in eval mode.

    Raises:
        AimCLRError: an argument is out of range (a threshold at or below
            :data:`ATTENTION_MIN` drops everything) or an unknown mode.

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
        if threshold < CLIFF_THRESHOLD:
            warnings.warn(
                f"EADM threshold {threshold} is below {CLIFF_THRESHOLD}: on a typical deep "
                "feature map this drops most or all joints (the whole map at about 0.64); "
                "AimCLR uses 0.7. Measure your own map with aimclr.nn.eadm.drop_fractions",
                UserWarning,
                stacklevel=2,
            )
        self.threshold = threshold
        self.lam = lam
        self.temporal: TemporalMode = temporal
        self.rescale: RescaleMode = rescale
        self.active_in_eval = check_bool(active_in_eval, "active_in_eval")

    def forward(self, x: torch.Tensor, force: bool = False) -> torch.Tensor:
        """Drop salient parts of ``x`` ``(N, C, T, V)``; same shape out.

        Args:
            x: feature map ``(N, C, T, V)``.
            force: drop even in eval mode.

        Raises:
            AimCLRError: bad ``x`` (checked in every mode), or ``force`` not a bool.
        """
        check_bool(force, "force")
        if not (self.training or self.active_in_eval or force):
            _check_map(x)
            return x
        return attention_drop(x, self.threshold, self.lam, self.temporal, self.rescale)

    def extra_repr(self) -> str:
        """The options, for ``repr``."""
        return (
            f"threshold={self.threshold}, lam={self.lam}, temporal={self.temporal!r}, "
            f"rescale={self.rescale!r}, active_in_eval={self.active_in_eval}"
        )


@torch.no_grad()
def drop_fractions(x: torch.Tensor, threshold: float = 0.7, lam: float = 1e-4) -> dict[str, float]:
    """How much :func:`attention_drop` removes from ``x`` at ``threshold``: a diagnostic.

    Use it on your own network's feature maps to choose a threshold (the EADM guide
    has a table for ST-GCN's final map). Reads the values back to the host (one GPU
    synchronisation); not for the training step.

    Args:
        x: feature map ``(N, C, T, V)``.
        threshold: any value in ``[0, 1]`` (also those EADM refuses, to show the cliff).
        lam: SimAM's ``λ``.

    Returns:
        Fractions in ``[0, 1]``: ``"joints"`` dropped by the spatial mask (of N·V),
        ``"elements"`` dropped by the element-wise temporal mask (of N·C·T·V, the
        reference's), ``"frames"`` dropped by the frame-wise one (of N·T), and
        ``"zeroed"``, the elements of ``attention_drop``'s output (element mode) that
        are zero for either reason.

    Raises:
        AimCLRError: bad ``x`` or a threshold outside ``[0, 1]``.

    Example:
        >>> x = torch.rand(4, 16, 12, 25)
        >>> drop_fractions(x, threshold=0.6)["joints"]  # below sigmoid(1/2): everything
        1.0
        >>> drop_fractions(x, threshold=0.99)["zeroed"]
        0.0
    """
    _check_map(x)
    check_probability(threshold, "threshold")
    check_positive(lam, "lam")
    att = _simam(x.detach(), lam)
    joints, elements, frames = _dropped(att, threshold)
    zeroed = elements | joints[:, None, None, :]
    values = torch.stack([m.float().mean() for m in (joints, elements, frames, zeroed)])
    return dict(zip(("joints", "elements", "frames", "zeroed"), values.tolist(), strict=True))


def _dropped(
    att: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EADM's drop rule on attention ``att`` ``(N, C, T, V)``: what ``>= threshold`` drops.

    Returns:
        Boolean ``(N, V)`` joints (mean over ``(C, T)``), ``(N, C, T, V)`` elements and
        ``(N, T)`` frames (mean over ``(C, V)``).
    """
    joints = att.mean(dim=(1, 2)) >= threshold
    elements = att >= threshold
    frames = att.mean(dim=(1, 3)) >= threshold
    return joints, elements, frames


class _ApplySubmodule:
    """Forward hook: pass the layer's output through its submodule ``name``.

    The submodule is looked up at every call, so a copy of the layer in which it was
    replaced (``copy_and_freeze(..., without=EADM)``) applies the replacement.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, layer: nn.Module, args: tuple[object, ...], output: object) -> object:
        drop = getattr(layer, self.name)
        if isinstance(output, torch.Tensor):
            return drop(output)
        if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
            return (drop(output[0]), *output[1:])  # e.g. ST-GCN blocks return (x, A)
        raise AimCLRError(
            f"attach_eadm: {type(layer).__name__} must return a feature map (N, C, T, V) or "
            f"a tuple that starts with one, got {type(output).__name__}"
        )


def attach_eadm(layer: ModuleT, eadm: EADM | None = None, *, name: str = "eadm") -> ModuleT:
    """Apply EADM to ``layer``'s output, keeping every parameter name of the network.

    Wrapping a layer as ``nn.Sequential(layer, EADM())`` renames its weights
    (``block.conv.weight`` becomes ``block.0.conv.weight``), so the network's own
    checkpoints no longer load. This instead registers ``eadm`` as a submodule of
    ``layer`` (EADM has no parameters or buffers, so the state dict keeps its keys)
    and applies it through a forward hook on ``layer``. Being a submodule, it follows
    ``.train()`` / ``.eval()`` (it drops in training mode only), ``.to()`` and
    ``copy.deepcopy``.

    The layer's output must be a feature map ``(N, C, T, V)``, e.g. ``(N·M, C, T, V)``
    inside an encoder that folds persons into the batch, or a tuple whose first
    element is one (the other elements pass through unchanged).

    Args:
        layer: the layer whose output EADM acts on; changed in place.
        eadm: the module to apply (default ``EADM()``: threshold 0.7, λ 1e-4).
        name: the attribute name of the submodule on ``layer``.

    Returns:
        ``layer`` itself, for chaining.

    Raises:
        AimCLRError: ``layer`` is not a module, ``eadm`` not an :class:`EADM`,
            ``name`` not an identifier, or ``layer`` already has an attribute ``name``.

    Example:
        >>> layer = torch.nn.Conv2d(3, 8, kernel_size=1)
        >>> names = list(layer.state_dict())
        >>> layer = attach_eadm(layer, EADM(threshold=0.7))
        >>> list(layer.state_dict()) == names
        True
        >>> x = torch.rand(4, 3, 10, 25)  # (N·M, C, T, V)
        >>> plain = torch.nn.functional.conv2d(x, layer.weight, layer.bias)
        >>> torch.equal(layer.eval()(x), plain), torch.equal(layer.train()(x), plain)
        (True, False)
    """
    if not isinstance(layer, nn.Module):
        raise AimCLRError(f"layer must be an nn.Module, got {type(layer).__name__}")
    eadm = EADM() if eadm is None else eadm
    if not isinstance(eadm, EADM):
        raise AimCLRError(f"eadm must be an aimclr.nn.EADM, got {type(eadm).__name__}")
    if not isinstance(name, str) or not name.isidentifier():
        raise AimCLRError(f"name must be a Python identifier such as 'eadm', got {name!r}")
    if hasattr(layer, name):
        raise AimCLRError(
            f"{type(layer).__name__} already has an attribute {name!r}; pass another name="
        )
    layer.add_module(name, eadm)
    layer.register_forward_hook(_ApplySubmodule(name))
    return layer
