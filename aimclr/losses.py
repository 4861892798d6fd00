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
float64) scalar, the mean over the batch; an empty batch (``N = 0``) is an error,
not a NaN.

Every public function validates its arguments (metadata only: no value is read, so
nothing synchronises a GPU). The opt-in ``on_unnormalized`` checks of the functions
that take embeddings read values and synchronise once per call.

Papers:

* AimCLR: Guo et al., AAAI 2022, [arXiv:2112.03590](https://arxiv.org/abs/2112.03590),
  Eqs. 1 (InfoNCE), 4-8 (D3M) and 9 (NNM);
* InfoNCE: van den Oord et al., "Representation Learning with Contrastive Predictive
  Coding", 2018, [arXiv:1807.03748](https://arxiv.org/abs/1807.03748);
* the queue of negatives, MoCo: He et al., CVPR 2020,
  [arXiv:1911.05722](https://arxiv.org/abs/1911.05722).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Literal, ParamSpec, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from aimclr import _cores as core
from aimclr._checks import (
    check_bool,
    check_floating,
    check_int,
    check_positive,
    check_same_device,
    check_tensor,
    describe,
)
from aimclr.errors import AimCLRError

__all__ = [
    "D3MLoss",
    "Divergence",
    "InfoNCELoss",
    "NNMLoss",
    "Reduction",
    "Unnormalized",
    "contrastive_logits",
    "d3m_loss",
    "d3m_pair_loss",
    "info_nce",
    "info_nce_from_logits",
    "mine_neighbors",
    "nnm_loss",
]

Reduction = Literal["mean", "sum"]
"""How NNM combines a sample's positives: their mean (reference code) or sum (Eq. 9)."""

Divergence = Literal["cross_entropy", "kl"]
"""The form of D3M: ``H(p, q)`` (the paper's and the reference's loss) or ``KL(p ‖ q)``."""

Unnormalized = Literal["ignore", "warn", "raise"]
"""What the embedding functions do with rows that are not unit vectors (opt-in check)."""

UNIT_NORM_TOLERANCE = 1e-2
"""Rows whose L2 norm differs from 1 by more than this count as unnormalised."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _roles_by_keyword(
    usage: str, leading: int = 0
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Refuse positional tensors with a message that shows the keyword call.

    The keyword-only signature alone would already refuse them, with Python's bare
    ``takes 0 positional arguments``; this says which role each tensor has and that
    the order of aimclr 0.1 (target first) is gone. ``leading`` positional arguments
    (``self``) are allowed.
    """

    def decorate(function: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(function)
        def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            if len(args) > leading:
                raise AimCLRError(
                    f"{function.__qualname__} takes its tensors by keyword only, so that the "
                    f"target and the trained view cannot be swapped: {usage}; got "
                    f"{len(args) - leading} positional argument(s) (aimclr 0.1's order, "
                    "target first, is gone)"
                )
            return function(*args, **kwargs)

        return call

    return decorate


# --------------------------------------------------------------------------- functional


def contrastive_logits(
    query: torch.Tensor,
    positive_key: torch.Tensor,
    queue: torch.Tensor,
    temperature: float = 0.07,
    *,
    normalize: bool = False,
    on_unnormalized: Unnormalized = "ignore",
) -> torch.Tensor:
    """Logits of each query against its positive key and the queue.

    Computes ``[q·k, q·Mᵀ] / τ``; column 0 is the positive. The inputs are used as
    given unless ``normalize=True``: for cosine similarities (as AimCLR and MoCo), pass
    L2-normalised rows or set ``normalize=True``. Mixed dtypes are promoted. Under
    bfloat16 autocast the products run in bfloat16; float16 products (float16 inputs
    or float16 autocast) run in float32, since a float16 dot product overflows above
    65504 for unnormalised inputs; the division by ``τ`` always runs in float32
    (float64 inputs stay float64), so no half-precision logit overflows.

    Args:
        query: ``(N, D)`` query embeddings ``q``, ``N >= 1``.
        positive_key: ``(N, D)`` key embeddings ``k``, one positive per query.
        queue: ``(K, D)`` negatives ``M`` (e.g. :meth:`MomentumQueue.negatives`), ``K >= 1``.
            A ``(D, K)`` queue (MoCo's buffer layout) must be transposed first.
        temperature: ``τ > 0``.
        normalize: L2-normalise the rows of all three inputs first.
        on_unnormalized: with ``normalize=False``, what to do with rows whose L2 norm
            differs from 1 by more than 0.01 (:data:`UNIT_NORM_TOLERANCE`):
            ``"ignore"`` (default: no value is read), ``"warn"`` or ``"raise"``. Checking
            reads the values: one GPU synchronisation per call. It also tells a
            transposed square queue (``D = K``, where the shape cannot): its columns,
            not its rows, are unit vectors.

    Returns:
        ``(N, 1 + K)`` logits, float32 or float64.

    Raises:
        AimCLRError: non-floating inputs, wrong layouts (with a hint for a ``(D, K)``
            queue), mismatched ``N`` or ``D``, an empty batch or queue, inputs on
            different devices, a non-positive temperature, or (with
            ``on_unnormalized="raise"``) rows that are not unit vectors.

    Example:
        >>> q = torch.tensor([[1.0, 0.0]])
        >>> k = torch.tensor([[1.0, 0.0]])
        >>> queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
        >>> contrastive_logits(q, k, queue, temperature=0.5)
        tensor([[ 2.,  0., -2.]])
        >>> contrastive_logits(3 * q, k, queue, temperature=0.5, normalize=True)
        tensor([[ 2.,  0., -2.]])
    """
    return _validated_logits(
        query, positive_key, queue, temperature, normalize, on_unnormalized, stacklevel=3
    )


def info_nce_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """InfoNCE (paper Eq. 1) from ``(N, 1 + K)`` logits whose column 0 is the positive.

    Equals ``cross_entropy(logits, zeros(N))``: ``−mean_n log p(k_n | q_n)``.

    Args:
        logits: ``(N, 1 + K)`` from :func:`contrastive_logits`, ``N >= 1``.

    Returns:
        Scalar loss.

    Raises:
        AimCLRError: not a floating ``(N, 1 + K)`` tensor, or ``N = 0``.

    Example:
        >>> logits = torch.zeros(2, 5)  # all candidates equally likely
        >>> round(float(info_nce_from_logits(logits)), 4)  # log(5)
        1.6094
    """
    _check_logits(logits, "logits")
    return core.info_nce(core.log_probs(logits))


def info_nce(
    query: torch.Tensor,
    positive_key: torch.Tensor,
    queue: torch.Tensor,
    temperature: float = 0.07,
    *,
    normalize: bool = False,
    on_unnormalized: Unnormalized = "ignore",
) -> torch.Tensor:
    r"""InfoNCE loss (paper Eq. 1) of queries against positive keys and a queue.

    $$
    L = -\frac{1}{N} \sum_n \log \frac{\exp(q_n \cdot k_n / \tau)}
        {\exp(q_n \cdot k_n / \tau) + \sum_i \exp(q_n \cdot m_i / \tau)}
    $$

    Args:
        query: ``(N, D)`` query embeddings, ``N >= 1``.
        positive_key: ``(N, D)`` positive key embeddings.
        queue: ``(K, D)`` negatives.
        temperature: ``τ > 0``.
        normalize: L2-normalise the rows of all three inputs first.
        on_unnormalized: ``"ignore"``, ``"warn"`` or ``"raise"`` for rows that are not
            unit vectors, see :func:`contrastive_logits`.

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
    logits = _validated_logits(
        query, positive_key, queue, temperature, normalize, on_unnormalized, stacklevel=3
    )
    return core.info_nce(core.log_probs(logits))


@_roles_by_keyword("d3m_loss(logits=<(N, 1 + K) logits of the view being trained>, "
                   "target_logits=<(N, 1 + K) logits of the target view>)")  # fmt: skip
def d3m_loss(
    *,
    logits: torch.Tensor,
    target_logits: torch.Tensor,
    divergence: Divergence = "cross_entropy",
) -> torch.Tensor:
    r"""Distributional divergence term of D3M (paper Eqs. 7-8), roles by keyword.

    $p = \operatorname{softmax}(\text{target logits})$ is the target (detached: no
    gradient flows into it) and $\tilde p = \operatorname{softmax}(\text{logits})$ the
    distribution being trained. In AimCLR the target is the normally augmented query
    and ``logits`` belong to the extreme view (``L_e``) or its EADM-dropped version
    (``L_ed``). Both tensors are keyword-only (the order of ``F.cross_entropy`` and of
    aimclr 0.1 differ; a swap would train the wrong view). Pass logits from
    :func:`contrastive_logits`, not ``(N, D)`` embeddings.

    * ``divergence="cross_entropy"`` (the paper's and the reference's loss):
      $H(p, \tilde p) = -\frac{1}{N} \sum_n \sum_j p_{nj} \log \tilde p_{nj}$.
    * ``divergence="kl"``: $\mathrm{KL}(p \,\|\, \tilde p) = H(p, \tilde p) - H(p)$.
      The same gradient (the target is constant), but the target's entropy $H(p)$,
      which dominates the cross-entropy and hides its change, is left out: the number
      to log. It is 0 when the two distributions agree.

    Args:
        logits: ``(N, 1 + K)`` logits of the view being trained, ``N >= 1``.
        target_logits: ``(N, 1 + K)`` logits of the target view.
        divergence: ``"cross_entropy"`` or ``"kl"``.

    Returns:
        Scalar loss.

    Raises:
        AimCLRError: positional tensors, non-floating inputs, a wrong layout,
            mismatched shapes or devices, ``N = 0`` or an unknown ``divergence``.

    Example:
        >>> t = torch.tensor([[0.0, 0.0]])
        >>> round(float(d3m_loss(logits=t, target_logits=t)), 4)  # entropy of a fair coin
        0.6931
        >>> float(d3m_loss(logits=t, target_logits=t, divergence="kl"))  # no divergence
        0.0
    """
    _check_logit_pair(logits, target_logits, "logits")
    _check_divergence(divergence)
    target_log_p = core.log_probs(target_logits).detach()
    return core.d3m(core.log_probs(logits), target_log_p, target_log_p.exp(), divergence)


@_roles_by_keyword("d3m_pair_loss(logits=<extreme view's logits>, logits_drop=<EADM-dropped "
                   "view's logits>, target_logits=<normal view's logits>)")  # fmt: skip
def d3m_pair_loss(
    *,
    logits: torch.Tensor,
    logits_drop: torch.Tensor,
    target_logits: torch.Tensor,
    divergence: Divergence = "cross_entropy",
) -> torch.Tensor:
    """The combined D3M term ``L_D = ½(L_e + L_ed)`` (paper Eq. 8), roles by keyword.

    Args:
        logits: ``(N, 1 + K)`` logits of the extreme view.
        logits_drop: ``(N, 1 + K)`` logits of the EADM-dropped extreme view.
        target_logits: ``(N, 1 + K)`` logits of the normal view (the target).
        divergence: ``"cross_entropy"`` or ``"kl"``, see :func:`d3m_loss`.

    Returns:
        Scalar loss.

    Raises:
        AimCLRError: see :func:`d3m_loss`.

    Example:
        >>> t = torch.zeros(3, 4)
        >>> round(float(d3m_pair_loss(logits=t, logits_drop=t, target_logits=t)), 4)  # log(4)
        1.3863
    """
    _check_logit_pair(logits, target_logits, "logits")
    _check_logit_pair(logits_drop, target_logits, "logits_drop")
    _check_divergence(divergence)
    target_log_p = core.log_probs(target_logits).detach()
    target = target_log_p.exp()
    loss_extreme = core.d3m(core.log_probs(logits), target_log_p, target, divergence)
    loss_extreme_drop = core.d3m(core.log_probs(logits_drop), target_log_p, target, divergence)
    return 0.5 * (loss_extreme + loss_extreme_drop)


def mine_neighbors(
    queries: Sequence[torch.Tensor],
    queue: torch.Tensor,
    top_k: int = 1,
    *,
    normalize: bool = False,
) -> torch.Tensor:
    """Positive mask of nearest-neighbour mining (NNM, paper Eq. 9).

    For every query view ``z`` (AimCLR: ``q``, ``q_extreme``, ``q_extreme_drop``)
    the ``top_k`` queue entries with the largest similarity ``z · m_i``
    (un-tempered) are positives; the mask is their union, plus column 0 (the
    positive key), aligned with the ``(N, 1 + K)`` logits. Look neighbours up in
    the queue *before* enqueueing the current keys. Similarities are computed in
    float32 (float64 inputs: float64) even under autocast, so that close neighbours
    are ranked as in full precision. No gradient flows through the mask.

    Args:
        queries: one or more ``(N, D)`` query embeddings of the same batch, ``N >= 1``.
        queue: ``(K, D)`` negatives.
        top_k: neighbours per query view, ``1 <= top_k <= K``.
        normalize: rank by cosine similarity (L2-normalise every row first).

    Returns:
        ``(N, 1 + K)`` bool mask; ``mask[:, 0]`` is always ``True``.

    Raises:
        AimCLRError: no queries, wrong layouts, mismatched shapes or devices, ``N = 0``
            or a bad ``top_k``.

    Example:
        >>> queue = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
        >>> q = torch.tensor([[0.9, 0.1]])
        >>> q_extreme = torch.tensor([[0.1, 0.9]])
        >>> mine_neighbors([q, q_extreme], queue).int()
        tensor([[1, 1, 1, 0]], dtype=torch.int32)
    """
    if not isinstance(queries, Sequence) or len(queries) == 0:
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
    check_same_device({**{f"queries[{i}]": z for i, z in enumerate(queries)}, "queue": queue})
    _check_not_empty(first, "queries[0]", "(N, D)")
    top_k = check_int(top_k, "top_k", 1, queue.shape[0], meaning="neighbours among the K keys")
    if check_bool(normalize, "normalize"):
        queries = [F.normalize(z, dim=1) for z in queries]
        queue = F.normalize(queue, dim=1)
    return core.mine(queries, queue, top_k)


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
        logits: ``(N, 1 + K)`` logits of the normal query, ``N >= 1``.
        pos_mask: ``(N, 1 + K)`` bool mask from :func:`mine_neighbors`.
        reduction: ``"mean"`` or ``"sum"`` over each sample's positives.

    Returns:
        Scalar loss.

    Raises:
        AimCLRError: bad layouts, dtypes or devices, ``N = 0``, or an unknown
            ``reduction``.

    Example:
        >>> logits = torch.zeros(1, 4)
        >>> mask = torch.tensor([[True, True, False, False]])
        >>> round(float(nnm_loss(logits, mask)), 4), round(float(nnm_loss(logits, mask, "sum")), 4)
        (1.3863, 2.7726)
    """
    _check_logits(logits, "logits")
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
    check_same_device({"logits": logits, "pos_mask": pos_mask})
    _check_reduction(reduction, "reduction")
    return core.nnm(core.log_probs(logits), pos_mask, reduction)


# --------------------------------------------------------------------------- modules


class InfoNCELoss(nn.Module):
    """Module form of :func:`info_nce`.

    Args:
        temperature: ``τ > 0`` (paper: 0.07).
        normalize: L2-normalise the rows of every input first.
        on_unnormalized: ``"ignore"``, ``"warn"`` or ``"raise"`` for inputs whose rows
            are not unit vectors (see :func:`contrastive_logits`; one GPU
            synchronisation per call when not ``"ignore"``).

    Shape:
        - query: ``(N, D)``; positive_key: ``(N, D)``; queue: ``(K, D)``.
        - output: scalar.

    Example:
        >>> loss = InfoNCELoss(temperature=0.07, normalize=True)
        >>> q = torch.randn(4, 8)
        >>> loss(q, q, torch.randn(16, 8)).shape
        torch.Size([])
    """

    def __init__(
        self,
        temperature: float = 0.07,
        *,
        normalize: bool = False,
        on_unnormalized: Unnormalized = "ignore",
    ) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        _check_unnormalized_option(on_unnormalized)
        self.temperature = float(temperature)
        self.normalize = check_bool(normalize, "normalize")
        self.on_unnormalized: Unnormalized = on_unnormalized

    def forward(
        self, query: torch.Tensor, positive_key: torch.Tensor, queue: torch.Tensor
    ) -> torch.Tensor:
        """Return :func:`info_nce` of the inputs with this module's settings."""
        return info_nce(
            query, positive_key, queue, self.temperature,
            normalize=self.normalize, on_unnormalized=self.on_unnormalized,
        )  # fmt: skip

    def extra_repr(self) -> str:
        """The settings, for ``repr``."""
        return (
            f"temperature={self.temperature}, normalize={self.normalize}, "
            f"on_unnormalized={self.on_unnormalized!r}"
        )


class D3MLoss(nn.Module):
    """Module form of the D3M term; the logits are passed by keyword.

    ``D3MLoss()(logits=l_e, target_logits=l)`` returns :func:`d3m_loss`;
    with ``logits_drop=l_ed`` as well it returns :func:`d3m_pair_loss`,
    ``½(L_e + L_ed)``. The inputs are logits from :func:`contrastive_logits`, not
    embeddings.

    Args:
        divergence: ``"cross_entropy"`` (the paper's loss) or ``"kl"``, see
            :func:`d3m_loss`.

    Shape:
        - logits, target_logits, logits_drop: ``(N, 1 + K)``.
        - output: scalar.

    Example:
        >>> target, extreme = torch.zeros(2, 5), torch.randn(2, 5)
        >>> loss = D3MLoss()(logits=extreme, target_logits=target)
        >>> torch.equal(loss, d3m_loss(logits=extreme, target_logits=target))
        True
    """

    def __init__(self, divergence: Divergence = "cross_entropy") -> None:
        super().__init__()
        _check_divergence(divergence)
        self.divergence: Divergence = divergence

    @_roles_by_keyword("D3MLoss()(logits=<(N, 1 + K) logits of the extreme view>, "
                       "target_logits=<(N, 1 + K) logits of the normal view>[, logits_drop="
                       "<(N, 1 + K) logits of the EADM-dropped view>])", leading=1)  # fmt: skip
    def forward(
        self,
        *,
        logits: torch.Tensor,
        target_logits: torch.Tensor,
        logits_drop: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return the D3M term; see the class docstring."""
        if logits_drop is None:
            return d3m_loss(logits=logits, target_logits=target_logits, divergence=self.divergence)
        return d3m_pair_loss(
            logits=logits, logits_drop=logits_drop, target_logits=target_logits,
            divergence=self.divergence,
        )  # fmt: skip

    def extra_repr(self) -> str:
        """The divergence, for ``repr``."""
        return f"divergence={self.divergence!r}"


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
        _check_reduction(reduction, "reduction")
        self.reduction: Reduction = reduction

    def forward(self, logits: torch.Tensor, pos_mask: torch.Tensor) -> torch.Tensor:
        """Return :func:`nnm_loss` with this module's reduction."""
        return nnm_loss(logits, pos_mask, self.reduction)

    def extra_repr(self) -> str:
        """The reduction, for ``repr``."""
        return f"reduction={self.reduction!r}"


# --------------------------------------------------------------------------- checks


def _validated_logits(
    query: torch.Tensor,
    positive_key: torch.Tensor,
    queue: torch.Tensor,
    temperature: float,
    normalize: bool,
    on_unnormalized: Unnormalized,
    stacklevel: int,
) -> torch.Tensor:
    """:func:`contrastive_logits`; ``stacklevel`` points a warning at the user's call."""
    _check_embedding_triple(query, positive_key, queue)
    check_positive(temperature, "temperature")
    _check_unnormalized_option(on_unnormalized)
    if check_bool(normalize, "normalize"):
        query, positive_key, queue = (F.normalize(x, dim=1) for x in (query, positive_key, queue))
    elif on_unnormalized != "ignore":
        tensors = {"query": query, "positive_key": positive_key, "queue": queue}
        _check_unit_rows(tensors, on_unnormalized, stacklevel + 1)
    return core.logits(query, positive_key, queue, temperature)


def _check_embeddings(x: torch.Tensor, name: str, layout: str) -> None:
    check_tensor(x, name)
    if x.dim() != 2:
        raise AimCLRError(f"{name} must have layout {layout}, got {describe(x)}")
    check_floating(x, name)


def _check_not_empty(x: torch.Tensor, name: str, layout: str) -> None:
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise AimCLRError(
            f"{name} must have layout {layout} with at least one row and one column (an "
            f"empty batch has no loss), got {describe(x)}"
        )


def _check_embedding_triple(
    query: torch.Tensor, positive_key: torch.Tensor, queue: torch.Tensor
) -> None:
    _check_embeddings(query, "query", "(N, D)")
    _check_embeddings(positive_key, "positive_key", "(N, D)")
    _check_embeddings(queue, "queue", "(K, D)")
    if positive_key.shape != query.shape:
        raise AimCLRError(
            f"positive_key must have the layout (N, D) of query {tuple(query.shape)}, "
            f"got {describe(positive_key)}"
        )
    dim = query.shape[1]
    if queue.shape[1] != dim:
        transposed = queue.shape[0] == dim
        hint = (" (it looks like the (D, K) layout of a MoCo-style buffer: pass queue.T)"
                if transposed else "")  # fmt: skip
        raise AimCLRError(
            f"queue must have layout (K, D) with D = {dim} (the query dimension), got "
            f"{describe(queue)}{hint}"
        )
    check_same_device({"query": query, "positive_key": positive_key, "queue": queue})
    _check_not_empty(query, "query", "(N, D)")
    _check_not_empty(queue, "queue", "(K, D)")


def _check_logits(logits: torch.Tensor, name: str) -> None:
    _check_embeddings(logits, name, "(N, 1 + K)")
    _check_not_empty(logits, name, "(N, 1 + K)")
    if logits.shape[1] < 2:  # with no negative the softmax is 1 and every loss is 0
        raise AimCLRError(
            f"{name} must have layout (N, 1 + K) with K >= 1 negatives (column 0 is the "
            f"positive), got {describe(logits)}"
        )


def _check_logit_pair(logits: torch.Tensor, target_logits: torch.Tensor, name: str) -> None:
    _check_logits(logits, name)
    _check_logits(target_logits, "target_logits")
    if target_logits.shape != logits.shape:
        raise AimCLRError(
            f"target_logits and {name} must have the same layout (N, 1 + K), got "
            f"{describe(target_logits)} and {describe(logits)}"
        )
    check_same_device({name: logits, "target_logits": target_logits})


def _check_divergence(divergence: object) -> None:
    if divergence not in ("cross_entropy", "kl"):
        raise AimCLRError(f"divergence must be 'cross_entropy' or 'kl', got {divergence!r}")


def _check_reduction(reduction: object, name: str) -> None:
    if reduction not in ("mean", "sum"):
        raise AimCLRError(f"{name} must be 'mean' or 'sum', got {reduction!r}")


def _check_unnormalized_option(option: object) -> None:
    if option not in ("ignore", "warn", "raise"):
        raise AimCLRError(f"on_unnormalized must be 'ignore', 'warn' or 'raise', got {option!r}")


def _check_unit_rows(
    tensors: dict[str, torch.Tensor], action: Unnormalized, stacklevel: int
) -> None:
    """Warn or raise for tensors whose rows are not unit vectors; one synchronisation."""
    with torch.no_grad():
        deviations = [(x.float().norm(dim=1) - 1).abs().amax() for x in tensors.values()]
        queue = tensors.get("queue")
        square = queue is not None and queue.shape[0] == queue.shape[1]
        if square:  # a transposed (D, K) queue with D = K has unit columns instead
            deviations.append((queue.float().norm(dim=0) - 1).abs().amax())  # type: ignore[union-attr]
        values = torch.stack([d.to(deviations[0].device) for d in deviations]).tolist()
    rows = zip(tensors, values, strict=False)  # values may end with the queue's columns
    bad = [f"{name} (largest deviation of a row norm from 1: {value:.3g})"
           for name, value in rows if value > UNIT_NORM_TOLERANCE]  # fmt: skip
    if not bad:
        return
    hint = "normalise them with F.normalize(x, dim=1) or pass normalize=True"
    if square and values[-1] <= UNIT_NORM_TOLERANCE < values[len(tensors) - 1]:
        hint = ("the queue's columns are unit vectors but its rows are not: it is a (D, K) "
                "buffer, pass queue.T")  # fmt: skip
    message = f"rows are not unit vectors in {', '.join(bad)}; {hint}"
    if action == "raise":
        raise AimCLRError(message)
    warnings.warn(message, UserWarning, stacklevel=stacklevel)
