"""Load and convert checkpoints of the official AimCLR code (Levigty/AimCLR).

The reference saves plain ``{name: tensor}`` dictionaries:

* pre-training (364 tensors): ``encoder_q.*`` and ``encoder_k.*`` (181 each: the
  ``A`` buffer, ``data_bn``, ``st_gcn_networks.{i}.{gcn,tcn,residual}``, the MLP head
  ``fc.0``/``fc.2`` and ``edge_importance.{i}``), ``queue`` ``(D, K)`` and
  ``queue_ptr`` ``(1,)``;
* linear evaluation (179 tensors): the ``encoder_q.*`` backbone and a classifier
  ``encoder_q.fc.{weight,bias}`` ``(num_class, 256)``.

This module translates reference names to the names of :class:`~aimclr.nn.STGCN`,
:class:`~aimclr.nn.ProjectionHead` and the AimCLR model (``encoder_q``, ``head_q``,
``encoder_k``, ``head_k``, ``queue.keys`` ``(K, D)``, ``queue.ptr`` ``(1,)``) and back.
Every ``"module."`` in a name (DataParallel / DDP wrappers) is ignored. Unknown or
missing names raise :class:`~aimclr.errors.AimCLRError` listing them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch
from torch import nn

from aimclr._torchfile import read_torch_file
from aimclr.errors import AimCLRError
from aimclr.graph import SkeletonLayout, get_layout
from aimclr.nn.heads import ProjectionHead
from aimclr.nn.stgcn import STGCN

__all__ = [
    "convert_reference_encoder",
    "convert_reference_pretrain",
    "load_reference_encoder",
    "load_state_dict_file",
    "strip_module_prefix",
    "to_reference_pretrain",
]

StateDict = dict[str, torch.Tensor]

# (reference name, library name) templates for one encoder; "{i}" is a block index.
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_WB = ("weight", "bias")
_BACKBONE_NAMES: tuple[tuple[str, str], ...] = (
    ("A", "A"),
    *((f"data_bn.{p}", f"data_bn.{p}") for p in _BN),
    *((f"st_gcn_networks.{{i}}.gcn.conv.{p}", f"blocks.{{i}}.gcn.conv.{p}") for p in _WB),
    *((f"st_gcn_networks.{{i}}.tcn.0.{p}", f"blocks.{{i}}.tcn.bn_in.{p}") for p in _BN),
    *((f"st_gcn_networks.{{i}}.tcn.2.{p}", f"blocks.{{i}}.tcn.conv.{p}") for p in _WB),
    *((f"st_gcn_networks.{{i}}.tcn.3.{p}", f"blocks.{{i}}.tcn.bn_out.{p}") for p in _BN),
    *((f"st_gcn_networks.{{i}}.residual.0.{p}", f"blocks.{{i}}.residual.conv.{p}") for p in _WB),
    *((f"st_gcn_networks.{{i}}.residual.1.{p}", f"blocks.{{i}}.residual.bn.{p}") for p in _BN),
    ("edge_importance.{i}", "edge_importance.{i}"),
)
# Reference heads: the MLP of pre-training (fc.1 is the ReLU), or a linear classifier.
_MLP_NAMES: tuple[tuple[str, str], ...] = tuple(
    (f"fc.{ref}.{p}", f"fc{lib}.{p}") for ref, lib in (("0", "1"), ("2", "2")) for p in _WB
)
_LINEAR_NAMES: tuple[tuple[str, str], ...] = tuple((f"fc.{p}", p) for p in _WB)

Rules = tuple[tuple["re.Pattern[str]", str], ...]


def _rules(names: tuple[tuple[str, str], ...], inverse: bool = False) -> Rules:
    """Compile name templates into (regex, replacement) pairs, in either direction."""
    compiled = []
    for source, target in names:
        if inverse:
            source, target = target, source
        pattern = re.escape(source).replace(re.escape("{i}"), r"(\d+)")
        compiled.append((re.compile(pattern), target.replace("{i}", r"\1")))
    return tuple(compiled)


_BACKBONE_RULES = _rules(_BACKBONE_NAMES)
_MLP_RULES = _rules(_MLP_NAMES)
_LINEAR_RULES = _rules(_LINEAR_NAMES)
_BACKBONE_INVERSE = _rules(_BACKBONE_NAMES, inverse=True)
_MLP_INVERSE = _rules(_MLP_NAMES, inverse=True)
_LINEAR_INVERSE = _rules(_LINEAR_NAMES, inverse=True)


def _rename(name: str, rules: Rules) -> str | None:
    for pattern, replacement in rules:
        if pattern.fullmatch(name):
            return pattern.sub(replacement, name)
    return None


def _reference_name(name: str) -> str:
    """Reference name of a library encoder or head entry (for error messages)."""
    for rules in (_BACKBONE_INVERSE, _MLP_INVERSE, _LINEAR_INVERSE):
        renamed = _rename(name, rules)
        if renamed is not None:
            return renamed
    return name


def _list(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Remove every ``"module."`` from the names (DataParallel / DDP checkpoints)."""
    stripped: StateDict = {}
    for name, value in state_dict.items():
        clean = name.replace("module.", "")
        if clean in stripped:
            raise AimCLRError(f"two entries map to {clean!r} once 'module.' is removed")
        stripped[clean] = value
    return stripped


