r"""Contrastive losses of AimCLR: InfoNCE, D3M and NNM.

All losses work on logits over ``[positive key, queue]``, built by
:func:`contrastive_logits`:

* ``N`` — batch size, ``D`` — embedding dimension, ``K`` — queue length;
* ``logits[n, 0]`` $= q_n \cdot k_n / \tau$ (the positive key) and
  ``logits[n, 1 + i]`` $= q_n \cdot m_i / \tau$ (queue entry $i$), shape ``(N, 1 + K)``;
* $p(\cdot \mid q) = \operatorname{softmax}(\text{logits})$ over the ``1 + K`` candidates.

Log-probabilities are always computed with ``log_softmax`` (never
``log(softmax)``) and in float32 when the logits are float16 / bfloat16, so the
losses stay finite under mixed precision. Every loss returns a float32 (or
float64) scalar, the mean over the batch.

Paper: Guo et al., AAAI 2022, Eqs. 1 (InfoNCE), 4-8 (D3M) and 9 (NNM).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from aimclr._autocast import no_autocast
from aimclr._checks import check_floating, check_positive, check_tensor, describe
from aimclr.errors import AimCLRError

__all__ = [
    "D3MLoss",
    "InfoNCELoss",
    "NNMLoss",
    "Reduction",
    "contrastive_logits",
    "d3m_loss",
    "d3m_pair_loss",
    "info_nce",
    "info_nce_from_logits",
    "mine_neighbors",
    "nnm_loss",
]

Reduction = Literal["mean", "sum"]


# --------------------------------------------------------------------------- functional


def contrastive_logits(
    query: torch.Tensor,
    positive_key: torch.Tensor,
    queue: torch.Tensor,
    temperature: float = 0.07,
) -> torch.Tensor:
    """Logits of each query against its positive key and the queue.

    Computes ``[q·k, q·Mᵀ] / τ``; column 0 is the positive. Inputs are used as
    given (normalise them first for cosine similarities). Mixed dtypes are
    promoted; under autocast the matrix products follow the autocast dtype, and the
    division by ``τ`` runs in float32 (float64 inputs stay float64), so half-precision
    logits cannot overflow float16.

    Args:
        query: ``(N, D)`` query embeddings ``q``.
        positive_key: ``(N, D)`` key embeddings ``k``, one positive per query.
        queue: ``(K, D)`` negatives ``M`` (e.g. :meth:`MomentumQueue.negatives`).
        temperature: ``τ > 0``.

    Returns:
        ``(N, 1 + K)`` logits, float32 or float64.

    Raises:
        AimCLRError: non-floating inputs, wrong layouts, mismatched ``N`` or ``D``,
            or a non-positive temperature.

    Example:
        >>> q = torch.tensor([[1.0, 0.0]])
        >>> k = torch.tensor([[1.0, 0.0]])
        >>> queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
        >>> contrastive_logits(q, k, queue, temperature=0.5)
        tensor([[ 2.,  0., -2.]])
    """
    _check_embeddings(query, "query", "(N, D)")
    _check_embeddings(positive_key, "positive_key", "(N, D)")
    _check_embeddings(queue, "queue", "(K, D)")
    check_positive(temperature, "temperature")
    if positive_key.shape != query.shape:
        raise AimCLRError(
            f"positive_key must have the layout (N, D) of query {tuple(query.shape)}, "
            f"got {describe(positive_key)}"
        )
    if queue.shape[1] != query.shape[1]:
        raise AimCLRError(
            f"queue must have layout (K, D) with D = {query.shape[1]} (the query "
            f"dimension), got {describe(queue)}"
        )
    dtype = torch.promote_types(torch.promote_types(query.dtype, positive_key.dtype), queue.dtype)
    query, positive_key, queue = query.to(dtype), positive_key.to(dtype), queue.to(dtype)
    # n: batch, d: embedding dimension, k: queue entry.
    positive = torch.einsum("nd,nd->n", query, positive_key).unsqueeze(1)
    negative = torch.einsum("nd,kd->nk", query, queue)
    # Divide in float32 at least: q·k / τ of half-precision products overflows float16
    # for |q·k| > 65504·τ (unnormalised inputs) and loses bits in bfloat16.
    out_dtype = torch.promote_types(positive.dtype, torch.float32)
    return torch.cat([positive.to(out_dtype), negative.to(out_dtype)], dim=1) / temperature


def info_nce_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """InfoNCE (paper Eq. 1) from ``(N, 1 + K)`` logits whose column 0 is the positive.

    Equals ``cross_entropy(logits, zeros(N))``: ``−mean_n log p(k_n | q_n)``.

    Args:
        logits: ``(N, 1 + K)`` from :func:`contrastive_logits`.

    Returns:
        Scalar loss.

    Example:
        >>> logits = torch.zeros(2, 5)  # all candidates equally likely
        >>> round(float(info_nce_from_logits(logits)), 4)  # log(5)
        1.6094
    """
    log_p = _log_probs(logits, "logits")
    return -log_p[:, 0].mean()


def info_nce(
    query: torch.Tensor,
    positive_key: torch.Tensor,
    queue: torch.Tensor,
    temperature: float = 0.07,
) -> torch.Tensor:
    r"""InfoNCE loss (paper Eq. 1) of queries against positive keys and a queue.

    $$
    L = -\frac{1}{N} \sum_n \log \frac{\exp(q_n \cdot k_n / \tau)}
        {\exp(q_n \cdot k_n / \tau) + \sum_i \exp(q_n \cdot m_i / \tau)}
    $$

    Args:
        query: ``(N, D)`` query embeddings.
        positive_key: ``(N, D)`` positive key embeddings.
        queue: ``(K, D)`` negatives.
        temperature: ``τ > 0``.

    Returns:
        Scalar loss.

    Raises:
        AimCLRError: see :func:`contrastive_logits`.

    Example:
        >>> q = torch.tensor([[1.0, 0.0]])
        >>> queue = torch.tensor([[1.0, 0.0]])  # the negative equals the positive
        >>> round(float(info_nce(q, q, queue)), 4)  # log(2)
        0.6931
    """
    return info_nce_from_logits(contrastive_logits(query, positive_key, queue, temperature))


def d3m_loss(target_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Distributional divergence term of D3M (paper Eqs. 7-8).

    Cross-entropy from the target distribution
    $p = \operatorname{softmax}(\text{target logits})$ (detached: no gradient flows
    into the target) to $\tilde p = \operatorname{softmax}(\text{logits})$:
    $L = -\frac{1}{N} \sum_n \sum_j p_{nj} \log \tilde p_{nj}$. In AimCLR the target is
    the normally augmented query and ``logits`` belong to the extreme view
    (``L_e``) or its EADM-dropped version (``L_ed``).

    Args:
        target_logits: ``(N, 1 + K)`` logits of the target view.
        logits: ``(N, 1 + K)`` logits of the view being trained.

    Returns:
        Scalar loss.

    Raises:
        AimCLRError: non-floating inputs, wrong layout or mismatched shapes.

    Example:
        >>> t = torch.tensor([[0.0, 0.0]])
        >>> round(float(d3m_loss(t, t)), 4)  # entropy of a fair coin, log(2)
        0.6931
    """
    log_p = _log_probs(logits, "logits")
    target_log_p = _log_probs(target_logits, "target_logits")
    if target_log_p.shape != log_p.shape:
        raise AimCLRError(
            f"target_logits and logits must have the same layout (N, 1 + K), got "
            f"{describe(target_logits)} and {describe(logits)}"
        )
    target = target_log_p.detach().exp()
    return -(target * log_p).sum(dim=1).mean()


