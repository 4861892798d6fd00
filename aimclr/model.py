"""The AimCLR model: query/key encoders, EADM, projection heads, queue and losses.

One call of :class:`AimCLR` is one pre-training step's forward pass: it embeds the
three views, computes every loss term and, in training mode, updates the key
encoder and the queue. The optimiser step stays with the caller.

Papers:

* AimCLR: Guo et al., "Contrastive Learning from Extremely Augmented Skeleton Sequences
  for Self-Supervised Action Recognition", AAAI 2022,
  [arXiv:2112.03590](https://arxiv.org/abs/2112.03590);
* its baseline SkeletonCLR: Li et al., "3D Human Action Representation Learning via
  Cross-View Consistency Pursuit", CVPR 2021,
  [arXiv:2104.14466](https://arxiv.org/abs/2104.14466);
* the momentum encoder and queue, MoCo: He et al., "Momentum Contrast for Unsupervised
  Visual Representation Learning", CVPR 2020,
  [arXiv:1911.05722](https://arxiv.org/abs/1911.05722).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import Self

from aimclr import _cores as core
from aimclr._autocast import autocast_dtype
from aimclr._checks import (
    check_bool,
    check_finite,
    check_floating,
    check_int,
    check_positive,
    check_probability,
    check_tensor,
    describe,
)
from aimclr.checkpoint import (
    convert_reference_pretrain,
    load_reference_encoder,
    load_state_dict_file,
    strip_module_prefix,
)
from aimclr.errors import AimCLRError
from aimclr.losses import Reduction
from aimclr.nn.distributed import gather_row_counts, is_distributed
from aimclr.nn.eadm import EADM
from aimclr.nn.encoder import (
    FeatureMapEncoder,
    InputCheckingEncoder,
    encoder_width,
)
from aimclr.nn.heads import ProjectionHead
from aimclr.nn.momentum import copy_and_freeze, update_momentum
from aimclr.nn.queue import MomentumQueue
from aimclr.nn.stgcn import STGCN

__all__ = ["PRESETS", "AimCLR", "AimCLROutput", "PresetName", "check_finite_views"]

PresetName = Literal["skeletonclr", "extreme_only", "d3m", "d3m_eadm", "aimclr"]

PRESETS: dict[str, dict[str, bool]] = {
    "skeletonclr": {"extreme_views": False, "use_d3m": False, "use_eadm": False,
                    "use_nnm": False},
    "extreme_only": {"extreme_views": True, "use_d3m": False, "use_eadm": False,
                     "use_nnm": False},
    "d3m": {"extreme_views": True, "use_d3m": True, "use_eadm": False, "use_nnm": False},
    "d3m_eadm": {"extreme_views": True, "use_d3m": True, "use_eadm": True, "use_nnm": False},
    "aimclr": {"extreme_views": True, "use_d3m": True, "use_eadm": True, "use_nnm": True},
}  # fmt: skip
"""Ablation switches of the rows of the paper's Table 1, in order (see :meth:`AimCLR.preset`)."""


@dataclass(frozen=True)
class AimCLROutput:
    """Loss terms and intermediate results of one :class:`AimCLR` step.

    Terms that the configuration (or the epoch) does not use are ``None``.

    Attributes:
        loss: the total, scalar: ``contrastive + d3m`` (``d3m`` counted as 0 when
            absent). Call ``loss.backward()`` on it.
        info_nce: InfoNCE of the contrastive query (before NNM is active), scalar.
        nnm: the NNM loss (after ``mining_epoch``, with ``use_nnm``), scalar.
        d3m_extreme: ``L_e``, cross-entropy from ``p(·|q)`` to ``p(·|q_extreme)``.
        d3m_extreme_drop: ``L_ed``, the same for the EADM-dropped extreme view.
        d3m: the D3M term added to the loss, the mean of the available extreme
            terms: ``½(L_e + L_ed)`` with EADM, ``L_e`` without.
        d3m_kl: the same mean in the KL form, ``d3m − H(p(·|q))`` (detached, for
            logging only; rounding below 0 is clamped to 0): the cross-entropy ``d3m``
            is dominated by the target's entropy and barely moves, while the KL is 0
            when the extreme views agree with the normal one (see
            :func:`aimclr.losses.d3m_loss`).
        logits: ``(N, 1 + K)`` logits of the contrastive query (column 0 = key).
        pos_mask: ``(N, 1 + K)`` bool positives of NNM, when NNM is active.
    """

    loss: torch.Tensor
    info_nce: torch.Tensor | None
    nnm: torch.Tensor | None
    d3m_extreme: torch.Tensor | None
    d3m_extreme_drop: torch.Tensor | None
    d3m: torch.Tensor | None
    logits: torch.Tensor
    pos_mask: torch.Tensor | None
    d3m_kl: torch.Tensor | None = None

    def losses(self) -> dict[str, torch.Tensor]:
        """The loss terms that are present, detached, by name (for logging).

        Keys in order: ``loss``, then ``info_nce`` or ``nnm``, then ``d3m``,
        ``d3m_kl``, ``d3m_extreme``, ``d3m_extreme_drop`` where used.
        """
        terms = {
            "loss": self.loss,
            "info_nce": self.info_nce,
            "nnm": self.nnm,
            "d3m": self.d3m,
            "d3m_kl": self.d3m_kl,
            "d3m_extreme": self.d3m_extreme,
            "d3m_extreme_drop": self.d3m_extreme_drop,
        }
        return {name: value.detach() for name, value in terms.items() if value is not None}


