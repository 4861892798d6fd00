"""Momentum (exponential moving average) key encoders, as in MoCo and AimCLR."""

from __future__ import annotations

import copy
from typing import TypeVar

import torch
from torch import nn

from aimclr._checks import check_probability
from aimclr.errors import AimCLRError

__all__ = ["copy_and_freeze", "freeze_", "update_momentum"]

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def freeze_(module: ModuleT) -> ModuleT:
    """Set ``requires_grad = False`` on every parameter of ``module``, in place.

    Returns:
        ``module`` itself, for chaining.

    Example:
        >>> layer = freeze_(torch.nn.Linear(2, 2))
        >>> any(p.requires_grad for p in layer.parameters())
        False
    """
    for param in module.parameters():
        param.requires_grad_(False)
    return module


def copy_and_freeze(module: ModuleT) -> ModuleT:
    """Return a deep copy of ``module`` whose parameters do not require gradients.

    This is how a key encoder starts: an exact copy of the query encoder (same
    parameters and buffers), updated afterwards only by :func:`update_momentum`.

    Example:
        >>> query = torch.nn.Linear(2, 2)
        >>> key = copy_and_freeze(query)
        >>> torch.equal(key.weight, query.weight), key.weight.requires_grad
        (True, False)
    """
    return freeze_(copy.deepcopy(module))


@torch.no_grad()
def update_momentum(
    query_net: nn.Module, key_net: nn.Module, m: float, buffers: bool = False
) -> None:
    """Exponential moving average: ``θ_k ← m·θ_k + (1 − m)·θ_q``, in place.

    Runs under ``no_grad`` with fused ``torch._foreach`` kernels. Parameters are
    matched by name, so both modules must have the same structure.

    Args:
        query_net: the network being trained (source, read only).
        key_net: the momentum network (updated in place).
        m: momentum in ``[0, 1]``; 1 keeps ``key_net``, 0 copies ``query_net``.
        buffers: also average floating buffers (e.g. BatchNorm running statistics)
            and copy integer ones (e.g. ``num_batches_tracked``). Off by default,
            as in MoCo and the AimCLR reference: the key network keeps its own
            running statistics.

    Raises:
        AimCLRError: ``m`` outside ``[0, 1]`` or the parameter (and, with
            ``buffers``, buffer) names, shapes or devices differ; raised before any
            update.

    Example:
        >>> q, k = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
        >>> _ = q.weight.data.fill_(1.0), k.weight.data.fill_(0.0)
        >>> update_momentum(q, k, m=0.9)
        >>> round(k.weight.item(), 6)
        0.1
    """
    if isinstance(m, bool) or not isinstance(m, (int, float)):
        raise AimCLRError(f"m must be a float in [0, 1], got {m!r}")
    check_probability(float(m), "m")
    q_params, k_params = _matched(
        dict(query_net.named_parameters()), dict(key_net.named_parameters()), "parameter"
    )
    if buffers:
        q_bufs, k_bufs = _matched(
            dict(query_net.named_buffers()), dict(key_net.named_buffers()), "buffer"
        )
    _ema_(q_params, k_params, float(m))
    if buffers:
        floating = [i for i, b in enumerate(k_bufs) if b.is_floating_point()]
        _ema_([q_bufs[i] for i in floating], [k_bufs[i] for i in floating], float(m))
        for q_buf, k_buf in zip(q_bufs, k_bufs, strict=True):
            if not k_buf.is_floating_point():
                k_buf.copy_(q_buf)


def _ema_(source: list[torch.Tensor], target: list[torch.Tensor], m: float) -> None:
    if not target:
        return
    # Same arithmetic as the reference: θ_k·m + θ_q·(1 − m).
    torch._foreach_mul_(target, m)
    torch._foreach_add_(target, source, alpha=1.0 - m)


def _matched(
    query: dict[str, torch.Tensor], key: dict[str, torch.Tensor], kind: str
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if query.keys() != key.keys():
        only_q = sorted(query.keys() - key.keys())[:5]
        only_k = sorted(key.keys() - query.keys())[:5]
        raise AimCLRError(
            f"query_net and key_net must have the same {kind} names; only in query_net: "
            f"{only_q}, only in key_net: {only_k}"
        )
    for name, tensor in query.items():
        if tensor.shape != key[name].shape:
            raise AimCLRError(
                f"{kind} {name!r} has shape {tuple(tensor.shape)} in query_net but "
                f"{tuple(key[name].shape)} in key_net"
            )
        if tensor.device != key[name].device:  # the fused add would fail after the scaling
            raise AimCLRError(
                f"{kind} {name!r} is on {tensor.device} in query_net but on "
                f"{key[name].device} in key_net; move both networks to one device"
            )
    names = list(query)
    return [query[n].detach() for n in names], [key[n].detach() for n in names]