def d3m_pair_loss(
    target_logits: torch.Tensor,
    logits_extreme: torch.Tensor,
    logits_extreme_drop: torch.Tensor,
) -> torch.Tensor:
    """The combined D3M term ``L_D = ½(L_e + L_ed)`` (paper Eq. 8).

    Args:
        target_logits: ``(N, 1 + K)`` logits of the normal view (target).
        logits_extreme: ``(N, 1 + K)`` logits of the extreme view.
        logits_extreme_drop: ``(N, 1 + K)`` logits of the EADM-dropped extreme view.

    Returns:
        Scalar loss.

    Example:
        >>> t = torch.zeros(3, 4)
        >>> round(float(d3m_pair_loss(t, t, t)), 4)  # log(4)
        1.3863
    """
    loss_extreme = d3m_loss(target_logits, logits_extreme)
    loss_extreme_drop = d3m_loss(target_logits, logits_extreme_drop)
    return 0.5 * (loss_extreme + loss_extreme_drop)


@torch.no_grad()
def mine_neighbors(
    queries: Sequence[torch.Tensor], queue: torch.Tensor, top_k: int = 1
) -> torch.Tensor:
    """Positive mask of nearest-neighbour mining (NNM, paper Eq. 9).

    For every query view ``z`` (AimCLR: ``q``, ``q_extreme``, ``q_extreme_drop``)
    the ``top_k`` queue entries with the largest similarity ``z · m_i``
    (un-tempered) are positives; the mask is their union, plus column 0 (the
    positive key), aligned with the ``(N, 1 + K)`` logits. Look neighbours up in
    the queue *before* enqueueing the current keys. Similarities are computed in
    float32 (float64 inputs: float64) even under autocast, so that close neighbours
    are ranked as in full precision.

    Args:
        queries: one or more ``(N, D)`` query embeddings of the same batch.
        queue: ``(K, D)`` negatives.
        top_k: neighbours per query view, ``1 <= top_k <= K``.

    Returns:
        ``(N, 1 + K)`` bool mask; ``mask[:, 0]`` is always ``True``.

    Raises:
        AimCLRError: no queries, wrong layouts, mismatched shapes or a bad ``top_k``.

    Example:
        >>> queue = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
        >>> q = torch.tensor([[0.9, 0.1]])
        >>> q_extreme = torch.tensor([[0.1, 0.9]])
        >>> mine_neighbors([q, q_extreme], queue).int()
        tensor([[1, 1, 1, 0]], dtype=torch.int32)
    """
    if isinstance(queries, torch.Tensor) or len(queries) == 0:
        raise AimCLRError(
            "queries must be a non-empty sequence of (N, D) tensors, e.g. [q, q_extreme]"
        )
    _check_embeddings(queue, "queue", "(K, D)")
    first = queries[0]
    for i, z in enumerate(queries):
        _check_embeddings(z, f"queries[{i}]", "(N, D)")
        if z.shape != first.shape or z.shape[1] != queue.shape[1]:
            raise AimCLRError(
                f"queries[{i}] must have layout (N, D) = {tuple(first.shape)} with D = "
                f"{queue.shape[1]} (the queue dimension), got {describe(z)}"
            )
    size = queue.shape[0]
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= size:
        raise AimCLRError(f"top_k must be an int in [1, K = {size}], got {top_k!r}")
    mask = torch.zeros(first.shape[0], 1 + size, dtype=torch.bool, device=first.device)
    mask[:, 0] = True
    # Rank in float32 at least, outside autocast: bfloat16 similarities keep ~3 digits,
    # so near neighbours in a large queue would tie and top-k would pick among them.
    dtype = torch.promote_types(torch.promote_types(first.dtype, queue.dtype), torch.float32)
    with no_autocast(first.device.type):
        for z in queries:
            similarity = z.to(dtype) @ queue.to(dtype).T
            nearest = similarity.topk(top_k, dim=1).indices
            mask.scatter_(1, nearest + 1, True)
    return mask