def load_state_dict_file(path: str | os.PathLike[str]) -> StateDict:
    """Read a reference checkpoint file (``torch.load`` with ``weights_only=True``, on CPU).

    A zip archive (``torch.save``'s format since torch 1.6) is verified against its
    CRC-32s first; the older format is read as it is.

    Raises:
        AimCLRError: the file is missing, empty, truncated or damaged, holds objects
            other than plain data, or does not hold a ``{name: tensor}`` dictionary.
    """
    loaded = read_torch_file(path, "checkpoint", "cpu", require_archive=False)
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise AimCLRError(
            f"{os.fspath(path)!r} must hold a {{name: tensor}} state dict, got "
            f"{type(loaded).__name__}"
        )
    return dict(loaded)


def convert_reference_encoder(
    state_dict: Mapping[str, torch.Tensor], prefix: str = "encoder_q."
) -> tuple[StateDict, StateDict | None]:
    """Translate one reference encoder to :class:`~aimclr.nn.STGCN` names.

    Only entries whose name starts with ``prefix`` are read (pass ``""`` for a bare
    encoder state dict); others such as ``encoder_k.*`` or ``queue`` are ignored.

    Args:
        state_dict: reference state dict, with or without ``"module."`` in the names.
        prefix: the encoder's prefix, ``"encoder_q."`` or ``"encoder_k."``.

    Returns:
        ``(backbone, head)``: the STGCN state dict (``A``, ``data_bn.*``,
        ``blocks.{i}.*``, ``edge_importance.{i}``), and the head's state dict or
        ``None``: ``fc1.*``/``fc2.*`` for a :class:`~aimclr.nn.ProjectionHead` (MLP of
        pre-training) or ``weight``/``bias`` for an ``nn.Linear`` classifier.

    Raises:
        AimCLRError: no entry starts with ``prefix``, an entry is unknown, or a
            backbone entry is missing; the message lists the names.
    """
    state_dict = strip_module_prefix(state_dict)
    own = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not own:
        raise AimCLRError(
            f"no entry starts with {prefix!r}; names seen: {_list(sorted(state_dict))}"
        )
    backbone: StateDict = {}
    mlp: StateDict = {}
    linear: StateDict = {}
    unknown = []
    for name, value in own.items():
        for rules, target in ((_BACKBONE_RULES, backbone), (_MLP_RULES, mlp),
                              (_LINEAR_RULES, linear)):  # fmt: skip
            new = _rename(name, rules)
            if new is not None:
                target[new] = value
                break
        else:
            unknown.append(prefix + name)
    if unknown:
        raise AimCLRError(f"unknown reference encoder entries: {_list(sorted(unknown))}")
    expected = _expected_backbone(backbone)
    if mlp:
        expected += [lib for _, lib in _MLP_NAMES]
    if linear:
        expected += [lib for _, lib in _LINEAR_NAMES]
    found = {**backbone, **mlp, **linear}
    missing = [prefix + _reference_name(k) for k in expected if k not in found]
    if missing:
        raise AimCLRError(f"missing reference encoder entries: {_list(missing)}")
    if mlp and linear:
        raise AimCLRError(
            f"{prefix}fc holds both an MLP (fc.0, fc.2) and a linear layer (fc.weight)"
        )
    head = mlp or linear or None
    return backbone, head


def _expected_backbone(backbone: Mapping[str, torch.Tensor]) -> list[str]:
    """Names an STGCN state dict needs; residual convolutions follow the block shapes."""
    names = ["A", *(f"data_bn.{p}" for p in _BN)]
    for i, stride in enumerate(STGCN.STRIDES):
        block = f"blocks.{i}."
        names += [f"{block}gcn.conv.{p}" for p in _WB]
        names += [f"{block}tcn.bn_in.{p}" for p in _BN]
        names += [f"{block}tcn.conv.{p}" for p in _WB]
        names += [f"{block}tcn.bn_out.{p}" for p in _BN]
        gcn, tcn = backbone.get(f"{block}gcn.conv.weight"), backbone.get(f"{block}tcn.conv.weight")
        reshapes = (
            gcn is not None and tcn is not None and (gcn.shape[1] != tcn.shape[0] or stride != 1)
        )
        if i > 0 and (reshapes or f"{block}residual.conv.weight" in backbone):
            names += [f"{block}residual.conv.{p}" for p in _WB]
            names += [f"{block}residual.bn.{p}" for p in _BN]
    if any(k.startswith("edge_importance.") for k in backbone):
        names += [f"edge_importance.{i}" for i in range(len(STGCN.STRIDES))]
    return names


