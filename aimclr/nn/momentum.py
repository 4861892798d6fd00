"""Momentum (exponential moving average) key encoders, as in MoCo and AimCLR.

MoCo: He et al., "Momentum Contrast for Unsupervised Visual Representation
Learning", CVPR 2020, [arXiv:1911.05722](https://arxiv.org/abs/1911.05722).
"""

from __future__ import annotations

import copy
import itertools
from typing import TypeVar

import torch
from torch import nn

from aimclr._checks import check_bool, check_module, check_probability
from aimclr._cores import ema_
from aimclr.errors import AimCLRError

__all__ = ["copy_and_freeze", "freeze_", "update_momentum"]

ModuleT = TypeVar("ModuleT", bound=nn.Module)

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
"""Name prefixes of wrapped modules: DistributedDataParallel / DataParallel, torch.compile."""


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


def copy_and_freeze(
    module: ModuleT, *, without: type[nn.Module] | tuple[type[nn.Module], ...] = ()
) -> ModuleT:
    """Return a deep copy of ``module`` whose parameters do not require gradients.

    This is how a key encoder starts: an exact copy of the query encoder (same
    parameters and buffers), updated afterwards only by :func:`update_momentum`.

    ``without`` replaces every submodule of the given types by :class:`torch.nn.Identity`
    in the copy. Use it for modules that belong to the query side only, such as
    :class:`~aimclr.nn.eadm.EADM` inside a third-party network: the copy stays in train
    mode with the query network, so a copied EADM would drop the keys' features too,
    while AimCLR drops only the extreme query's. The replaced modules must hold no
    parameters or buffers, so that both networks keep the same state-dict names (what
    :func:`update_momentum` matches). Forward hooks that look their module up by name,
    as :func:`~aimclr.nn.eadm.attach_eadm`'s do, then apply the identity.

    Args:
        module: the query network.
        without: module types to leave out of the copy.

    Returns:
        The frozen copy.

    Raises:
        AimCLRError: ``module`` is not an ``nn.Module``, ``without`` holds something
            other than module types, ``module`` itself is of a type in ``without``, or a
            module to replace has parameters or buffers.

    Example:
        >>> from aimclr.nn import EADM
        >>> query = torch.nn.Sequential(torch.nn.Linear(2, 2), EADM())
        >>> key = copy_and_freeze(query, without=EADM)
        >>> type(key[1]).__name__, key[0].weight.requires_grad
        ('Identity', False)
        >>> list(key.state_dict()) == list(query.state_dict())
        True
    """
    check_module(module, "module")
    types = without if isinstance(without, tuple) else (without,)
    if not all(isinstance(t, type) and issubclass(t, nn.Module) for t in types):
        raise AimCLRError(
            f"without must be an nn.Module subclass or a tuple of them (e.g. EADM), "
            f"got {without!r}"
        )
    if types and isinstance(module, types):
        raise AimCLRError(
            f"copy_and_freeze cannot leave out the network itself ({type(module).__name__})"
        )
    for name, sub in module.named_modules():
        if types and isinstance(sub, types) and _has_state(sub):
            raise AimCLRError(
                f"without= may only leave out modules without parameters or buffers (the "
                f"copy must keep the state-dict names), but {name!r} "
                f"({type(sub).__name__}) has some"
            )
    copied = copy.deepcopy(module)
    if types:
        targets = [(parent, child_name) for parent in copied.modules()
                   for child_name, child in parent.named_children()
                   if isinstance(child, types)]  # fmt: skip
        for parent, child_name in targets:
            setattr(parent, child_name, nn.Identity())
    return freeze_(copied)


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in itertools.chain(module.parameters(), module.buffers()))


