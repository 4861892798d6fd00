"""InfoNCE, D3M and NNM: reference parity, a loop-based reference, closed forms, AMP."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from aimclr import AimCLRError
from aimclr.losses import (
    UNIT_NORM_TOLERANCE,
    D3MLoss,
    InfoNCELoss,
    NNMLoss,
    contrastive_logits,
    d3m_loss,
    d3m_pair_loss,
    info_nce,
    info_nce_from_logits,
    mine_neighbors,
    nnm_loss,
)

# ----------------------------------------------------------------- loop-based numpy reference


def np_log_softmax(row: np.ndarray) -> np.ndarray:
    shifted = row - row.max()
    return shifted - math.log(sum(math.exp(v) for v in shifted))


def np_logits(q: np.ndarray, k: np.ndarray, queue: np.ndarray, tau: float) -> np.ndarray:
    n, size = q.shape[0], queue.shape[0]
    out = np.zeros((n, 1 + size))
    for i in range(n):
        out[i, 0] = sum(q[i, d] * k[i, d] for d in range(q.shape[1])) / tau
        for j in range(size):
            out[i, 1 + j] = sum(q[i, d] * queue[j, d] for d in range(q.shape[1])) / tau
    return out


def np_d3m(target: np.ndarray, logits: np.ndarray) -> float:
    total = 0.0
    for t_row, row in zip(target, logits, strict=True):
        p = np.exp(np_log_softmax(t_row))
        total -= float((p * np_log_softmax(row)).sum())
    return total / len(logits)


def np_mask(queries: list[np.ndarray], queue: np.ndarray, top_k: int) -> np.ndarray:
    n = queries[0].shape[0]
    mask = np.zeros((n, 1 + queue.shape[0]), dtype=bool)
    mask[:, 0] = True
    for z in queries:
        for i in range(n):
            sims = [float(z[i] @ m) for m in queue]
            for j in sorted(range(len(sims)), key=lambda j: -sims[j])[:top_k]:
                mask[i, 1 + j] = True
    return mask


def np_nnm(logits: np.ndarray, mask: np.ndarray, reduction: str) -> float:
    total = 0.0
    for row, positives in zip(logits, mask, strict=True):
        log_p = np_log_softmax(row)
        picked = [log_p[j] for j in range(len(row)) if positives[j]]
        total -= sum(picked) / (len(picked) if reduction == "mean" else 1)
    return total / len(logits)


def unit(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=generator, dtype=torch.float64), dim=-1)


# ----------------------------------------------------------------------------- reference parity

EMBEDDINGS = ("q", "q_extreme", "q_extreme_drop")


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_reference_parity(reference_case: dict[str, Any], mode: str) -> None:
    case = reference_case[mode]
    state = reference_case["state_dict" if mode == "eval" else "state_dict_train"]
    queue = state["queue"].T  # stored as (D, K)
    q, q_e, q_ed, k = (case[name] for name in (*EMBEDDINGS, "k"))
    tol = {"rtol": 0.0, "atol": 1e-5}

    logits = contrastive_logits(q, k, queue, 0.07)
    logits_e = contrastive_logits(q_e, k, queue, 0.07)
    logits_ed = contrastive_logits(q_ed, k, queue, 0.07)
    torch.testing.assert_close(logits, case["logits"], **tol)
    torch.testing.assert_close(logits_e, case["logits_extreme"], **tol)
    torch.testing.assert_close(logits_ed, case["logits_extreme_drop"], **tol)

    torch.testing.assert_close(info_nce(q, k, queue, 0.07), case["loss_infonce"], **tol)
    d3m_e = d3m_loss(logits=logits_e, target_logits=logits)
    d3m_ed = d3m_loss(logits=logits_ed, target_logits=logits)
    torch.testing.assert_close(d3m_e, case["loss_d3m_extreme"], **tol)
    torch.testing.assert_close(d3m_ed, case["loss_d3m_extreme_drop"], **tol)
    d3m = d3m_pair_loss(logits=logits_e, logits_drop=logits_ed, target_logits=logits)
    torch.testing.assert_close(info_nce_from_logits(logits) + d3m, case["loss_stage1"], **tol)

    for top_k in (1, 2):
        mask = mine_neighbors([q, q_e, q_ed], queue, top_k=top_k)
        assert torch.equal(mask, case[f"pos_mask_top{top_k}"].bool())
        nnm = nnm_loss(logits, mask)
        torch.testing.assert_close(nnm, case[f"loss_nnm_top{top_k}"], **tol)
        torch.testing.assert_close(nnm + d3m, case[f"loss_stage2_top{top_k}"], **tol)


# ------------------------------------------------------------------------ loop-based reference


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 4),
    size=st.integers(1, 7),
    dim=st.integers(3, 6),  # generic unit vectors: no similarity ties
    tau=st.floats(0.05, 2.0),
    top_k=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_matches_loop_reference(
    n: int, size: int, dim: int, tau: float, top_k: int, seed: int
) -> None:
    top_k = min(top_k, size)
    q, q_e, k = unit(n, dim, seed=seed), unit(n, dim, seed=seed + 1), unit(n, dim, seed=seed + 2)
    queue = unit(size, dim, seed=seed + 3)
    logits = contrastive_logits(q, k, queue, tau)
    logits_e = contrastive_logits(q_e, k, queue, tau)
    expected = np_logits(q.numpy(), k.numpy(), queue.numpy(), tau)
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-10, atol=1e-10)
    target_np, logits_e_np = expected, np_logits(q_e.numpy(), k.numpy(), queue.numpy(), tau)
    info = info_nce(q, k, queue, tau).item()
    assert info == pytest.approx(np_nnm(expected, np_mask([q.numpy()], queue.numpy(), 0), "sum"))
    d3m = d3m_loss(logits=logits_e, target_logits=logits)
    assert d3m.item() == pytest.approx(np_d3m(target_np, logits_e_np))
    mask = mine_neighbors([q, q_e], queue, top_k=top_k)
    expected_mask = np_mask([q.numpy(), q_e.numpy()], queue.numpy(), top_k)
    assert np.array_equal(mask.numpy(), expected_mask)
    for reduction in ("mean", "sum"):
        assert nnm_loss(logits, mask, reduction).item() == pytest.approx(  # type: ignore[arg-type]
            np_nnm(expected, expected_mask, reduction)
        )


# ------------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("size", [1, 4, 100])
def test_equal_logits_give_log_of_candidate_count(size: int) -> None:
    logits = torch.full((3, 1 + size), 2.5)
    log_c = math.log(1 + size)
    assert info_nce_from_logits(logits).item() == pytest.approx(log_c)
    uniform = d3m_loss(logits=logits, target_logits=logits)
    assert uniform.item() == pytest.approx(log_c)  # entropy of the uniform
    mask = torch.zeros(3, 1 + size, dtype=torch.bool)
    mask[:, : 1 + min(size, 2)] = True
    positives = 1 + min(size, 2)
    assert nnm_loss(logits, mask, "mean").item() == pytest.approx(log_c)
    assert nnm_loss(logits, mask, "sum").item() == pytest.approx(positives * log_c)


def test_identical_query_positive_and_negatives() -> None:
    q = F.normalize(torch.randn(5, 8), dim=1)
    queue = q[:1].expand(7, 8)
    # Only sample 0 has all 1 + K logits equal: loss log(8).
    assert info_nce(q[:1], q[:1], queue).item() == pytest.approx(math.log(8), abs=1e-5)


def test_confident_positive_gives_zero_loss() -> None:
    logits = torch.tensor([[100.0, -100.0, -100.0]])
    assert info_nce_from_logits(logits).item() == pytest.approx(0.0, abs=1e-12)
    assert d3m_loss(logits=logits, target_logits=logits).item() == pytest.approx(0.0, abs=1e-12)


def test_d3m_is_cross_entropy_and_does_not_backpropagate_into_the_target() -> None:
    target = torch.randn(4, 6, requires_grad=True)
    logits = torch.randn(4, 6, requires_grad=True)
    loss = d3m_loss(logits=logits, target_logits=target)
    p = target.detach().softmax(dim=1)
    kl = F.kl_div(logits.log_softmax(dim=1), p, reduction="batchmean")
    entropy = -(p * p.log()).sum(dim=1).mean()
    torch.testing.assert_close(loss, kl + entropy)
    loss.backward()
    assert target.grad is None and logits.grad is not None


def test_nnm_with_only_the_positive_key_is_info_nce() -> None:
    logits = torch.randn(6, 9)
    mask = torch.zeros(6, 9, dtype=torch.bool)
    mask[:, 0] = True
    for reduction in ("mean", "sum"):
        torch.testing.assert_close(nnm_loss(logits, mask, reduction), info_nce_from_logits(logits))


def test_nnm_row_without_positives_contributes_zero_and_neg_inf_is_safe() -> None:
    logits = torch.tensor([[0.0, float("-inf"), 0.0], [1.0, 2.0, 3.0]])
    mask = torch.tensor([[True, False, True], [False, False, False]])
    assert nnm_loss(logits, mask).item() == pytest.approx(math.log(2) / 2)


def test_mine_neighbors_keeps_the_positive_and_takes_the_union() -> None:
    queue = torch.eye(4)
    q = torch.tensor([[1.0, 0.2, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    q_e = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    mask = mine_neighbors([q, q_e], queue)
    assert mask.dtype == torch.bool
    assert mask.int().tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 1]]
    wider = mine_neighbors([q], queue, top_k=2)
    assert wider[0].int().tolist() == [1, 1, 1, 0, 0]
    # Sample 1 ties between queue rows 0-2 for second place: any one of them, plus row 3.
    assert bool(wider[1, 4]) and int(wider[1].sum()) == 3


# --------------------------------------------------------------------------------- precision


def test_bfloat16_autocast_is_finite_and_close_to_float32() -> None:
    q, q_e, k = unit(16, 32, seed=0).float(), unit(16, 32, seed=1).float(), unit(16, 32, seed=2)
    queue = unit(512, 32, seed=3).float()
    k = k.float()
    exact = _all_losses(q, q_e, k, queue)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = _all_losses(q, q_e, k, queue)
    for name, value in mixed.items():
        assert value.dtype == torch.float32 and torch.isfinite(value), name
        assert value.item() == pytest.approx(exact[name].item(), rel=0.03, abs=0.03), name


def test_half_inputs_are_finite_and_close_to_float32() -> None:
    q, q_e, k = (unit(8, 16, seed=s).float() for s in (4, 5, 6))
    queue = unit(256, 16, seed=7).float()
    exact = _all_losses(q, q_e, k, queue)
    for dtype in (torch.float16, torch.bfloat16):
        low = _all_losses(q.to(dtype), q_e.to(dtype), k.to(dtype), queue.to(dtype))
        for name, value in low.items():
            assert value.dtype == torch.float32 and torch.isfinite(value), (dtype, name)
            assert value.item() == pytest.approx(exact[name].item(), rel=0.03, abs=0.03)


def test_half_precision_logits_do_not_overflow() -> None:
    # Unnormalised inputs: q·k = 6400 fits float16, but 6400 / 0.07 = 91,429 does not.
    q = torch.full((2, 4), 40.0)
    queue = torch.tensor([[40.0, 40.0, 40.0, 40.0], [-1.0, 0.0, 0.0, 0.0]])
    exact = contrastive_logits(q, q, queue)
    for dtype in (torch.float16, torch.bfloat16):
        low = contrastive_logits(q.to(dtype), q.to(dtype), queue.to(dtype))
        assert low.dtype == torch.float32 and bool(torch.isfinite(low).all()), dtype
        torch.testing.assert_close(low, exact, rtol=1e-2, atol=0.0)
    assert contrastive_logits(q.double(), q.double(), queue.double()).dtype == torch.float64


def test_neighbours_are_ranked_in_float32_under_autocast() -> None:
    # Similarities 0.5000 … 0.5007 differ in float32 but all round to 0.5 in bfloat16.
    q = torch.tensor([[1.0, 0.0]])
    queue = torch.stack([0.5 + 1e-4 * torch.arange(8.0), torch.zeros(8)], dim=1)
    expected = torch.zeros(1, 9, dtype=torch.bool)
    expected[0, [0, 8]] = True  # the positive key and the last (largest) queue row
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(mine_neighbors([q], queue, top_k=1), expected)


def _all_losses(
    q: torch.Tensor, q_e: torch.Tensor, k: torch.Tensor, queue: torch.Tensor
) -> dict[str, torch.Tensor]:
    logits = contrastive_logits(q, k, queue)
    logits_e = contrastive_logits(q_e, k, queue)
    mask = mine_neighbors([q, q_e], queue, top_k=2)
    return {
        "info_nce": info_nce_from_logits(logits),
        "d3m": d3m_loss(logits=logits_e, target_logits=logits),
        "nnm": nnm_loss(logits, mask),
    }


# ------------------------------------------------------------------------------------ modules


def test_modules_match_functional_forms() -> None:
    q, q_e, k = unit(4, 8, seed=1), unit(4, 8, seed=2), unit(4, 8, seed=3)
    queue = unit(9, 8, seed=4)
    torch.testing.assert_close(InfoNCELoss(0.2)(q, k, queue), info_nce(q, k, queue, 0.2))
    logits, logits_e = contrastive_logits(q, k, queue), contrastive_logits(q_e, k, queue)
    torch.testing.assert_close(
        D3MLoss()(logits=logits_e, target_logits=logits),
        d3m_loss(logits=logits_e, target_logits=logits),
    )
    torch.testing.assert_close(
        D3MLoss()(logits=logits_e, logits_drop=logits, target_logits=logits),
        d3m_pair_loss(logits=logits_e, logits_drop=logits, target_logits=logits),
    )
    mask = mine_neighbors([q], queue, top_k=3)
    torch.testing.assert_close(NNMLoss("sum")(logits, mask), nnm_loss(logits, mask, "sum"))
    assert repr(InfoNCELoss(0.2)) == (
        "InfoNCELoss(temperature=0.2, normalize=False, on_unnormalized='ignore')"
    )
    assert repr(D3MLoss("kl")) == "D3MLoss(divergence='kl')"
    assert repr(NNMLoss()) == "NNMLoss(reduction='mean')"


# ------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: contrastive_logits(torch.zeros(4), torch.zeros(4, 3), torch.zeros(5, 3)),
            "query must have layout (N, D), got shape (4,), dtype torch.float32",
        ),
        (
            lambda: contrastive_logits(torch.zeros(4, 3), torch.zeros(2, 3), torch.zeros(5, 3)),
            "positive_key must have the layout (N, D) of query (4, 3), got shape (2, 3), "
            "dtype torch.float32",
        ),
        (
            lambda: contrastive_logits(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(3, 5)),
            "queue must have layout (K, D) with D = 3 (the query dimension), got shape (3, 5), "
            "dtype torch.float32 (it looks like the (D, K) layout of a MoCo-style buffer: "
            "pass queue.T)",
        ),
        (
            lambda: contrastive_logits(
                torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(5, 3), 0.0
            ),
            "temperature must be a positive finite number, got 0.0",
        ),
        (lambda: InfoNCELoss(-1.0), "temperature must be a positive finite number, got -1.0"),
        (
            lambda: d3m_loss(logits=torch.zeros(2, 6), target_logits=torch.zeros(2, 5)),
            "target_logits and logits must have the same layout (N, 1 + K), got shape (2, 5), "
            "dtype torch.float32 and shape (2, 6), dtype torch.float32",
        ),
        (
            lambda: info_nce_from_logits(torch.zeros(2, 3, 4)),
            "logits must have layout (N, 1 + K), got shape (2, 3, 4), dtype torch.float32",
        ),
        (
            lambda: nnm_loss(torch.zeros(2, 5), torch.ones(2, 5)),
            "pos_mask must be a bool tensor (N, 1 + K); convert 0/1 masks with mask.bool(), "
            "got shape (2, 5), dtype torch.float32",
        ),
        (
            lambda: nnm_loss(torch.zeros(2, 5), torch.ones(2, 4, dtype=torch.bool)),
            "pos_mask must have the layout (N, 1 + K) of logits (2, 5), got shape (2, 4), "
            "dtype torch.bool",
        ),
        (
            lambda: nnm_loss(torch.zeros(2, 5), torch.ones(2, 5, dtype=torch.bool), "max"),
            "reduction must be 'mean' or 'sum', got 'max'",
        ),
        (
            lambda: mine_neighbors([], torch.zeros(5, 3)),
            "queries must be a non-empty sequence of (N, D) tensors, e.g. [q, q_extreme]",
        ),
        (
            lambda: mine_neighbors([torch.zeros(2, 3)], torch.zeros(5, 3), top_k=6),
            "top_k must be an int in [1, 5] (neighbours among the K keys), got 6",
        ),
        (
            lambda: mine_neighbors([torch.zeros(2, 3), torch.zeros(3, 3)], torch.zeros(5, 3)),
            "queries[1] must have layout (N, D) = (2, 3) with D = 3 (the queue dimension), "
            "got shape (3, 3), dtype torch.float32",
        ),
    ],
)
def test_errors_name_the_layout_and_what_was_received(call: Any, message: str) -> None:
    with pytest.raises(AimCLRError, match=f"^{re.escape(message)}$"):
        call()


# --------------------------------------------------------------------- hard-to-misuse API


def test_d3m_roles_are_keyword_only_with_a_message_that_says_what_to_change() -> None:
    target, extreme, dropped = torch.randn(3, 4, 9).unbind(0)
    calls = [
        (lambda: d3m_loss(target, extreme), "d3m_loss takes its tensors by keyword only"),  # type: ignore[misc]
        (lambda: d3m_pair_loss(target, extreme, dropped), "d3m_pair_loss takes"),  # type: ignore[misc]
        (lambda: D3MLoss()(target, extreme), "D3MLoss.forward takes"),
    ]
    for call, start in calls:
        with pytest.raises(AimCLRError, match=f"^{re.escape(start)}.*logits=<.*target_logits="):
            call()
    # The roles matter: swapping them by keyword is a different loss (and gradient).
    right = d3m_loss(logits=extreme, target_logits=target)
    assert not torch.allclose(right, d3m_loss(logits=target, target_logits=extreme))


def test_embeddings_passed_as_logits_are_refused_where_the_shapes_tell() -> None:
    q, k = F.normalize(torch.randn(4, 8), dim=1), F.normalize(torch.randn(4, 8), dim=1)
    queue = F.normalize(torch.randn(16, 8), dim=1)
    with pytest.raises(AimCLRError, match=r"D3MLoss\.forward takes its tensors by keyword"):
        D3MLoss()(q, k)  # the embeddings of the report, positionally
    logits = contrastive_logits(q, k, queue)
    with pytest.raises(AimCLRError, match=r"same layout \(N, 1 \+ K\)"):
        D3MLoss()(logits=q, target_logits=logits)  # (N, D) against (N, 1 + K)


def test_normalize_option_equals_normalising_first() -> None:
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(4, 8, generator=generator) * 5, torch.randn(4, 8, generator=generator)
    queue = torch.randn(16, 8, generator=generator) * 3
    unit_q, unit_k, unit_queue = (F.normalize(x, dim=1) for x in (q, k, queue))
    torch.testing.assert_close(
        info_nce(q, k, queue, normalize=True), info_nce(unit_q, unit_k, unit_queue)
    )
    torch.testing.assert_close(
        InfoNCELoss(normalize=True)(q, k, queue), info_nce(unit_q, unit_k, unit_queue)
    )
    assert torch.equal(
        mine_neighbors([q], queue, top_k=2, normalize=True),
        mine_neighbors([unit_q], unit_queue, top_k=2),
    )


def test_unnormalised_inputs_warn_or_raise_when_asked_and_pass_silently_by_default() -> None:
    q = F.normalize(torch.randn(4, 8), dim=1)
    queue = F.normalize(torch.randn(16, 8), dim=1)
    raw = q * 3.0
    info_nce(raw, q, queue)  # "ignore": used as given, no value is read
    info_nce(q, q, queue, on_unnormalized="raise")  # unit rows pass
    message = "rows are not unit vectors in query (largest deviation of a row norm from 1: 2)"
    with pytest.raises(AimCLRError, match=re.escape(message)):
        info_nce(raw, q, queue, on_unnormalized="raise")
    with pytest.warns(UserWarning, match="pass normalize=True") as record:
        InfoNCELoss(on_unnormalized="warn")(raw, q, queue)
    assert len(record) == 1
    slightly_off = q * (1 + UNIT_NORM_TOLERANCE / 2)  # within the tolerance
    contrastive_logits(slightly_off, q, queue, on_unnormalized="raise")
    with pytest.raises(AimCLRError, match="on_unnormalized must be 'ignore', 'warn' or 'raise'"):
        InfoNCELoss(on_unnormalized="error")  # type: ignore[arg-type]


def test_a_transposed_queue_gets_a_transpose_hint_also_when_square() -> None:
    q = F.normalize(torch.randn(4, 8), dim=1)
    keys = F.normalize(torch.randn(32, 8), dim=1)  # (K, D)
    with pytest.raises(AimCLRError, match=re.escape("(D, K) layout of a MoCo-style buffer")):
        info_nce(q, q, keys.T)
    # D == K: the shape cannot tell; the unit-norm check can (the columns are unit).
    square = F.normalize(torch.randn(8, 8), dim=1)
    info_nce(q, q, square.T)  # accepted as given: a square queue is taken as (K, D)
    with pytest.raises(AimCLRError, match=re.escape("it is a (D, K) buffer, pass queue.T")):
        info_nce(q, q, square.T, on_unnormalized="raise")
    info_nce(q, q, square, on_unnormalized="raise")


def test_inputs_on_different_devices_name_both_devices() -> None:
    q = F.normalize(torch.randn(4, 8), dim=1)
    queue = torch.zeros(16, 8, device="meta")  # stands in for a queue left on the GPU
    message = (
        "query and positive_key and queue must be on one device, got query on cpu, "
        "positive_key on cpu, queue on meta; move them with .to(device)"
    )
    with pytest.raises(AimCLRError, match=f"^{re.escape(message)}$"):
        info_nce(q, q, queue)
    with pytest.raises(AimCLRError, match="logits on cpu, pos_mask on meta"):
        nnm_loss(torch.zeros(2, 5), torch.ones(2, 5, dtype=torch.bool, device="meta"))
    with pytest.raises(AimCLRError, match="logits on meta, target_logits on cpu"):
        d3m_loss(logits=torch.zeros(2, 5, device="meta"), target_logits=torch.zeros(2, 5))
    with pytest.raises(AimCLRError, match="queries\\[0\\] on cpu, queue on meta"):
        mine_neighbors([q], queue)


def test_float16_products_of_unnormalised_inputs_do_not_overflow() -> None:
    # q·q = 128 · 300² = 1.15e7 overflows float16 (max 65504) before any division.
    generator = torch.Generator().manual_seed(0)
    x = 300.0 + torch.rand(4, 128, generator=generator)
    negatives = torch.rand(16, 128, generator=generator)
    exact = info_nce(x, x, negatives)
    half = info_nce(x.half(), x.half(), negatives.half())
    assert torch.isfinite(half) and half.dtype == torch.float32
    torch.testing.assert_close(half, exact, rtol=1e-2, atol=1e-2)
    logits = contrastive_logits(x.half(), x.half(), negatives.half())
    assert bool(torch.isfinite(logits).all())


@pytest.mark.parametrize(
    "call",
    [
        lambda: info_nce(torch.zeros(0, 4), torch.zeros(0, 4), torch.ones(6, 4)),
        lambda: info_nce_from_logits(torch.zeros(0, 5)),
        lambda: d3m_loss(logits=torch.zeros(0, 5), target_logits=torch.zeros(0, 5)),
        lambda: nnm_loss(torch.zeros(0, 5), torch.zeros(0, 5, dtype=torch.bool)),
        lambda: mine_neighbors([torch.zeros(0, 4)], torch.ones(6, 4)),
        lambda: InfoNCELoss()(torch.zeros(0, 4), torch.zeros(0, 4), torch.ones(6, 4)),
    ],
)
def test_an_empty_batch_is_an_error_not_nan(call: Any) -> None:
    with pytest.raises(AimCLRError, match=r"at least one row and one column \(an empty batch"):
        call()


def test_kl_form_of_d3m_is_cross_entropy_minus_the_target_entropy() -> None:
    target = torch.randn(5, 7)
    target[0, 3] = float("-inf")  # a candidate with probability 0 adds 0, not NaN
    logits = torch.randn(5, 7, requires_grad=True)
    kl = d3m_loss(logits=logits, target_logits=target, divergence="kl")
    p = target.softmax(dim=1)
    expected = F.kl_div(logits.log_softmax(dim=1), p, reduction="batchmean")
    torch.testing.assert_close(kl, expected)
    same = torch.randn(5, 7)
    assert d3m_loss(logits=same, target_logits=same, divergence="kl").item() == 0.0
    # The same gradient as the cross-entropy form: only the constant H(p) is left out.
    (grad_kl,) = torch.autograd.grad(kl, logits)
    ce = d3m_loss(logits=logits, target_logits=target)
    (grad_ce,) = torch.autograd.grad(ce, logits)
    torch.testing.assert_close(grad_kl, grad_ce)
    kl_drop = d3m_loss(logits=same, target_logits=target, divergence="kl")
    pair = d3m_pair_loss(logits=logits, logits_drop=same, target_logits=target, divergence="kl")
    torch.testing.assert_close(pair, 0.5 * (kl + kl_drop))
    torch.testing.assert_close(D3MLoss("kl")(logits=logits, target_logits=target), kl)
    with pytest.raises(AimCLRError, match="divergence must be 'cross_entropy' or 'kl'"):
        D3MLoss("js")  # type: ignore[arg-type]


def test_the_default_checks_read_no_tensor_value() -> None:
    # Meta tensors have no values: any .item() or bool(tensor) in a check would raise.
    q, k, queue = (torch.empty(shape, device="meta") for shape in ((4, 8), (4, 8), (16, 8)))
    logits = contrastive_logits(q, k, queue)
    info_nce(q, k, queue, normalize=True)
    InfoNCELoss()(q, k, queue)
    d3m_loss(logits=logits, target_logits=logits, divergence="kl")
    D3MLoss()(logits=logits, logits_drop=logits, target_logits=logits)
    nnm_loss(logits, mine_neighbors([q, k], queue, top_k=2))
    with pytest.raises((RuntimeError, NotImplementedError), match="meta tensor"):
        info_nce(q, k, queue, on_unnormalized="raise")  # the opt-in value check reads
