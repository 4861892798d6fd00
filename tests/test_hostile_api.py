"""Hostile inputs at the public entry points: a clear AimCLRError, never a raw traceback.

Each case was a raw error from deep inside torch/numpy/Python, or a silently accepted
value, before the check it exercises was added; where an entry point owns state
(queue, model, encoder), the state is compared before and after the refused call.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from aimclr import EADM, STGCN, AimCLR, AimCLRError
from aimclr import eval as E
from aimclr import losses as L
from aimclr import transforms as T
from aimclr.nn import (
    MomentumQueue,
    ProjectionHead,
    attach_eadm,
    copy_and_freeze,
    reference_init_,
    update_momentum,
)
from aimclr.transforms import functional as TF

HAS_MPL = importlib.util.find_spec("matplotlib") is not None


def _encoder() -> STGCN:
    return STGCN(hidden_channels=2, hidden_dim=8, dropout=0.0)


def _x(n: int = 4, v: int = 25) -> torch.Tensor:
    return torch.randn(n, 3, 8, v, 2, generator=torch.Generator().manual_seed(0))


def _unit(rows: int, dim: int = 8) -> torch.Tensor:
    return nn.functional.normalize(torch.randn(rows, dim), dim=1)


def _labelled(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(n, 3, 8, 25, 1), torch.arange(n) % 3


class _DictSamples(torch.utils.data.Dataset[dict[str, object]]):
    """Samples as dicts, not the (x, label) pairs the protocols read."""

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> dict[str, object]:
        return {"x": torch.randn(3, 8, 25, 1), "y": i % 3}


def _classifier() -> E.EncoderClassifier:
    return E.EncoderClassifier(_encoder(), 8, 3)


FEATS, LABELS = torch.randn(20, 8), torch.arange(20) % 3
SCORES, TRUTH = torch.randn(6, 3), torch.arange(6) % 3
LOGITS = torch.randn(4, 1)
NN_CASES: dict[str, tuple[Callable[[], object], str]] = {
    "attach_eadm name with a dot": (
        lambda: attach_eadm(nn.Conv2d(3, 3, 1), name="a.b"), r"name must be a Python identifier"),
    "EADM active_in_eval str": (lambda: EADM(active_in_eval="no"), r"active_in_eval must be True"),
    "EADM force str": (lambda: EADM()(torch.randn(2, 4, 3, 5), force="yes"), r"force must be"),
    "queue dtype str": (lambda: MomentumQueue(8, 4, dtype="float32"), r"dtype must be a floating"),
    "queue device name": (lambda: MomentumQueue(8, 4, device="foo"), r"device must name a torch"),
    "queue generator int": (lambda: MomentumQueue(8, 4, generator=1), r"torch.Generator or None"),
    "update_momentum str": (
        lambda: update_momentum("q", copy_and_freeze(nn.Linear(2, 2)), 0.9),
        r"query_net must be a torch.nn.Module"),
    "update_momentum buffers str": (
        lambda: update_momentum(nn.Linear(2, 2), copy_and_freeze(nn.Linear(2, 2)), 0.9, "yes"),
        r"buffers must be True or False"),
    "copy_and_freeze str": (lambda: copy_and_freeze("q"), r"module must be a torch.nn.Module"),
    "copy_and_freeze without str": (
        lambda: copy_and_freeze(nn.Linear(2, 2), without="EADM"), r"without must be"),
    "head float64 input": (
        lambda: ProjectionHead(4, 4, 2)(torch.randn(3, 4, dtype=torch.float64)),
        r"dtype torch.float32"),
    "pool float persons": (
        lambda: _encoder().pool(torch.randn(4, 8, 2, 25), 2.0), r"num_persons = 2.0"),
    "reference_init_ str": (lambda: reference_init_("x"), r"module must be a torch.nn.Module"),
    "reference_init_ int generator": (
        lambda: reference_init_(nn.Linear(2, 2), generator=1), r"torch.Generator or None"),
}
LOSS_CASES: dict[str, tuple[Callable[[], object], str]] = {
    "info_nce normalize str": (
        lambda: L.info_nce(_unit(4), _unit(4), _unit(16), normalize="yes"),
        r"normalize must be True or False"),
    "InfoNCELoss normalize str": (lambda: L.InfoNCELoss(normalize="no"), r"normalize must be"),
    "mine_neighbors generator of queries": (
        lambda: L.mine_neighbors((z for z in [_unit(4)]), _unit(16)), r"non-empty sequence"),
    "mine_neighbors normalize str": (
        lambda: L.mine_neighbors([_unit(4)], _unit(16), normalize="no"), r"normalize must be"),
    "info_nce_from_logits without negatives": (
        lambda: L.info_nce_from_logits(LOGITS), r"K >= 1 negatives"),
    "d3m_loss without negatives": (
        lambda: L.d3m_loss(logits=LOGITS, target_logits=LOGITS), r"K >= 1 negatives"),
    "nnm_loss without negatives": (
        lambda: L.nnm_loss(LOGITS, torch.ones(4, 1, dtype=torch.bool)), r"K >= 1 negatives"),
}
TRANSFORM_CASES: dict[str, tuple[Callable[[], object], str]] = {
    "Compose of one transform": (lambda: T.Compose(T.Shear()), r"sequence \(list or tuple\)"),
    "AimCLRViews int generator": (lambda: T.AimCLRViews()(_x(), generator=3), r"torch.Generator"),
    "crop_index negative pad": (
        lambda: TF.crop_index(torch.zeros(4, dtype=torch.long), -1, 8), r"pad must be an int"),
    "crop_index no frames": (
        lambda: TF.crop_index(torch.zeros(4, dtype=torch.long), 0, 0), r"num_frames must be"),
    "crop_index start out of range": (
        lambda: TF.crop_index(torch.full((4,), 9), 2, 8), r"start must lie in \[0, 2 \* pad\]"),
    "crop_index float start": (
        lambda: TF.crop_index(torch.zeros(4), 1, 8), r"start must be a integer tensor"),
}
MODEL_CASES: dict[str, tuple[Callable[[], object], str]] = {
    "eadm str": (lambda: AimCLR(_encoder(), queue_size=16, eadm="x"), r"eadm must be an"),
    "switch str": (
        lambda: AimCLR(_encoder(), queue_size=16, extreme_views="no"), r"extreme_views must be"),
    "queue_generator int": (
        lambda: AimCLR(_encoder(), queue_size=16, queue_generator=1), r"torch.Generator"),
    "from_reference list": (lambda: AimCLR.from_reference([1, 2]), r"source must be the path"),
    "load_reference_state_dict list": (
        lambda: AimCLR(_encoder(), queue_size=16).load_reference_state_dict([1]),  # type: ignore[arg-type]
        r"state_dict must be a mapping"),
    "nnm_active str": (
        lambda: AimCLR(_encoder(), queue_size=16).nnm_active("3"), r"epoch must be an int"),
}
EVAL_CASES: dict[str, tuple[Callable[[], object], str]] = {
    "knn meta test features": (
        lambda: E.knn_scores(FEATS, LABELS, FEATS.to("meta"), k=3), r"meta device"),
    "knn float num_classes": (
        lambda: E.knn_accuracy(FEATS, LABELS, FEATS, LABELS, k=3, num_classes=3.0),
        r"num_classes must be an int"),
    "knn numpy labels": (
        lambda: E.knn_accuracy(FEATS, LABELS.numpy(), FEATS, LABELS, k=3), r"torch.Tensor"),
    "knn numpy test labels": (
        lambda: E.knn_accuracy(FEATS, LABELS, FEATS, LABELS.numpy(), k=3), r"torch.Tensor"),
    "topk NaN scores": (
        lambda: E.topk_accuracy(SCORES * float("nan"), TRUTH, k=(1,)), r"non-finite"),
    "topk float k": (lambda: E.topk_accuracy(SCORES, TRUTH, k=(1.5,)), r"every k must"),
    "fuse numpy scores": (lambda: E.fuse_scores({"joint": SCORES.numpy()}), r"torch.Tensor"),
    "fuse list of scores": (lambda: E.fuse_scores([SCORES]), r"scores must map stream names"),
    "extract numpy data": (
        lambda: E.extract_features(_encoder(), _labelled()[0].numpy()), r"torch.from_numpy"),
    "extract str encoder": (
        lambda: E.extract_features("x", _labelled()[0]), r"encoder must be a torch.nn.Module"),
    "extract float labels": (
        lambda: E.extract_features(_encoder(), _labelled()[0], labels=torch.rand(12)),
        r"integer class indices"),
    "extract device name": (
        lambda: E.extract_features(_encoder(), _labelled()[0], device="foo"), r"device must"),
    "raw 1-NN float labels": (
        lambda: E.raw_1nn_accuracy((_labelled()[0], torch.rand(12) * 3), _labelled()),
        r"integer class indices"),
    "1-NN NaN features": (
        lambda: E.euclidean_1nn_accuracy(FEATS * float("nan"), LABELS, FEATS, LABELS),
        r"non-finite"),
    "1-NN numpy features": (
        lambda: E.euclidean_1nn_accuracy(FEATS.numpy(), LABELS, FEATS, LABELS), r"torch.Tensor"),
    "linear negative milestone": (
        lambda: E.linear_evaluation(_encoder(), _labelled(), _labelled(), 3, epochs=1,
                                    milestones=(-1,)), r"every milestone must be an int"),
    "linear device name": (
        lambda: E.linear_evaluation(_encoder(), _labelled(), _labelled(), 3, epochs=1,
                                    device="foo"), r"device must"),
    "linear precompute str": (
        lambda: E.linear_evaluation(_encoder(), _labelled(), _labelled(), 3, epochs=1,
                                    precompute="no"), r"precompute must be"),
    "finetune momentum 2": (
        lambda: E.finetune(_classifier(), _labelled(), _labelled(), epochs=1, momentum=2.0),
        r"momentum must lie in \[0, 1\]"),
    "finetune gamma NaN": (
        lambda: E.finetune(_classifier(), _labelled(), _labelled(), epochs=1,
                           gamma=float("nan")), r"gamma must be a finite number"),
    "finetune negative weight decay": (
        lambda: E.finetune(_classifier(), _labelled(), _labelled(), epochs=1,
                           weight_decay=-1.0), r"weight_decay must be"),
    "finetune copy_model str": (
        lambda: E.finetune(_classifier(), _labelled(), _labelled(), epochs=1,
                           copy_model="no"), r"copy_model must be"),
    "finetune str model": (
        lambda: E.finetune("x", _labelled(), _labelled(), epochs=1), r"model must be a torch"),
    "semi unknown option": (
        lambda: E.semi_supervised_finetune(_classifier(), _labelled(), _labelled(), 0.5, foo=1),
        r"unknown keyword arguments \['foo'\]"),
    "classifier feature_dim mismatch": (
        lambda: E.EncoderClassifier(_encoder(), 5, 3)(_labelled()[0][:2]), r"feature_dim = 5"),
    "classifier freeze_encoder str": (
        lambda: E.EncoderClassifier(_encoder(), 8, 3, freeze_encoder="no"), r"freeze_encoder"),
    "LinearProbe str encoder": (lambda: E.LinearProbe("x", 8, 3), r"encoder must be a torch"),
    "linear dataset of dicts": (
        lambda: E.linear_evaluation(_encoder(), _DictSamples(), _labelled(), 3, epochs=1),
        r"must yield \(x, label\) pairs, got a dict"),
    "extract dataset of dicts": (
        lambda: E.extract_features(_encoder(), _DictSamples()), r"\(x, label\) pairs"),
}


def _viz_cases() -> dict[str, tuple[Callable[[], object], str]]:
    from aimclr import viz as Z

    pose = torch.randn(3, 8, 25, 2)
    return {
        "frames of no person": (
            lambda: Z.plot_skeleton_frames(torch.randn(3, 8, 25, 0), "ntu-rgb+d"), r"M >= 1"),
        "project NaN angle": (lambda: Z.project(pose, azim=float("nan")), r"azim must be"),
        "pca NaN": (lambda: Z.pca(torch.full((5, 4), float("nan"))), r"non-finite"),
        "curves of strings": (
            lambda: Z.plot_training_curves([{"epoch": 1, "loss": "x"}]), r"'loss' = 'x'"),
        "curves of a dict": (lambda: Z.plot_training_curves({"epoch": 1}), r"list of records"),
        "figure of width 0": (lambda: Z.new_figure(0, 1), r"width must be a positive"),
        "frame_indices float": (lambda: Z.frame_indices(8, 2.5), r"frames must be a count"),
        "frame_indices no frames": (lambda: Z.frame_indices(0, 3), r"num_frames must be"),
        "views float seed": (lambda: Z.aimclr_views(pose, seed=1.5), r"seed must be an int"),
        "save into a folder": (
            lambda: Z.save_figure(Z.new_figure(1, 1), "/"), r"path must name a .png file"),
        "gif into a folder": (
            lambda: Z.save_skeleton_gif(pose, "ntu-rgb+d", "/", frames=2), r"name a .gif file"),
        "EADM masks of NaN": (
            lambda: Z.eadm_masks(torch.full((2, 8, 4, 25), float("nan"))), r"non-finite"),
        "colours of person -1": (
            lambda: Z.joint_colors("ntu-rgb+d", person=-1), r"person must be an int >= 0"),
    }


ALL_CASES = {**NN_CASES, **LOSS_CASES, **TRANSFORM_CASES, **MODEL_CASES, **EVAL_CASES}


@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_hostile_input_gets_a_clear_error(case: str) -> None:
    call, message = ALL_CASES[case]
    with pytest.raises(AimCLRError, match=message):
        call()


@pytest.mark.skipif(not HAS_MPL, reason="needs matplotlib")
@pytest.mark.parametrize("case", sorted(_viz_cases()) if HAS_MPL else [])
def test_hostile_viz_input_gets_a_clear_error(case: str) -> None:
    call, message = _viz_cases()[case]
    with pytest.raises(AimCLRError, match=message):
        call()


TRANSFORMS = [T.Rotate(), T.Shear(), T.SpatialFlip(), T.TemporalFlip(), T.TemporalCrop(),
              T.GaussianNoise(), T.GaussianBlur(), T.AxisMask()]  # fmt: skip


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: type(t).__name__)
def test_transforms_refuse_a_seed_and_keep_an_empty_batch(transform: T.Transform) -> None:
    with pytest.raises(AimCLRError, match=r"generator must be a torch.Generator or None"):
        transform(_x(), generator=0)  # type: ignore[arg-type]
    empty = _x()[:0]
    out = transform(empty, generator=torch.Generator().manual_seed(0))
    assert out.shape == empty.shape and out.dtype == empty.dtype


def test_views_of_an_empty_batch_are_empty() -> None:
    views = T.AimCLRViews()(_x()[:0], generator=torch.Generator().manual_seed(0))
    assert [tuple(v.shape) for v in views] == [(0, 3, 8, 25, 2)] * 3


def _queue_state(queue: MomentumQueue) -> tuple[torch.Tensor, torch.Tensor]:
    return queue.keys.clone(), queue.ptr.clone()


def test_refused_queue_calls_leave_keys_and_pointer() -> None:
    queue = MomentumQueue(8, 4)
    queue.enqueue(_unit(3, 4))
    before = _queue_state(queue)
    with pytest.raises(AimCLRError, match=r"torch.Generator or None"):
        queue.reset(generator=1)  # type: ignore[arg-type]
    with pytest.raises(AimCLRError, match=r"meta device"):
        queue.enqueue(torch.randn(2, 4, device="meta"))
    after = _queue_state(queue)
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])


def test_refused_finetune_leaves_the_model() -> None:
    model = _classifier()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(AimCLRError, match=r"momentum"):
        E.finetune(model, _labelled(), _labelled(), epochs=1, momentum=2.0, copy_model=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_single_k_is_read_as_a_tuple() -> None:
    assert E.topk_accuracy(SCORES, TRUTH, k=2) == E.topk_accuracy(SCORES, TRUTH, k=(2,))


def test_numpy_scalars_still_pass() -> None:
    """The new checks accept NumPy numbers where Python numbers are accepted."""
    key = copy_and_freeze(nn.Linear(2, 2))
    update_momentum(nn.Linear(2, 2), key, np.float64(0.9))
    assert E.knn_accuracy(FEATS, LABELS, FEATS, LABELS, k=np.int64(3)) > 0