def _encoder_from_backbone(
    backbone: Mapping[str, torch.Tensor],
    layout: str | SkeletonLayout,
    dropout: float,
) -> STGCN:
    """Build an STGCN whose sizes match ``backbone`` and load it (A included)."""
    layout = get_layout(layout)
    adj = backbone["A"]
    if adj.shape[-1] != layout.num_joints:
        raise AimCLRError(
            f"the checkpoint's adjacency A has shape {tuple(adj.shape)} (V = "
            f"{adj.shape[-1]}) but layout {layout.name!r} has V = {layout.num_joints}"
        )
    encoder = STGCN(
        layout,
        in_channels=int(backbone["blocks.0.gcn.conv.weight"].shape[1]),
        hidden_channels=int(backbone["blocks.0.tcn.conv.weight"].shape[0]),
        hidden_dim=int(backbone["blocks.9.tcn.conv.weight"].shape[0]),
        dropout=dropout,
        edge_importance="edge_importance.0" in backbone,
        temporal_kernel_size=int(backbone["blocks.0.tcn.conv.weight"].shape[2]),
    )
    if adj.shape != encoder.A.shape or not torch.allclose(adj, encoder.A, atol=1e-6):
        raise AimCLRError(
            f"the checkpoint's adjacency A {tuple(adj.shape)} differs from the one of "
            f"layout {layout.name!r} {tuple(encoder.A.shape)}; pass the layout the "
            "checkpoint was trained with"
        )
    _load(encoder, backbone, "encoder")
    return encoder