@torch.no_grad()
def update_momentum(
    query_net: nn.Module, key_net: nn.Module, m: float, buffers: bool = False
) -> None:
    """Exponential moving average: ``θ_k ← m·θ_k + (1 − m)·θ_q``, in place.

    Runs under ``no_grad`` with fused ``torch._foreach`` kernels. Parameters are
    matched by name, so both modules must have the same structure. ``key_net`` is the
    one overwritten: it must be a frozen copy (e.g. from :func:`copy_and_freeze`);
    one with trainable parameters is refused, since that is what swapped arguments look
    like.

    Args:
        query_net: the network being trained (source, read only).
        key_net: the momentum network (updated in place); no parameter may require
            gradients.
        m: momentum in ``[0, 1]``; 1 keeps ``key_net``, 0 copies ``query_net``.
        buffers: also average floating buffers (e.g. BatchNorm running statistics)
            and copy integer ones (e.g. ``num_batches_tracked``). Off by default,
            as in MoCo and the AimCLR reference: the key network keeps its own
            running statistics.

    Raises:
        AimCLRError: ``m`` outside ``[0, 1]``, a network that is not an ``nn.Module``,
            ``buffers`` not a bool, ``key_net`` has trainable parameters
            (are the arguments swapped?), or the parameter (and, with ``buffers``,
            buffer) names, shapes or devices differ (with a hint to pass ``.module``
            for a wrapped network); raised before any update.

    Example:
        >>> q, k = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
        >>> _ = q.weight.data.fill_(1.0), k.weight.data.fill_(0.0)
        >>> update_momentum(q, freeze_(k), m=0.9)
        >>> round(k.weight.item(), 6)
        0.1
    """
    if isinstance(m, bool) or not isinstance(m, (int, float)):
        raise AimCLRError(f"m must be a float in [0, 1], got {m!r}")
    check_probability(float(m), "m")
    check_module(query_net, "query_net")
    check_module(key_net, "key_net")
    check_bool(buffers, "buffers")
    trainable = [name for name, p in key_net.named_parameters() if p.requires_grad]
    if trainable:
        raise AimCLRError(
            f"key_net has parameters that require gradients ({trainable[:3]}): "
            "update_momentum(query_net, key_net, m) overwrites key_net, which must be the "
            "frozen momentum copy; are query_net and key_net swapped? Build key_net with "
            "copy_and_freeze(query_net)"
        )
    q_params, k_params = _matched(
        dict(query_net.named_parameters()), dict(key_net.named_parameters()), "parameter"
    )
    if buffers:
        q_bufs, k_bufs = _matched(
            dict(query_net.named_buffers()), dict(key_net.named_buffers()), "buffer"
        )
    ema_(q_params, k_params, float(m))
    if buffers:
        floating = [i for i, b in enumerate(k_bufs) if b.is_floating_point()]
        ema_([q_bufs[i] for i in floating], [k_bufs[i] for i in floating], float(m))
        for q_buf, k_buf in zip(q_bufs, k_bufs, strict=True):
            if not k_buf.is_floating_point():
                k_buf.copy_(q_buf)


def _matched(
    query: dict[str, torch.Tensor], key: dict[str, torch.Tensor], kind: str
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if query.keys() != key.keys():
        only_q = sorted(query.keys() - key.keys())[:5]
        only_k = sorted(key.keys() - query.keys())[:5]
        raise AimCLRError(
            f"query_net and key_net must have the same {kind} names; only in query_net: "
            f"{only_q}, only in key_net: {only_k}{_wrapper_hint(query, key)}"
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


def _wrapper_hint(query: dict[str, torch.Tensor], key: dict[str, torch.Tensor]) -> str:
    """A hint when one side's names are the other's behind a wrapper's prefix."""
    for prefix in _WRAPPER_PREFIXES:
        for side, names, other in (("query_net", query, key), ("key_net", key, query)):
            unwrapped = {n[len(prefix) :] for n in names if n.startswith(prefix)}
            if names and len(unwrapped) == len(names) and unwrapped == set(other):
                return (
                    f"; {side} looks wrapped (DistributedDataParallel, DataParallel or "
                    f"torch.compile prefix the names with {prefix!r}): pass "
                    f"{side}.{prefix.rstrip('.')}"
                )
    return ""