class AimCLR(nn.Module):
    """AimCLR (and its ablations) on top of any skeleton encoder.

    Modules (the names are those of the state dict, and of
    :func:`aimclr.checkpoint.convert_reference_pretrain`):

    * ``encoder_q`` — the encoder, ``(N, C, T, V, M) → (N, D_enc)``;
      ``head_q`` — :class:`~aimclr.nn.heads.ProjectionHead` ``D_enc → D_enc → D``;
    * ``encoder_k``, ``head_k`` — the momentum (key) copies: exact copies at
      construction (without any :class:`~aimclr.nn.eadm.EADM` inside the encoder,
      which is replaced by an identity: only queries are dropped), never trained by
      gradients, updated as ``θ_k ← m·θ_k + (1 − m)·θ_q`` (parameters only) at every
      training step;
    * ``eadm`` — :class:`~aimclr.nn.eadm.EADM` (no parameters), or ``None``;
    * ``queue`` — :class:`~aimclr.nn.queue.MomentumQueue` of ``K`` keys
      (buffers ``queue.keys`` ``(K, D)`` and ``queue.ptr``).

    One step, ``model(x_extreme, x_query, x_key, epoch=e)`` (inputs
    ``(N, C, T, V, M)``; embeddings below are L2-normalised):

    1. ``q = head_q(encoder_q(x_query))`` (normal query);
    2. with extreme views: ``f = encoder_q.features(x_extreme)``,
       ``q_e = head_q(encoder_q.pool(f))`` and, with EADM,
       ``q_ed = head_q(encoder_q.pool(eadm(f)))`` — EADM is applied in train *and*
       eval mode here, as in the reference;
    3. in training mode, under ``no_grad``: the momentum update, then
       ``k = head_k(encoder_k(x_key))`` (in eval mode ``k`` uses the key encoder as
       it is, nothing is updated);
    4. logits ``[z·k, z·queue] / τ`` for each query ``z``, against the queue as it
       was *before* this step (no sample is its own negative);
    5. the contrastive term: InfoNCE of the contrastive query; once
       ``epoch > mining_epoch`` with ``use_nnm``, NNM instead: the ``nnm_top_k``
       nearest queue entries of every available query (``q``, ``q_e``, ``q_ed``)
       become extra positives;
    6. D3M: ``L_e = H(p(·|q), p(·|q_e))``, ``L_ed = H(p(·|q), p(·|q_ed))`` with
       ``p(·|q)`` detached; ``d3m`` = their mean (``d3m_kl``, its KL form, is
       logged beside it);
    7. in training mode the keys are enqueued (all-gathered under
       ``torch.distributed``, so the batch summed over ranks must not exceed ``K``).

    Total loss ``= contrastive + d3m`` (the paper's α = β = 1).

    Validation happens once per step, at the start of :meth:`forward`: the views'
    metadata (rank, dtype, device, batch size) and the encoder's ``check_input``;
    the losses, queue and momentum update inside the step run unchecked. None of it
    reads a value or synchronises a GPU, except the opt-in ``check_finite_inputs``
    (one synchronisation) and, under ``torch.distributed`` in training, the exchange
    of the ranks' batch sizes (one small collective).

    The encoder keeps its own initialisation. For the reference's (N(0, 0.02)
    weights), re-initialise the query side and copy it to the key side:
    ``reference_init_(model.encoder_q); reference_init_(model.head_q);
    model.sync_key_encoder()`` (the reference additionally re-draws the key encoder
    independently, a quirk not reproduced).

    Ablations (the rows of the paper's Table 1, see :meth:`preset`):

    | preset       | views used       | contrastive term                       | D3M           |
    | ------------ | ---------------- | -------------------------------------- | ------------- |
    | skeletonclr  | x_query, x_key   | InfoNCE(q, k)                          | none          |
    | extreme_only | x_extreme, x_key | InfoNCE(q_e, k) (extreme view = query) | none          |
    | d3m          | all three        | InfoNCE(q, k)                          | L_e           |
    | d3m_eadm     | all three        | InfoNCE(q, k)                          | ½(L_e + L_ed) |
    | aimclr       | all three        | InfoNCE(q, k), NNM after mining_epoch  | ½(L_e + L_ed) |

    Args:
        encoder: the query encoder; default ``STGCN()`` (AimCLR's 1/4-width ST-GCN,
            hidden_dim 256, dropout 0.5). The minimum is any module mapping
            ``(N, C, T, V, M)`` to ``(N, D_enc)`` with ``encoder_dim`` given: every
            preset without EADM works. Each further member of the contract
            (:mod:`aimclr.nn.encoder`) adds a capability: ``out_channels`` gives
            ``D_enc``; ``check_input`` has every view checked by the encoder's own
            rules before any state changes; ``features`` and ``pool`` support EADM
            and :meth:`compile_features`. :class:`~aimclr.nn.stgcn.STGCN` has them
            all (:class:`~aimclr.nn.encoder.SkeletonEncoder`).
        encoder_dim: ``D_enc``; read from ``encoder.out_channels`` when not given.
        feature_dim: ``D``, the projection (and queue key) dimension.
        head_hidden_dim: hidden width of the projection head; default ``D_enc``.
        queue_size: ``K``.
        momentum: ``m`` of the key encoder, in ``[0, 1]``.
        temperature: ``τ > 0``.
        extreme_views: use the extremely augmented view ``x_extreme``.
        use_d3m: with extreme views, train them through D3M against the normal
            query (``True``), or use the extreme view as the only query of InfoNCE
            (``False``, the "extreme only" row). Requires ``extreme_views``.
        use_eadm: also embed the EADM-dropped extreme view (``L_ed``). Requires
            ``use_d3m`` and a :class:`~aimclr.nn.encoder.FeatureMapEncoder`.
        use_nnm: switch InfoNCE to NNM after ``mining_epoch``.
        nnm_top_k: neighbours per query view for NNM.
        nnm_reduction: ``"mean"`` over positives (reference) or ``"sum"`` (Eq. 9).
        mining_epoch: last epoch (1-based) of stage 1; NNM is used when
            ``epoch > mining_epoch``.
        eadm: a configured :class:`~aimclr.nn.eadm.EADM` (default ``EADM()``:
            threshold 0.7, λ 1e-4, the reference's element-wise temporal drop).
        queue_generator: random generator for the initial queue.
        check_finite_inputs: before any state changes, check that every view is
            finite and raise :class:`~aimclr.errors.NonFiniteInputError` (naming the
            views and samples) otherwise, so that a loop can skip the batch with the
            model unchanged. Without it one NaN sample in training mode reaches
            BatchNorm's running statistics, the key encoder and the queue, and later
            clean batches give NaN too. Costs one pass over the views and one GPU
            synchronisation per step, and cannot be captured in a CUDA graph. Measured
            on a shared 2-core CPU (``benchmarks/bench_checks.py``): about 0.2 ms for
            three ``(4, 3, 16, 25, 1)`` views, 0-3 % of that tiny step; about 8 ms for
            three batch-32 NTU views ``(32, 3, 50, 25, 2)``, under 1 % of a batch-32
            step (about 1.6 s). A loop can instead check its batches on the host with
            :func:`check_finite_views` before moving them to the GPU.

    Raises:
        AimCLRError: inconsistent or non-``bool`` switches, out-of-range numbers, an
            ``eadm`` that is not an :class:`~aimclr.nn.eadm.EADM`, EADM requested
            for an encoder that is not a :class:`~aimclr.nn.encoder.FeatureMapEncoder`
            (the message lists what it lacks), or an unknown ``D_enc``.

    Example:
        >>> encoder = STGCN(hidden_channels=2, hidden_dim=8)
        >>> model = AimCLR(encoder, feature_dim=4, queue_size=16)
        >>> x = torch.randn(3, 2, 3, 8, 25, 1)  # three views of (N, C, T, V, M)
        >>> out = model(x[0], x[1], x[2], epoch=1)
        >>> sorted(out.losses())
        ['d3m', 'd3m_extreme', 'd3m_extreme_drop', 'd3m_kl', 'info_nce', 'loss']
        >>> int(model.queue.ptr)  # the N = 2 keys were enqueued
        2
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        *,
        encoder_dim: int | None = None,
        feature_dim: int = 128,
        head_hidden_dim: int | None = None,
        queue_size: int = 32768,
        momentum: float = 0.999,
        temperature: float = 0.07,
        extreme_views: bool = True,
        use_d3m: bool = True,
        use_eadm: bool = True,
        use_nnm: bool = True,
        nnm_top_k: int = 1,
        nnm_reduction: Reduction = "mean",
        mining_epoch: int = 150,
        eadm: EADM | None = None,
        queue_generator: torch.Generator | None = None,
        check_finite_inputs: bool = False,
    ) -> None:
        super().__init__()
        encoder = STGCN() if encoder is None else encoder
        if not isinstance(encoder, nn.Module):
            raise AimCLRError(f"encoder must be an nn.Module, got {type(encoder).__name__}")
        check_probability(momentum, "momentum")
        check_positive(temperature, "temperature")
        switches = {"extreme_views": extreme_views, "use_d3m": use_d3m, "use_eadm": use_eadm,
                    "use_nnm": use_nnm, "check_finite_inputs": check_finite_inputs}  # fmt: skip
        for switch, value in switches.items():
            check_bool(value, switch)
        if eadm is not None and not isinstance(eadm, EADM):
            raise AimCLRError(f"eadm must be an aimclr.EADM or None, got {type(eadm).__name__}")
        if use_d3m and not extreme_views:
            raise AimCLRError("use_d3m=True needs extreme_views=True (D3M compares the views)")
        if use_eadm and not use_d3m:
            raise AimCLRError(
                "use_eadm=True needs use_d3m=True (the EADM-dropped view only enters D3M)"
            )
        if use_eadm and not isinstance(encoder, FeatureMapEncoder):
            raise AimCLRError(
                f"use_eadm=True needs an encoder with the split feature path of "
                f"aimclr.nn.FeatureMapEncoder (features(x) -> (N·M, D_enc, T', V) and "
                f"pool(feature_map, M) -> (N, D_enc)); {type(encoder).__name__} lacks "
                f"{_missing_feature_path(encoder)}: add them or pass use_eadm=False"
            )
        if nnm_reduction not in ("mean", "sum"):
            raise AimCLRError(f"nnm_reduction must be 'mean' or 'sum', got {nnm_reduction!r}")
        check_int(nnm_top_k, "nnm_top_k", 1)
        check_int(mining_epoch, "mining_epoch", 0)
        queue_size = check_int(queue_size, "queue_size", meaning="queue length K")
        if nnm_top_k > queue_size:
            raise AimCLRError(
                f"nnm_top_k must not exceed queue_size = {queue_size}, got {nnm_top_k}"
            )
        encoder_dim = encoder_width(encoder, encoder_dim)
        head_hidden_dim = encoder_dim if head_hidden_dim is None else head_hidden_dim

        self.encoder_q = encoder
        self.head_q = ProjectionHead(encoder_dim, head_hidden_dim, feature_dim)
        self.encoder_k = copy_and_freeze(self.encoder_q, without=EADM)
        self.head_k = copy_and_freeze(self.head_q)
        self.eadm = (eadm if eadm is not None else EADM()) if use_eadm else None
        self.queue = MomentumQueue(queue_size, feature_dim, generator=queue_generator)

        self.encoder_dim = encoder_dim
        self.feature_dim = feature_dim
        self.momentum = float(momentum)
        self.temperature = float(temperature)
        self.extreme_views = extreme_views
        self.use_d3m = use_d3m
        self.use_eadm = use_eadm
        self.use_nnm = use_nnm
        self.nnm_top_k = nnm_top_k
        self.nnm_reduction: Reduction = nnm_reduction
        self.mining_epoch = mining_epoch
        self.check_finite_inputs = check_finite_inputs
        # Validate views with the encoder's own rules where it has them.
        self._checks_input = isinstance(encoder, InputCheckingEncoder)

    # ------------------------------------------------------------------ presets

    @classmethod
    def preset(cls, name: PresetName, encoder: nn.Module | None = None, **kwargs: Any) -> Self:
        """Build the model of one row of the paper's Table 1.

        The one constructor per preset: ``AimCLR.preset("aimclr")`` is the full
        method, ``AimCLR.preset("skeletonclr")`` the baseline (see :data:`PRESETS`).

        Args:
            name: ``"skeletonclr"``, ``"extreme_only"``, ``"d3m"``, ``"d3m_eadm"`` or
                ``"aimclr"`` (see the class docstring for what each computes).
            encoder: the encoder (default ``STGCN()``).
            **kwargs: other constructor arguments (not the switches).

        Raises:
            AimCLRError: unknown name, or a switch passed in ``kwargs``.

        Example:
            >>> model = AimCLR.preset("skeletonclr", STGCN(hidden_channels=2, hidden_dim=8))
            >>> model.extreme_views, model.eadm is None
            (False, True)
        """
        if name not in PRESETS:
            raise AimCLRError(f"unknown preset {name!r}; expected one of {list(PRESETS)}")
        clash = sorted(set(kwargs) & set(PRESETS[name]))
        if clash:
            raise AimCLRError(f"preset {name!r} sets {clash} itself; use the constructor")
        switches = PRESETS[name]
        return cls(
            encoder,
            extreme_views=switches["extreme_views"],
            use_d3m=switches["use_d3m"],
            use_eadm=switches["use_eadm"],
            use_nnm=switches["use_nnm"],
            **kwargs,
        )

    # ------------------------------------------------------------------ checkpoints

    @classmethod
    def from_reference(
        cls,
        source: str | os.PathLike[str] | Mapping[str, torch.Tensor],
        *,
        layout: str = "ntu-rgb+d",
        dropout: float = 0.5,
        **kwargs: Any,
    ) -> Self:
        """Build a model from a reference pre-training checkpoint (364 entries).

        Encoder sizes, ``feature_dim``, the head width and ``queue_size`` are read
        from the checkpoint; queue and pointer are restored, so training can resume.

        Args:
            source: path of a reference ``epoch*_model.pt`` or its loaded state dict.
            layout: the skeleton layout the checkpoint was trained on.
            dropout: dropout of the new encoders (the reference trains with 0.5).
            **kwargs: other constructor arguments (switches, momentum, ...).

        Raises:
            AimCLRError: ``source`` is neither a path nor a mapping, or the checkpoint
                does not fit (see :mod:`aimclr.checkpoint`).
        """
        if not isinstance(source, (str, os.PathLike, Mapping)):
            raise AimCLRError(
                "source must be the path of a reference checkpoint or its loaded state dict "
                f"(a mapping of names to tensors), got {type(source).__name__}"
            )
        state = strip_module_prefix(
            source if isinstance(source, Mapping) else load_state_dict_file(source)
        )
        encoder, head = load_reference_encoder(state, "encoder_q.", layout, dropout)
        if not isinstance(head, ProjectionHead):
            raise AimCLRError("the checkpoint has no MLP head (encoder_q.fc.0, encoder_q.fc.2)")
        queue = state.get("queue")
        if queue is None or queue.dim() != 2:
            raise AimCLRError("the checkpoint has no queue entry of layout (D, K)")
        model = cls(
            encoder,
            feature_dim=head.out_dim,
            head_hidden_dim=int(head.fc1.out_features),
            queue_size=int(queue.shape[1]),
            **kwargs,
        )
        model.load_reference_state_dict(state)
        return model

    def load_reference_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a reference pre-training state dict into this model (strict).

        Converts with :func:`aimclr.checkpoint.convert_reference_pretrain` (queue
        transposed to ``(K, D)``) and loads every tensor: both encoders, both heads,
        queue and pointer. The key encoder is loaded as stored (the reference's is
        not a copy of the query encoder).

        Raises:
            AimCLRError: ``state_dict`` is not a mapping, or names or shapes do not match
                this model; nothing is loaded then.
        """
        if not isinstance(state_dict, Mapping):
            raise AimCLRError(
                "state_dict must be a mapping of names to tensors (a loaded reference "
                f"checkpoint), got {type(state_dict).__name__}"
            )
        converted = convert_reference_pretrain(state_dict)
        # load_state_dict copies every matching tensor before it reports a mismatch, so
        # check names and shapes first: a failed load leaves the model as it was.
        own = self.state_dict()
        missing = sorted(own.keys() - converted.keys())
        unexpected = sorted(converted.keys() - own.keys())
        reshaped = [f"{name}: {tuple(converted[name].shape)} in the checkpoint, "
                    f"{tuple(tensor.shape)} here" for name, tensor in own.items()
                    if name in converted and converted[name].shape != tensor.shape]  # fmt: skip
        if missing or unexpected or reshaped:
            raise AimCLRError(
                "cannot load the reference checkpoint into this model (nothing was loaded): "
                f"missing {missing[:5]}, unexpected {unexpected[:5]}, shapes differ "
                f"{reshaped[:5]}"
            )
        self.load_state_dict(converted, strict=True)

    @torch.no_grad()
    def sync_key_encoder(self) -> None:
        """Make the key encoder and head exact copies of the query ones again.

        Call after re-initialising the query side (e.g. with
        :func:`~aimclr.nn.stgcn.reference_init_`); copies parameters and buffers.
        """
        update_momentum(self.encoder_q, self.encoder_k, 0.0, buffers=True)
        update_momentum(self.head_q, self.head_k, 0.0, buffers=True)

    def compile_features(self, **options: Any) -> None:
        """``torch.compile`` the backbone (``features``) of both encoders, in place.

        The backbone is most of a step's work and traces as one graph; heads, losses,
        queue and EADM stay eager. ``mode="reduce-overhead"`` replays it as CUDA
        graphs, which pays off while a GPU step is bound by kernel launches (batches up
        to about 128 of the reference configuration). Weights, ``state_dict`` and
        checkpoints do not change (a checkpoint loads into the same modules before or
        after this call). Compilation happens at the first call; do this before
        wrapping the model in ``DistributedDataParallel``.

        On a CPU the eager encoder is the faster one: its hand-written GEMM layers and
        oneDNN convolutions ran a training-mode forward + backward 1.7x faster than the
        compiled encoder (2 threads, batch 32, ``benchmarks/results.md``), so a model on
        the CPU gets a :class:`UserWarning`.

        Args:
            **options: passed to :func:`torch.compile`, e.g. ``mode="reduce-overhead"``.

        Raises:
            AimCLRError: the encoder is not a :class:`~aimclr.nn.encoder.FeatureMapEncoder`
                (it has no ``features``/``pool`` split to compile), or
                ``mode="reduce-overhead"`` (CUDA graphs) for a model not on a CUDA device.
        """
        encoders: list[FeatureMapEncoder] = []
        for encoder in (self.encoder_q, self.encoder_k):
            if not isinstance(encoder, FeatureMapEncoder):
                raise AimCLRError(
                    f"compile_features needs encoders with the split feature path of "
                    f"aimclr.nn.FeatureMapEncoder (e.g. aimclr.nn.STGCN); "
                    f"{type(encoder).__name__} lacks {_missing_feature_path(encoder)}"
                )
            encoders.append(encoder)
        device = self.queue.keys.device
        if options.get("mode") == "reduce-overhead" and device.type != "cuda":
            raise AimCLRError(
                f"compile_features(mode='reduce-overhead') records CUDA graphs, but the model "
                f"is on {device}; move it to a CUDA device first or use mode='default'"
            )
        if device.type == "cpu":
            warnings.warn(
                "torch.compile of the encoders on a CPU: the eager encoder ran a training "
                "step's forward + backward 1.7x faster than the compiled one (2 threads, "
                "batch 32); compile on a GPU",
                UserWarning,
                stacklevel=2,
            )
        for checked in encoders:  # wrapped only once every check passed
            checked.features = torch.compile(checked.features, **options)  # type: ignore[method-assign]

    # ------------------------------------------------------------------ inference

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled query-encoder features for evaluation (kNN, linear probe).

        Args:
            x: skeleton sequences ``(N, C, T, V, M)``.

        Returns:
            ``(N, D_enc)``, before the projection head (as the reference's linear
            evaluation). Wrap in ``torch.no_grad()`` and call ``eval()`` as needed.
        """
        out: torch.Tensor = self.encoder_q(x)
        return out

    def nnm_active(self, epoch: int) -> bool:
        """Whether the contrastive term is NNM at 1-based ``epoch``.

        Raises:
            AimCLRError: ``epoch`` is not an int >= 1.
        """
        return self.use_nnm and check_int(epoch, "epoch", 1) > self.mining_epoch

    # ------------------------------------------------------------------ training step

    def forward(
        self,
        x_extreme: torch.Tensor | None,
        x_query: torch.Tensor | None,
        x_key: torch.Tensor,
        *,
        epoch: int = 1,
    ) -> AimCLROutput:
        """One pre-training step's forward pass (see the class docstring).

        Args:
            x_extreme: extremely augmented view ``(N, C, T, V, M)``; needed with
                ``extreme_views``, ignored otherwise (may be ``None``).
            x_query: normally augmented query view ``(N, C, T, V, M)``; not used by
                the ``extreme_only`` configuration (may be ``None`` there).
            x_key: normally augmented key view ``(N, C, T, V, M)``, ``1 <= N <= K``.
            epoch: 1-based epoch; NNM is used when ``epoch > mining_epoch``.

        Returns:
            :class:`AimCLROutput` with every loss term.

        Raises:
            AimCLRError: a needed view is missing, the views differ in batch size,
                dtype or device (or are not on the model's device), ``N = 0`` or
                ``N > K``, a bad ``epoch``, or the encoder's ``check_input`` rejects a
                view (the message starts with the view's name, e.g. ``x_extreme:``);
                raised before any state changes. Under ``torch.distributed`` in
                training, also when the batch summed over ranks exceeds ``K`` or
                another rank's views were rejected: every rank raises, none waits in a
                collective.
            NonFiniteInputError: with ``check_finite_inputs``, a view holds NaN or
                inf; raised before any state changes.
        """
        extreme_is_query = self.extreme_views and not self.use_d3m  # the "extreme only" row
        x_q, x_e, counts = self._checked_views(x_extreme, x_query, x_key, epoch, extreme_is_query)

        # From here on nothing is validated again: the views passed the checks above, and
        # the losses, queue and momentum update are called through their unchecked cores.
        # 1-2. Queries, in the reference's order (normal view first: BatchNorm statistics).
        z_query = None if x_q is None else self._project(x_q)
        z_extreme, z_extreme_drop = (None, None) if x_e is None else self._extreme_queries(x_e)
        # 3. Keys: momentum update first (training only), then the key forward.
        with torch.no_grad():
            if self.training:
                core.update_parameters_(self.encoder_q, self.encoder_k, self.momentum)
                core.update_parameters_(self.head_q, self.head_k, self.momentum)
            key = F.normalize(self.head_k(self.encoder_k(x_key)), dim=1)
        # 4. Logits against the queue before this step's keys are enqueued.
        queue = self.queue.negatives()  # full precision: NNM ranks neighbours with it
        lower = autocast_dtype(queue.device.type)
        # Every logit product with the queue runs in the bfloat16 autocast dtype: cast
        # once, not six times (float16 products run in float32, see contrastive_logits).
        negatives = queue if lower in (None, torch.float16) else queue.to(lower)
        query = z_extreme if extreme_is_query else z_query
        if query is None:  # unreachable: every configuration has a query view
            raise AimCLRError("no query view to contrast; check the model switches")
        logits = core.logits(query, key, negatives, self.temperature)
        log_p = core.log_probs(logits)  # shared by InfoNCE / NNM and the D3M target

        # 5. Contrastive term.
        info_nce = nnm = pos_mask = None
        if self.nnm_active(epoch):
            candidates = [z for z in (z_query, z_extreme, z_extreme_drop) if z is not None]
            pos_mask = core.mine(candidates, queue, self.nnm_top_k)
            nnm = core.nnm(log_p, pos_mask, self.nnm_reduction)
            contrastive = nnm
        else:
            info_nce = core.info_nce(log_p)
            contrastive = info_nce

        # 6. D3M: the normal view's distribution is the (detached) target.
        d3m_e = d3m_ed = d3m = d3m_kl = None
        if self.use_d3m and z_extreme is not None:
            target_log_p = log_p.detach()
            target = target_log_p.exp()
            d3m_e = self._d3m(z_extreme, key, negatives, target_log_p, target)
            d3m = d3m_e
            if z_extreme_drop is not None:
                d3m_ed = self._d3m(z_extreme_drop, key, negatives, target_log_p, target)
                d3m = 0.5 * (d3m_e + d3m_ed)
            with torch.no_grad():  # both terms share the target: KL = H(p, q) − H(p) >= 0
                d3m_kl = (d3m - core.entropy(target_log_p, target)).clamp_min(0.0)
        loss = contrastive if d3m is None else contrastive + d3m

        # 7. Enqueue the keys (gathered over ranks under torch.distributed).
        if self.training:
            self.queue._write(key, counts)
        return AimCLROutput(
            loss=loss,
            info_nce=info_nce,
            nnm=nnm,
            d3m_extreme=d3m_e,
            d3m_extreme_drop=d3m_ed,
            d3m=d3m,
            logits=logits,
            pos_mask=pos_mask,
            d3m_kl=d3m_kl,
        )

    def _checked_views(
        self,
        x_extreme: torch.Tensor | None,
        x_query: torch.Tensor | None,
        x_key: torch.Tensor,
        epoch: int,
        extreme_is_query: bool,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, list[int] | None]:
        """The query and extreme views :meth:`forward` uses, validated on every rank.

        Returns them with the ranks' batch sizes under ``torch.distributed`` in training
        (``None`` otherwise). There the ranks exchange their batch sizes before any
        state changes, so that a bad view on one rank, or a batch summed over ranks
        larger than ``K``, stops every rank (none is left waiting in a collective).
        """
        batch = 0
        try:
            check_int(epoch, "epoch", 1)
            x_q = None if extreme_is_query else _required(x_query, "x_query")
            x_e = _required(x_extreme, "x_extreme") if self.extreme_views else None
            views = {"x_key": x_key, "x_query": x_q, "x_extreme": x_e}
            present = {k: v for k, v in views.items() if v is not None}
            batch = _check_views(present, self.queue.size, self.queue.keys.device)
            if self._checks_input:  # the encoder's own layout rules, per view
                _check_encoder_input(cast(InputCheckingEncoder, self.encoder_q), present)
            if self.check_finite_inputs:
                check_finite(present, "; nothing was changed, the batch can be skipped")
            error = None
        except AimCLRError as rejected:
            error = rejected
        if not (self.training and is_distributed()):
            if error is not None:
                raise error
            return x_q, x_e, None
        counts = gather_row_counts(batch, self.queue.keys.device, error)
        if sum(counts) > self.queue.size:
            raise AimCLRError(
                f"the batch summed over ranks, {' + '.join(map(str, counts))} = {sum(counts)}, "
                f"exceeds queue_size K = {self.queue.size}: the keys of one step from all "
                "ranks must fit in the queue"
            )
        return x_q, x_e, counts

    def _encoded(self, features: torch.Tensor, call: str) -> torch.Tensor:
        """``features`` after checking the encoder returned ``(N, D_enc)`` (shape only)."""
        if features.dim() != 2 or features.shape[1] != self.encoder_dim:
            raise AimCLRError(
                f"the encoder's {call} must return pooled features (N, D_enc) with D_enc = "
                f"{self.encoder_dim} (the width AimCLR was built for), got {describe(features)}"
            )
        return features

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head_q(self._encoded(self.encoder_q(x), "forward(x)")), dim=1)

    def _extreme_queries(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.eadm is None:
            return self._project(x), None
        # One backbone pass; both embeddings share the feature map (as the reference).
        encoder = cast(FeatureMapEncoder, self.encoder_q)  # use_eadm needs one
        persons = x.shape[-1]
        feature_map = encoder.features(x)
        pooled = self._encoded(encoder.pool(feature_map, persons), "pool(feature_map, M)")
        dropped = encoder.pool(self.eadm(feature_map, force=True), persons)
        return (
            F.normalize(self.head_q(pooled), dim=1),
            F.normalize(self.head_q(dropped), dim=1),
        )

    def _d3m(
        self,
        z: torch.Tensor,
        key: torch.Tensor,
        negatives: torch.Tensor,
        target_log_p: torch.Tensor,
        target: torch.Tensor,
    ) -> torch.Tensor:
        """``H(p(·|q), p(·|z))`` for the query ``z`` against the shared target."""
        log_q = core.log_probs(core.logits(z, key, negatives, self.temperature))
        return core.d3m(log_q, target_log_p, target)

    def extra_repr(self) -> str:
        """The configuration, for ``repr``."""
        return (
            f"feature_dim={self.feature_dim}, queue_size={self.queue.size}, "
            f"momentum={self.momentum}, temperature={self.temperature}, "
            f"extreme_views={self.extreme_views}, use_d3m={self.use_d3m}, "
            f"use_eadm={self.use_eadm}, use_nnm={self.use_nnm}, nnm_top_k={self.nnm_top_k}, "
            f"nnm_reduction={self.nnm_reduction!r}, mining_epoch={self.mining_epoch}, "
            f"check_finite_inputs={self.check_finite_inputs}"
        )


def check_finite_views(views: Mapping[str, torch.Tensor | None]) -> None:
    """Raise :class:`~aimclr.errors.NonFiniteInputError` if a view holds NaN or inf.

    What ``AimCLR(check_finite_inputs=True)`` runs before a step changes any state;
    call it yourself on a batch (e.g. on the host, before it is moved to the GPU) to
    skip bad data without that option. One pass over the data and one
    synchronisation (one boolean per view comes back to the host); the error names
    the views and the samples (first axis) that hold non-finite values.

    Args:
        views: tensors by name, e.g. ``{"x_query": x_q, "x_key": x_k}``; ``None``
            entries are skipped. All on one device.

    Raises:
        NonFiniteInputError: a view holds NaN or inf.
        AimCLRError: a view is not a tensor, or the views are on different devices.

    Example:
        >>> x = torch.zeros(3, 3, 4, 25, 1)
        >>> check_finite_views({"x": x})  # nothing to report
        >>> x[1, 0, 2] = float("nan")
        >>> check_finite_views({"x": x})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        aimclr.errors.NonFiniteInputError: non-finite values (NaN or inf) in x (...) at index [1]
    """
    present = {name: check_tensor(x, name) for name, x in views.items() if x is not None}
    _require_same(present, "device", lambda x: x.device)
    check_finite(present)


def _check_encoder_input(encoder: InputCheckingEncoder, views: Mapping[str, torch.Tensor]) -> None:
    """Run the encoder's ``check_input`` on every view; errors start with the view's name."""
    for name, view in views.items():
        try:
            encoder.check_input(view)
        except (ValueError, TypeError) as error:  # AimCLRError is a ValueError
            raise AimCLRError(f"{name}: {error}") from error


def _missing_feature_path(encoder: object) -> str:
    return " and ".join(name for name in ("features", "pool") if not hasattr(encoder, name))


def _required(x: torch.Tensor | None, name: str) -> torch.Tensor:
    if x is None:
        raise AimCLRError(f"{name} is required by this configuration, got None")
    return x


def _require_same(
    views: Mapping[str, torch.Tensor],
    what: str,
    key: Callable[[torch.Tensor], object],
    shown: Callable[[torch.Tensor], object] | None = None,
) -> None:
    """Raise unless ``key`` gives the same value for every view."""
    if not views:
        return
    first = key(next(iter(views.values())))
    if any(key(x) != first for x in views.values()):
        described = ", ".join(f"{n} {(shown or key)(x)}" for n, x in views.items())
        raise AimCLRError(f"all views must have the same {what}, got {described}")


def _check_views(views: dict[str, torch.Tensor], queue_size: int, device: torch.device) -> int:
    """Check the views' layout, batch size, dtype and device; return the batch size."""
    for name, x in views.items():
        check_tensor(x, name)
        if x.dim() != 5:
            raise AimCLRError(f"{name} must have layout (N, C, T, V, M), got {describe(x)}")
        check_floating(x, name)
    _require_same(views, "batch size N", lambda x: x.shape[0], lambda x: tuple(x.shape))
    _require_same(views, "dtype", lambda x: x.dtype)
    _require_same(views, "device", lambda x: x.device)
    first = next(iter(views.values()))
    if first.device != device:
        raise AimCLRError(
            f"the views (N, C, T, V, M) must be on the model's device {device}, got "
            f"{describe(first)} on {first.device}"
        )
    batch = first.shape[0]
    if not 1 <= batch <= queue_size:
        raise AimCLRError(
            f"the batch size N = {batch} must lie in [1, queue_size K = {queue_size}]: the "
            "keys of one step must fit in the queue, and an empty batch has no loss"
        )
    return batch