def _load(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    try:
        module.load_state_dict(dict(state), strict=True)
    except RuntimeError as error:  # shape mismatch or names: re-raise as the library error
        detail = " ".join(str(error).split())
        raise AimCLRError(f"cannot load the {what} weights: {detail}") from None


def load_reference_encoder(
    source: str | os.PathLike[str] | Mapping[str, torch.Tensor],
    prefix: str = "encoder_q.",
    layout: str | SkeletonLayout = "ntu-rgb+d",
    dropout: float = 0.5,
) -> tuple[STGCN, nn.Module | None]:
    """Build an encoder (and its head) from a reference checkpoint.

    Sizes (input channels, widths, embedding size, kernel, edge importance) are read
    from the tensors; the adjacency ``A`` stored in the checkpoint must equal the one
    of ``layout``.

    Args:
        source: a checkpoint path or an already loaded state dict (pre-training or
            linear evaluation).
        prefix: which encoder to read, ``"encoder_q."`` or ``"encoder_k."``.
        layout: the skeleton layout the checkpoint was trained on.
        dropout: dropout of the new encoder (only matters in training mode).

    Returns:
        ``(encoder, head)``: the :class:`~aimclr.nn.STGCN` with the checkpoint's
        weights and statistics, and a :class:`~aimclr.nn.ProjectionHead` (pre-training
        MLP), an ``nn.Linear`` (linear-evaluation classifier) or ``None``.

    Raises:
        AimCLRError: unknown or missing entries, shapes that do not fit, or an
            adjacency that differs from ``layout``'s.
    """
    state = (
        dict(source) if isinstance(source, Mapping) else load_state_dict_file(source)
    )
    backbone, head_state = convert_reference_encoder(state, prefix)
    encoder = _encoder_from_backbone(backbone, layout, dropout)
    head: nn.Module | None = None
    if head_state is not None and "fc1.weight" in head_state:
        hidden, in_dim = head_state["fc1.weight"].shape
        head = ProjectionHead(int(in_dim), int(hidden), int(head_state["fc2.weight"].shape[0]))
    elif head_state is not None:
        out_dim, in_dim = head_state["weight"].shape
        head = nn.Linear(int(in_dim), int(out_dim))
    if head is not None and head_state is not None:
        _load(head, head_state, "head")
    return encoder, head


_PRETRAIN_ENCODERS = (("encoder_q.", "encoder_q.", "head_q."),
                      ("encoder_k.", "encoder_k.", "head_k."))  # fmt: skip


def convert_reference_pretrain(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Map a reference pre-training checkpoint onto the AimCLR model's names.

    Args:
        state_dict: the reference's 364-entry pre-training state dict.

    Returns:
        A state dict with ``encoder_q.*`` / ``encoder_k.*`` (:class:`~aimclr.nn.STGCN`),
        ``head_q.*`` / ``head_k.*`` (:class:`~aimclr.nn.ProjectionHead`),
        ``queue.keys`` ``(K, D)`` (the reference stores ``(D, K)``: transposed here) and
        ``queue.ptr`` int64 ``(1,)``.

    Raises:
        AimCLRError: unknown or missing entries (listed), or an encoder without its
            MLP head.
    """
    state = strip_module_prefix(state_dict)
    unknown = sorted(
        k for k in state
        if k not in ("queue", "queue_ptr") and not k.startswith(("encoder_q.", "encoder_k."))
    )  # fmt: skip
    if unknown:
        raise AimCLRError(f"unknown reference pre-training entries: {_list(unknown)}")
    missing = [k for k in ("queue", "queue_ptr") if k not in state]
    if missing:
        raise AimCLRError(f"missing reference pre-training entries: {_list(missing)}")
    out: StateDict = {}
    for ref_prefix, encoder_prefix, head_prefix in _PRETRAIN_ENCODERS:
        backbone, head = convert_reference_encoder(state, ref_prefix)
        if head is None or "fc1.weight" not in head:
            raise AimCLRError(
                f"missing reference pre-training entries: {ref_prefix}fc.0.weight, "
                f"{ref_prefix}fc.0.bias, {ref_prefix}fc.2.weight, {ref_prefix}fc.2.bias"
            )
        out.update({encoder_prefix + k: v for k, v in backbone.items()})
        out.update({head_prefix + k: v for k, v in head.items()})
    queue, pointer = state["queue"], state["queue_ptr"]
    if queue.dim() != 2:
        raise AimCLRError(f"queue must have layout (D, K), got shape {tuple(queue.shape)}")
    if (pointer.numel() != 1 or pointer.is_floating_point() or pointer.dtype == torch.bool
            or not 0 <= int(pointer.reshape(())) < queue.shape[1]):  # fmt: skip
        raise AimCLRError(
            f"queue_ptr must be one integer in [0, K = {queue.shape[1]}), got shape "
            f"{tuple(pointer.shape)}, dtype {pointer.dtype}"
            + (f", value {pointer.reshape(()).item()}" if pointer.numel() == 1 else "")
        )
    out["queue.keys"] = queue.t().contiguous()
    out["queue.ptr"] = pointer.reshape(1).to(torch.int64)
    return out


def to_reference_pretrain(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Inverse of :func:`convert_reference_pretrain`: AimCLR model → reference names.

    Args:
        state_dict: AimCLR model state dict with ``encoder_q``, ``head_q``,
            ``encoder_k``, ``head_k``, ``queue.keys`` ``(K, D)`` and ``queue.ptr``.

    Returns:
        A state dict the reference code loads: ``encoder_{q,k}.*`` (heads as
        ``fc.0``/``fc.2``), ``queue`` ``(D, K)``, ``queue_ptr`` ``(1,)``.

    Raises:
        AimCLRError: an entry has no reference counterpart (listed), or the result
            lacks an entry of the reference format (both encoders with their MLP
            heads, the queue and its pointer).
    """
    state = strip_module_prefix(state_dict)
    out: StateDict = {}
    unknown = []
    for name, value in state.items():
        if name == "queue.keys":
            out["queue"] = value.t().contiguous()
            continue
        if name == "queue.ptr":
            out["queue_ptr"] = value.reshape(1).to(torch.int64)
            continue
        new = None
        for ref_prefix, encoder_prefix, head_prefix in _PRETRAIN_ENCODERS:
            if name.startswith(encoder_prefix):
                new = _rename(name[len(encoder_prefix):], _BACKBONE_INVERSE)
            elif name.startswith(head_prefix):
                new = _rename(name[len(head_prefix):], _MLP_INVERSE)
            else:
                continue
            new = None if new is None else ref_prefix + new
            break
        if new is None:
            unknown.append(name)
        else:
            out[new] = value
    if unknown:
        raise AimCLRError(f"entries without a reference counterpart: {_list(sorted(unknown))}")
    missing = [k for k in ("queue", "queue_ptr") if k not in out]
    if missing:
        raise AimCLRError(f"missing entries: {_list(['queue.keys', 'queue.ptr'])}")
    # The reference's loaders fall back to a partial load, so an incomplete file would
    # quietly keep random weights there: require everything the way back needs.
    try:
        convert_reference_pretrain(out)
    except AimCLRError as error:
        raise AimCLRError(f"the model state dict is incomplete: {error}") from None
    return out
