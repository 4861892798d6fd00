"""Evaluation protocols: features, kNN, linear probe, fine-tuning, fusion, top-k."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from aimclr.data import SkeletonTensorDataset
from aimclr.errors import AimCLRError
from aimclr.eval import (
    EncoderClassifier,
    LinearProbe,
    extract_features,
    finetune,
    fuse_scores,
    knn_accuracy,
    knn_predict,
    knn_scores,
    linear_evaluation,
    semi_supervised_finetune,
    topk_accuracy,
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models: thread start-up dominates, and spins badly on a loaded 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class MeanEncoder(nn.Module):
    """(N, C, T, V, M) -> (N, C * V) means over time and persons, then BN + linear."""

    def __init__(self, out: int = 8) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(3 * 4)
        self.fc = nn.Linear(3 * 4, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.bn(x.mean(dim=(2, 4)).flatten(1)))
        return out


def _toy(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Linearly separable toy skeletons: class c shifts coordinate c of joint 0."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = 0.1 * torch.randn(n, 3, 6, 4, 1, generator=g)
    x[torch.arange(n), y, :, 0, 0] += 2.0
    return x, y


def test_extract_features_eval_mode_and_restores() -> None:
    enc = MeanEncoder()
    enc.train()
    x, y = _toy(10, 0)
    feats, labels = extract_features(enc, SkeletonTensorDataset(x, y), batch_size=3)
    assert feats.shape == (10, 8) and torch.equal(labels, y)  # type: ignore[arg-type]
    assert enc.training and not feats.requires_grad
    enc.eval()
    torch.testing.assert_close(feats, enc(x).detach())  # eval-mode BN statistics
    same, none = extract_features(enc, x)
    assert none is None and torch.allclose(same, feats)
    loader = torch.utils.data.DataLoader(SkeletonTensorDataset(x, y), batch_size=4)
    assert torch.allclose(extract_features(enc, loader)[0], feats)
    with pytest.raises(AimCLRError, match=r"features \(B, D\).*returned shape \(4, 3, 24, 1\)"):
        extract_features(nn.Flatten(2, 3), x, batch_size=4)
    with pytest.raises(AimCLRError, match=r"layout \(N, C, T, V, M\)"):
        extract_features(enc, x[0])


def test_knn_clusters_and_hand_computed_vote() -> None:
    centers = torch.eye(4)
    g = torch.Generator().manual_seed(0)
    train = centers.repeat_interleave(20, 0) + 0.05 * torch.randn(80, 4, generator=g)
    labels = torch.arange(4).repeat_interleave(20)
    test = centers.repeat_interleave(5, 0) + 0.05 * torch.randn(20, 4, generator=g)
    test_labels = torch.arange(4).repeat_interleave(5)
    assert knn_accuracy(train, labels, test, test_labels, k=10) == 1.0
    assert knn_accuracy(train, labels, test, test_labels, k=1, chunk_size=3) == 1.0
    # Hand-computed: cos sims 1, 0.8, 0.6 (labels 0, 1, 1) with tau = 0.5.
    bank = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]])
    scores = knn_scores(bank, torch.tensor([0, 1, 1]), torch.tensor([[2.0, 0.0]]), k=3,
                        temperature=0.5, num_classes=3)
    expected = [math.exp(2.0), math.exp(1.6) + math.exp(1.2), 0.0]
    torch.testing.assert_close(scores, torch.tensor([expected]))
    assert knn_predict(bank, torch.tensor([0, 1, 1]), torch.tensor([[2.0, 0.0]]), k=3,
                       temperature=0.5).item() == 1  # two weaker votes outweigh one
    assert knn_predict(bank, torch.tensor([0, 1, 1]), torch.tensor([[2.0, 0.0]]), k=1).item() == 0
    # k > N_train is clipped to N_train
    torch.testing.assert_close(
        knn_scores(bank, torch.tensor([0, 1, 1]), torch.tensor([[2.0, 0.0]]), k=99,
                   temperature=0.5, num_classes=3),
        scores,
    )


def test_knn_errors() -> None:
    feats, labels = torch.randn(5, 4), torch.arange(5)
    with pytest.raises(AimCLRError, match="must share D"):
        knn_predict(feats, labels, torch.randn(2, 3))
    with pytest.raises(AimCLRError, match="temperature must be a positive finite number"):
        knn_predict(feats, labels, feats, temperature=0.0)
    with pytest.raises(AimCLRError, match="k must be an integer >= 1"):
        knn_predict(feats, labels, feats, k=0)
    with pytest.raises(AimCLRError, match="train_feats is empty"):
        knn_predict(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), feats)
    with pytest.raises(AimCLRError, match=r"train_labels must be integer \(N_train,\)"):
        knn_predict(feats, labels[:3], feats)
    with pytest.raises(AimCLRError, match=r"\[0, num_classes = 3\)"):
        knn_predict(feats, labels, feats, num_classes=3)
    with pytest.raises(AimCLRError, match=r"test_labels must be \(N_test,\)"):
        knn_accuracy(feats, labels, feats, labels[:2])


def test_topk_and_fusion_by_hand() -> None:
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.3, 0.25, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    labels = torch.tensor([2, 0, 0, 0])  # ranks of the true class: 2, 2, 1, 3
    assert topk_accuracy(scores, labels, k=(1, 2, 3)) == (0.25, 0.75, 1.0)
    with pytest.raises(AimCLRError, match=r"every k must lie in \[1, K = 3\]"):
        topk_accuracy(scores, labels)
    with pytest.raises(AimCLRError, match=r"scores must be \(N, K\) and labels \(N,\)"):
        topk_accuracy(scores, labels[:2], k=(1,))
    joint = torch.tensor([[1.0, 0.0]])
    bone = torch.tensor([[0.0, 1.0]])
    motion = torch.tensor([[0.0, 2.0]])
    fused = fuse_scores({"joint": joint, "bone": bone, "motion": motion})
    torch.testing.assert_close(fused, torch.tensor([[0.6, 0.6 + 0.8]]))
    torch.testing.assert_close(fuse_scores({"a": joint, "b": bone}, {"a": 2.0, "b": -1.0}),
                               torch.tensor([[2.0, -1.0]]))
    with pytest.raises(AimCLRError, match=r"no weight for streams \['rgb'\]"):
        fuse_scores({"rgb": joint})
    with pytest.raises(AimCLRError, match="one shape"):
        fuse_scores({"joint": joint, "bone": torch.zeros(2, 2)})
    with pytest.raises(AimCLRError, match="scores is empty"):
        fuse_scores({})


def test_linear_probe_learns_separable_toy_and_keeps_encoder_frozen() -> None:
    torch.manual_seed(0)
    enc = MeanEncoder()
    enc.train()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    train, test = _toy(96, 1), _toy(30, 2)
    result = linear_evaluation(enc, train, test, num_classes=3, epochs=20, lr=0.5,
                               milestones=(15,), batch_size=16,
                               generator=torch.Generator().manual_seed(0))
    assert result.best_top1 == 1.0 and result.last_top1 == 1.0
    assert result.best_scores.shape == (30, 3) and result.history[-1][0] == 20
    assert len(result.history) == 4  # every 5 epochs
    for k, v in enc.state_dict().items():  # BN running stats and weights untouched
        assert torch.equal(v, before[k]), k


def test_precomputed_features_give_the_same_training() -> None:
    enc = MeanEncoder()
    train, test = _toy(48, 3), _toy(12, 4)
    results = []
    for precompute in (True, False):
        torch.manual_seed(1)  # same classifier initialisation
        results.append(linear_evaluation(
            enc, train, test, num_classes=3, feature_dim=8, epochs=3, lr=0.3, batch_size=16,
            eval_every=1, precompute=precompute, generator=torch.Generator().manual_seed(5),
        ))
    torch.testing.assert_close(results[0].best_scores, results[1].best_scores,
                               rtol=1e-4, atol=1e-4)
    for fast, slow in zip(results[0].history, results[1].history, strict=True):
        assert fast == pytest.approx(slow)


def test_encoder_classifier_modes() -> None:
    probe = LinearProbe(MeanEncoder(), 8, 3)
    probe.train()
    assert probe.training and not probe.encoder.training
    assert all(not p.requires_grad for p in probe.encoder.parameters())
    tuned = EncoderClassifier(MeanEncoder(), 8, 3, encoder_eval=False)
    tuned.train()
    assert tuned.encoder.training
    with pytest.raises(AimCLRError, match="num_classes must be an integer >= 1"):
        EncoderClassifier(MeanEncoder(), 8, 0)


def test_finetune_and_semi_supervised() -> None:
    torch.manual_seed(0)
    model = EncoderClassifier(MeanEncoder(), 8, 3)
    train, test = _toy(90, 5), _toy(30, 6)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = finetune(model, train, test, epochs=10, lr=0.1, batch_size=16,
                      generator=torch.Generator().manual_seed(0))
    assert result.best_top1 == 1.0
    for k, v in model.state_dict().items():  # copy_model=True leaves the input alone
        assert torch.equal(v, before[k])
    trained = result.model
    assert trained is not None
    # BN stayed in eval mode: its running statistics never moved
    assert torch.equal(trained.state_dict()["encoder.bn.running_mean"],
                       before["encoder.bn.running_mean"])
    assert not torch.equal(trained.state_dict()["fc.weight"], before["fc.weight"])
    semi = semi_supervised_finetune(model, train, test, 0.2, epochs=15, lr=0.1, batch_size=8)
    assert semi.best_top1 > 0.9
    with pytest.raises(AimCLRError, match=r"fraction must lie in \(0, 1\]"):
        semi_supervised_finetune(model, train, test, 1.5)
    with pytest.raises(AimCLRError, match="lr must be a positive finite number"):
        finetune(model, train, test, lr=-1.0)
    with pytest.raises(AimCLRError, match="test_data is empty"):
        finetune(model, train, (torch.zeros(0, 3, 6, 4, 1), torch.zeros(0, dtype=torch.long)))