def nnm_loss(
    logits: torch.Tensor, pos_mask: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    r"""Multi-positive InfoNCE of nearest-neighbour mining (NNM, paper Eq. 9).

    With $P_n$ the positives of sample $n$ (``pos_mask[n]``) and
    $\log p = \log \operatorname{softmax}(\text{logits})$ (computed as ``log_softmax``),
    the per-sample loss is

    * ``"mean"`` (reference code): $-\frac{1}{|P_n|} \sum_{j \in P_n} \log p_{nj}$;
    * ``"sum"`` (paper Eq. 9): $-\sum_{j \in P_n} \log p_{nj}$;

    and the result is its mean over the batch. With only column 0 positive both
    equal InfoNCE. A row without positives contributes 0.

    Args:
        logits: ``(N, 1 + K)`` logits of the normal query.
        pos_mask: ``(N, 1 + K)`` bool mask from :func:`mine_neighbors`.
        reduction: ``"mean"`` or ``"sum"`` over each sample's positives.

    Returns:
        Scalar loss.

    Raises:
        AimCLRError: bad layouts or dtypes, or an unknown ``reduction``.

    Example:
        >>> logits = torch.zeros(1, 4)
        >>> mask = torch.tensor([[True, True, False, False]])
        >>> round(float(nnm_loss(logits, mask)), 4), round(float(nnm_loss(logits, mask, "sum")), 4)
        (1.3863, 2.7726)
    """
    log_p = _log_probs(logits, "logits")
    check_tensor(pos_mask, "pos_mask")
    if pos_mask.dtype != torch.bool:
        raise AimCLRError(
            f"pos_mask must be a bool tensor (N, 1 + K); convert 0/1 masks with "
            f"mask.bool(), got {describe(pos_mask)}"
        )
    if pos_mask.shape != logits.shape:
        raise AimCLRError(
            f"pos_mask must have the layout (N, 1 + K) of logits {tuple(logits.shape)}, "
            f"got {describe(pos_mask)}"
        )
    if reduction not in ("mean", "sum"):
        raise AimCLRError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    # where() rather than a product: a -inf logit outside the mask must not give NaN.
    per_sample = torch.where(pos_mask, log_p, torch.zeros_like(log_p)).sum(dim=1)
    if reduction == "mean":
        per_sample = per_sample / pos_mask.sum(dim=1).clamp(min=1).to(per_sample.dtype)
    return -per_sample.mean()


# --------------------------------------------------------------------------- modules


class InfoNCELoss(nn.Module):
    """Module form of :func:`info_nce`.

    Args:
        temperature: ``τ > 0`` (paper: 0.07).

    Shape:
        - query: ``(N, D)``; positive_key: ``(N, D)``; queue: ``(K, D)``.
        - output: scalar.

    Example:
        >>> loss = InfoNCELoss(temperature=0.07)
        >>> q = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
        >>> loss(q, q, torch.nn.functional.normalize(torch.randn(16, 8), dim=1)).shape
        torch.Size([])
    """

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        self.temperature = float(temperature)

    def forward(
        self, query: torch.Tensor, positive_key: torch.Tensor, queue: torch.Tensor
    ) -> torch.Tensor:
        """Return :func:`info_nce` of the inputs at this module's temperature."""
        return info_nce(query, positive_key, queue, self.temperature)

    def extra_repr(self) -> str:
        """The temperature, for ``repr``."""
        return f"temperature={self.temperature}"


class D3MLoss(nn.Module):
    """Module form of the D3M term.

    With one extreme view returns :func:`d3m_loss`; with two (extreme and
    EADM-dropped) returns :func:`d3m_pair_loss`, ``½(L_e + L_ed)``.

    Shape:
        - target_logits, logits_extreme, logits_extreme_drop: ``(N, 1 + K)``.
        - output: scalar.
    """

    def forward(
        self,
        target_logits: torch.Tensor,
        logits_extreme: torch.Tensor,
        logits_extreme_drop: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return the D3M term; see the class docstring."""
        if logits_extreme_drop is None:
            return d3m_loss(target_logits, logits_extreme)
        return d3m_pair_loss(target_logits, logits_extreme, logits_extreme_drop)


class NNMLoss(nn.Module):
    """Module form of :func:`nnm_loss`.

    Args:
        reduction: ``"mean"`` (reference code) or ``"sum"`` (paper Eq. 9) over
            each sample's positives.

    Shape:
        - logits: ``(N, 1 + K)``; pos_mask: ``(N, 1 + K)`` bool.
        - output: scalar.
    """

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise AimCLRError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction: Reduction = reduction

    def forward(self, logits: torch.Tensor, pos_mask: torch.Tensor) -> torch.Tensor:
        """Return :func:`nnm_loss` with this module's reduction."""
        return nnm_loss(logits, pos_mask, self.reduction)

    def extra_repr(self) -> str:
        """The reduction, for ``repr``."""
        return f"reduction={self.reduction!r}"


# --------------------------------------------------------------------------- helpers


def _check_embeddings(x: torch.Tensor, name: str, layout: str) -> None:
    check_tensor(x, name)
    if x.dim() != 2:
        raise AimCLRError(f"{name} must have layout {layout}, got {describe(x)}")
    check_floating(x, name)


def _log_probs(logits: torch.Tensor, name: str) -> torch.Tensor:
    """``log_softmax`` over candidates, in float32 for half-precision logits."""
    _check_embeddings(logits, name, "(N, 1 + K)")
    if logits.shape[1] < 1:
        raise AimCLRError(f"{name} must have layout (N, 1 + K), got {describe(logits)}")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return F.log_softmax(logits, dim=1)
