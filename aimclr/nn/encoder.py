"""The encoder contract of :class:`~aimclr.model.AimCLR`: what a skeleton encoder provides.

Every member beyond the embedding itself is optional and adds one capability, so a
third-party encoder offers what it has:

* **Minimum** — any :class:`torch.nn.Module` that maps ``(N, C, T, V, M)`` to
  ``(N, D_enc)``. AimCLR checks the views' common layout (rank 5, floating, one batch
  size, dtype and device) and trains every preset without EADM.
* ``out_channels`` (:class:`WidthEncoder`) — ``D_enc``, so that ``AimCLR(encoder)``
  needs no ``encoder_dim``.
* ``check_input`` (:class:`InputCheckingEncoder`) — the encoder's own layout rules;
  AimCLR runs it on every view before any state changes (errors name the view).
* ``features`` and ``pool`` (:class:`FeatureMapEncoder`) — the split feature path that
  EADM (``use_eadm=True``, which acts on the map between the two) and
  :meth:`~aimclr.model.AimCLR.compile_features` need.

:class:`SkeletonEncoder` is the **full** contract: all of the above.
:class:`~aimclr.nn.stgcn.STGCN` satisfies it. So does this small third-party encoder
(a per-frame linear map over the joints):

Example:
    >>> import torch
    >>> from torch import nn
    >>> class FrameEncoder(nn.Module):
    ...     def __init__(self, channels: int = 3, joints: int = 25, width: int = 16):
    ...         super().__init__()
    ...         self.channels, self.joints, self.out_channels = channels, joints, width
    ...         self.embed = nn.Conv2d(channels, width, kernel_size=1)
    ...     def check_input(self, x: torch.Tensor) -> None:
    ...         if x.dim() != 5 or x.shape[1] != self.channels or x.shape[3] != self.joints:
    ...             raise ValueError(f"x must be (N, {self.channels}, T, {self.joints}, M)")
    ...     def features(self, x: torch.Tensor) -> torch.Tensor:  # -> (N·M, D, T, V)
    ...         n, c, t, v, m = x.shape
    ...         return self.embed(x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)).relu()
    ...     def pool(self, feature_map: torch.Tensor, num_persons: int) -> torch.Tensor:
    ...         pooled = feature_map.mean(dim=(2, 3))  # (N·M, D)
    ...         return pooled.view(-1, num_persons, pooled.shape[1]).mean(dim=1)
    ...     def forward(self, x: torch.Tensor) -> torch.Tensor:
    ...         return self.pool(self.features(x), x.shape[-1])
    >>> encoder = FrameEncoder()
    >>> isinstance(encoder, SkeletonEncoder), encoder_width(encoder)
    (True, 16)
    >>> from aimclr.model import AimCLR
    >>> model = AimCLR(encoder, feature_dim=8, queue_size=32)  # EADM on: the full contract
    >>> out = model(*torch.randn(3, 4, 3, 8, 25, 2), epoch=1)
    >>> sorted(out.losses())
    ['d3m', 'd3m_extreme', 'd3m_extreme_drop', 'd3m_kl', 'info_nce', 'loss']
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from aimclr._checks import check_int
from aimclr.errors import AimCLRError

__all__ = [
    "FeatureMapEncoder",
    "InputCheckingEncoder",
    "SkeletonEncoder",
    "WidthEncoder",
    "encoder_width",
    "missing_members",
]

_MEMBERS = ("out_channels", "check_input", "features", "pool")


@runtime_checkable
class WidthEncoder(Protocol):
    """An encoder that states its embedding width ``D_enc`` as ``out_channels``."""

    @property
    def out_channels(self) -> int:
        """Embedding width ``D_enc`` of the ``(N, D_enc)`` output (an ``int``)."""
        ...


@runtime_checkable
class InputCheckingEncoder(Protocol):
    """An encoder that can vet an input before anything runs on it."""

    def check_input(self, x: torch.Tensor) -> None:
        """Raise (preferably :class:`~aimclr.errors.AimCLRError`) unless ``x``
        ``(N, C, T, V, M)`` fits the encoder; change no state."""
        ...


@runtime_checkable
class FeatureMapEncoder(Protocol):
    """An encoder split into a feature map and its pooling (what EADM needs).

    ``encoder(x)`` must equal ``pool(features(x), M)``:

    * ``features(x)``: ``(N, C, T, V, M)`` → the final feature map ``(N·M, D_enc, T', V)``
      (persons folded into the batch, sample-major: row ``n·M + m``), before pooling;
    * ``pool(feature_map, num_persons)``: ``(N·M, D_enc, T', V)`` → ``(N, D_enc)``.
    """

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The final feature map ``(N·M, D_enc, T', V)`` of ``x`` ``(N, C, T, V, M)``."""
        ...

    def pool(self, feature_map: torch.Tensor, num_persons: int) -> torch.Tensor:
        """Pool ``(N·M, D_enc, T', V)`` to ``(N, D_enc)``."""
        ...


@runtime_checkable
class SkeletonEncoder(WidthEncoder, InputCheckingEncoder, FeatureMapEncoder, Protocol):
    """The full encoder contract: an embedding, its width, its input check and the split
    feature path.

    ``isinstance(encoder, SkeletonEncoder)`` tells whether an object has every member
    (it checks that the names exist, not their signatures). The behaviour each member
    must have:

    * ``encoder(x)``: ``(N, C, T, V, M)`` → ``(N, out_channels)``, equal to
      ``pool(features(x), M)``;
    * ``out_channels``: the embedding width ``D_enc`` (an ``int``, e.g. a property);
    * ``check_input(x)``: raise (preferably :class:`~aimclr.errors.AimCLRError`) unless
      ``x`` fits the encoder; change no state. AimCLR calls it on every view before
      the step touches any state;
    * ``features(x)`` and ``pool(feature_map, num_persons)``: as
      :class:`FeatureMapEncoder`.
    """

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Embed ``(N, C, T, V, M)`` sequences as ``(N, out_channels)``."""
        ...


def missing_members(encoder: object) -> list[str]:
    """The members of the full :class:`SkeletonEncoder` that ``encoder`` lacks, in order.

    Example:
        >>> missing_members(torch.nn.Linear(3, 4))
        ['out_channels', 'check_input', 'features', 'pool']
    """
    return [name for name in _MEMBERS if not hasattr(encoder, name)]


def encoder_width(encoder: nn.Module, encoder_dim: int | None = None) -> int:
    """The embedding width ``D_enc`` of ``encoder``'s ``(N, D_enc)`` output.

    ``encoder_dim`` when given (checked against ``out_channels`` where the encoder is a
    :class:`WidthEncoder`), else the encoder's ``out_channels``.
    Use it to size a classifier or a projection head on top of any encoder.

    Args:
        encoder: the encoder.
        encoder_dim: the width, for an encoder without ``out_channels``.

    Returns:
        ``D_enc``.

    Raises:
        AimCLRError: the width is unknown (a plain module without ``encoder_dim``), not
            a positive int, or ``encoder_dim`` contradicts ``out_channels``.

    Example:
        >>> from aimclr.nn import STGCN
        >>> encoder_width(STGCN(hidden_dim=64)), encoder_width(torch.nn.Linear(3, 8), 8)
        (64, 8)
    """
    full = isinstance(encoder, WidthEncoder)
    if full:
        width = check_int(encoder.out_channels, f"{type(encoder).__name__}.out_channels")
    if encoder_dim is not None:
        given = check_int(encoder_dim, "encoder_dim", meaning="D_enc of the (N, D_enc) output")
        if full and given != width:
            raise AimCLRError(
                f"encoder_dim = {given} contradicts {type(encoder).__name__}.out_channels "
                f"= {width}; leave encoder_dim out"
            )
        return given
    if full:
        return width
    raise AimCLRError(
        f"cannot tell the output width of {type(encoder).__name__}: pass encoder_dim "
        "(the D_enc of its (N, D_enc) output), or give it an int attribute or property "
        "out_channels (aimclr.nn.WidthEncoder)"
    )
