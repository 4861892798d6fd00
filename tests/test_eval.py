"""Evaluation protocols: features, kNN, linear probe, fine-tuning, fusion, top-k."""

from __future__ import annotations

import copy
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
    with pytest.raises(AimCLRError, match="weight of stream 'b' must be a finite number"):
        fuse_scores({"a": joint, "b": bone}, {"a": 1.0, "b": float("nan")})
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
    with pytest.raises(AimCLRError, match="num_classes must be an int >= 1"):
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


class _ListDataset(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """A dataset without a ``labels`` tensor: its labels are only seen sample by sample."""

    def __init__(self, x: torch.Tensor, y: list[int]) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.x[index], self.y[index]


def test_knn_votes_in_float32_for_half_features() -> None:
    # 100 class-0 rows at cosine 0.95 and 100 class-1 rows at cosine 1.0 to the query:
    # each summed vote (~1e6) overflows float16, so class 1 must still win.
    near = torch.tensor([[1.0, 0.0]]).repeat(100, 1)
    far = torch.tensor([[0.95, math.sqrt(1 - 0.95**2)]]).repeat(100, 1)
    train, labels = torch.cat([far, near]), torch.arange(2).repeat_interleave(100)
    query = torch.tensor([[1.0, 0.0]])
    expected = torch.tensor([[100 * math.exp(9.5), 100 * math.exp(10.0)]])
    for dtype in (torch.float16, torch.bfloat16):
        scores = knn_scores(train.to(dtype), labels, query.to(dtype))
        assert scores.dtype == torch.float32
        torch.testing.assert_close(scores, expected, rtol=1e-2, atol=0.0)
        assert knn_predict(train.to(dtype), labels, query.to(dtype)).item() == 1
    # Mixed precision promotes to the wider dtype instead of failing in the matmul.
    mixed = knn_scores(train, labels, query.double())
    assert mixed.dtype == torch.float64
    torch.testing.assert_close(mixed, expected.double(), rtol=1e-6, atol=0.0)


def test_label_checks() -> None:
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2]])
    with pytest.raises(AimCLRError, match=r"labels \(N,\) must lie in \[0, num_classes = 2\), "
                                          r"got values in \[0, 2\]"):
        topk_accuracy(scores, torch.tensor([2, 0]), k=(1,))
    with pytest.raises(AimCLRError, match=r"labels \(N,\) must be integer.*torch.float32"):
        topk_accuracy(scores, torch.tensor([1.0, 0.0]), k=(1,))
    with pytest.raises(AimCLRError, match=r"k must hold at least one value in \[1, K = 2\]"):
        topk_accuracy(scores, torch.tensor([1, 0]), k=())
    feats = torch.eye(3)
    with pytest.raises(AimCLRError, match=r"train_labels must be integer \(N_train,\)"):
        knn_scores(feats, torch.tensor([True, False, True]), feats)
    with pytest.raises(AimCLRError, match=r"test_labels \(N_test,\) must lie in "
                                          r"\[0, num_classes = 3\), got values in \[0, 3\]"):
        knn_accuracy(feats, torch.arange(3), feats, torch.tensor([0, 1, 3]), num_classes=3)
    # Without num_classes a test class absent from training is allowed (never predicted).
    assert knn_accuracy(feats, torch.arange(3), feats, torch.tensor([0, 1, 3]),
                        k=1) == pytest.approx(2 / 3)
    x, y = _toy(12, 0)
    for precompute in (True, False):
        kwargs = {"num_classes": 3, "epochs": 1, "batch_size": 4, "precompute": precompute}
        with pytest.raises(AimCLRError, match=r"train_data labels \(N,\) must lie in "
                                              r"\[0, num_classes = 3\), got values in \[1, 3\]"):
            linear_evaluation(MeanEncoder(), (x, y + 1), (x, y), **kwargs)
        with pytest.raises(AimCLRError, match=r"test_data labels \(N,\) must be integer"):
            linear_evaluation(MeanEncoder(), (x, y), (x, y.float()), **kwargs)
        # labels only seen sample by sample: caught as read, still an AimCLRError
        listed = _ListDataset(x, [0] * 11 + [5])
        with pytest.raises(AimCLRError, match=r"labels \(N,\) must lie in \[0, num_classes = 3\)"):
            linear_evaluation(MeanEncoder(), listed, (x, y), **kwargs)
        with pytest.raises(AimCLRError, match=r"test labels \(N,\) must lie in "
                                              r"\[0, num_classes = 3\), got values in \[.*5\]"):
            linear_evaluation(MeanEncoder(), (x, y), listed, **kwargs)
    model = EncoderClassifier(MeanEncoder(), 8, 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bad = y.clone()
    bad[-1] = 3  # one bad label, not in the first batch: still rejected before any step
    with pytest.raises(AimCLRError, match=r"train_data labels \(N,\) must lie in "
                                          r"\[0, num_classes = 3\), got values in \[0, 3\]"):
        finetune(model, (x, bad), (x, y), epochs=1, batch_size=4, copy_model=False,
                 generator=torch.Generator().manual_seed(0))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_linear_evaluation_restores_encoder_modes() -> None:
    enc = MeanEncoder()
    enc.train()
    enc.bn.eval()  # mixed modes: a frozen BatchNorm inside a training encoder
    enc.fc.weight.requires_grad_(False)
    modes = {name: m.training for name, m in enc.named_modules()}
    extract_features(enc, _toy(4, 0)[0])
    assert {name: m.training for name, m in enc.named_modules()} == modes
    for precompute in (True, False):
        linear_evaluation(enc, _toy(12, 1), _toy(6, 2), num_classes=3, epochs=1, batch_size=4,
                          precompute=precompute)
        assert {name: m.training for name, m in enc.named_modules()} == modes
        assert [p.requires_grad for p in enc.parameters()] == [True, True, False, True]


def test_linear_evaluation_generator_fixes_the_classifier_initialisation() -> None:
    enc = MeanEncoder()
    train, test = _toy(48, 3), _toy(12, 4)
    results = {}
    for precompute, global_seed in ((True, 0), (True, 1), (False, 2)):
        torch.manual_seed(global_seed)  # must not matter once a generator is given
        results[precompute, global_seed] = linear_evaluation(
            enc, train, test, num_classes=3, epochs=3, lr=0.3, batch_size=16, eval_every=1,
            precompute=precompute, generator=torch.Generator().manual_seed(5),
        )
    assert torch.equal(results[True, 0].best_scores, results[True, 1].best_scores)
    assert results[True, 0].history == results[True, 1].history
    torch.testing.assert_close(results[True, 0].best_scores, results[False, 2].best_scores,
                               rtol=1e-4, atol=1e-4)
    # the classifier starts from nn.Linear's U(-1/sqrt(D), 1/sqrt(D)): a trained one
    # stays in the same range after a tiny step
    tiny = linear_evaluation(enc, train, test, num_classes=3, epochs=1, lr=1e-9,
                             batch_size=16, generator=torch.Generator().manual_seed(5))
    assert tiny.model is not None
    fc = tiny.model.fc
    bound = 1 / math.sqrt(8)
    assert fc.weight.abs().max() <= bound and fc.bias.abs().max() <= bound
    assert fc.weight.std() > bound / 4  # spread over the range, not collapsed


def test_linear_evaluation_dtypes_and_feature_dim() -> None:
    enc = MeanEncoder()
    (x, y), test = _toy(24, 7), _toy(9, 8)
    common = {"num_classes": 3, "epochs": 2, "lr": 0.3, "batch_size": 8, "eval_every": 1}
    reference = linear_evaluation(enc, (x, y), test, generator=torch.Generator().manual_seed(0),
                                  **common)
    for precompute in (True, False):
        # float64 data is cast to the encoder's float32 on both paths
        result = linear_evaluation(enc, (x.double(), y), (test[0].double(), test[1]),
                                   precompute=precompute,
                                   generator=torch.Generator().manual_seed(0), **common)
        torch.testing.assert_close(result.best_scores, reference.best_scores,
                                   rtol=1e-4, atol=1e-4)
        with pytest.raises(AimCLRError, match=r"x must be a floating tensor \(N, C, T, V, M\).*"
                                              r"torch.int64"):
            linear_evaluation(enc, (x.long(), y), test, precompute=precompute, **common)
        with pytest.raises(AimCLRError, match=r"feature_dim is 5 but the encoder maps "
                                              r"\(N, C, T, V, M\) to \(N, D\) with D = 8"):
            linear_evaluation(enc, (x, y), test, feature_dim=5, precompute=precompute, **common)
    # a float64 encoder gets float64 inputs and a float64 classifier
    wide = copy.deepcopy(enc).double()
    result = linear_evaluation(wide, (x, y), test, generator=torch.Generator().manual_seed(0),
                               **common)
    assert result.best_scores.dtype == torch.float64
    torch.testing.assert_close(result.best_scores.float(), reference.best_scores,
                               rtol=1e-4, atol=1e-4)


def test_finetune_modes_and_frozen_encoders() -> None:
    x, y = _toy(24, 9)
    with pytest.raises(AimCLRError, match="freeze_encoder=True, whose forward runs the encoder "
                                          "without gradients"):
        finetune(LinearProbe(MeanEncoder(), 8, 3), (x, y), (x, y), epochs=1)
    with pytest.raises(AimCLRError, match="encoder_eval=True, which keeps its encoder in eval"):
        finetune(EncoderClassifier(MeanEncoder(), 8, 3), (x, y), (x, y), epochs=1,
                 keep_eval_mode=False)
    # keep_eval_mode=False with encoder_eval=False really trains in train mode
    free = EncoderClassifier(MeanEncoder(), 8, 3, encoder_eval=False)
    stats = free.encoder.bn.running_mean.clone()
    result = finetune(free, (x, y), (x, y), epochs=1, batch_size=8, keep_eval_mode=False)
    assert result.model is not None
    assert not torch.equal(result.model.encoder.bn.running_mean, stats)
    # modes of every submodule come back, in place and on the trained copy
    model = EncoderClassifier(MeanEncoder(), 8, 3, encoder_eval=False)
    model.train()
    model.encoder.bn.eval()
    modes = {name: m.training for name, m in model.named_modules()}
    for copy_model in (True, False):
        result = finetune(model, (x, y), (x, y), epochs=1, batch_size=8, copy_model=copy_model)
        assert result.model is not None
        assert {name: m.training for name, m in model.named_modules()} == modes
        assert {name: m.training for name, m in result.model.named_modules()} == modes


def test_step_decay_to_zero_freezes_the_classifier_after_the_milestone() -> None:
    # milestones=(1,), gamma=0: lr = 0 from epoch 2 on, so SGD (p -= lr * buf) leaves the
    # weights at their epoch-1 values whatever the momentum buffer holds.
    enc = MeanEncoder()
    train, test = _toy(48, 10), _toy(12, 11)
    results = {
        epochs: linear_evaluation(enc, train, test, num_classes=3, epochs=epochs, lr=0.3,
                                  milestones=(1,), gamma=0.0, batch_size=16, eval_every=1,
                                  generator=torch.Generator().manual_seed(3))
        for epochs in (1, 4)
    }
    one, four = results[1].model, results[4].model
    assert one is not None and four is not None
    assert torch.equal(four.fc.weight, one.fc.weight) and torch.equal(four.fc.bias, one.fc.bias)
    # epoch 1 did train: the same draw with a negligible lr stays at the initialisation
    still = linear_evaluation(enc, train, test, num_classes=3, epochs=1, lr=1e-9,
                              batch_size=16, generator=torch.Generator().manual_seed(3)).model
    assert still is not None
    assert (one.fc.weight - still.fc.weight).abs().max() > 1e-3
    assert [h[0] for h in results[4].history] == [1, 2, 3, 4]
    assert len({h[1:] for h in results[4].history}) == 1  # same accuracy at every epoch
    assert results[4].best_epoch == 1  # a tie at every epoch: the first one counts
    torch.testing.assert_close(results[4].best_scores, results[1].best_scores, rtol=0, atol=0)


def test_gradient_clipping_bounds_every_step() -> None:
    # momentum 0, no weight decay: each step moves the parameters by lr * clipped gradient,
    # of norm <= max_grad_norm, so the total change is at most lr * max_grad_norm * steps.
    torch.manual_seed(0)
    model = EncoderClassifier(MeanEncoder(), 8, 3)
    x, y = _toy(24, 12)
    lr, max_norm, epochs, batch_size = 0.5, 1e-3, 2, 8
    steps = epochs * (24 // batch_size)
    result = finetune(model, (x, y), (x, y), epochs=epochs, lr=lr, momentum=0.0,
                      weight_decay=0.0, batch_size=batch_size, max_grad_norm=max_norm,
                      generator=torch.Generator().manual_seed(0))
    assert result.model is not None
    change = torch.cat([(after - before).detach().flatten() for after, before in
                        zip(result.model.parameters(), model.parameters(), strict=True)])
    bound = lr * max_norm * steps
    assert 0 < change.norm() <= bound * (1 + 1e-4)
    # without clipping the same run moves much further: the bound is not vacuous
    free = finetune(model, (x, y), (x, y), epochs=epochs, lr=lr, momentum=0.0,
                    weight_decay=0.0, batch_size=batch_size,
                    generator=torch.Generator().manual_seed(0))
    assert free.model is not None
    moved = torch.cat([(after - before).detach().flatten() for after, before in
                       zip(free.model.parameters(), model.parameters(), strict=True)])
    assert moved.norm() > 10 * bound


def test_best_epoch_is_the_first_to_reach_the_best_top1() -> None:
    enc = MeanEncoder()
    train, test = _toy(96, 13), _toy(30, 14)
    kwargs = {"num_classes": 3, "lr": 0.5, "batch_size": 16, "eval_every": 1}
    result = linear_evaluation(enc, train, test, epochs=8,
                               generator=torch.Generator().manual_seed(0), **kwargs)
    top1 = [h[1] for h in result.history]
    first = 1 + top1.index(max(top1))
    assert top1.count(max(top1)) >= 2  # a tie: the run saturates before its last epoch
    assert result.best_top1 == max(top1) and result.best_epoch == first
    assert result.best_top5 == result.history[first - 1][2]
    # best_scores are that epoch's logits: a run stopped there ends with them
    short = linear_evaluation(enc, train, test, epochs=first,
                              generator=torch.Generator().manual_seed(0), **kwargs)
    torch.testing.assert_close(result.best_scores, short.best_scores, rtol=0, atol=0)


def test_encoder_classifier_generator_fixes_its_head() -> None:
    heads = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)  # must not matter once a generator is given
        model = EncoderClassifier(MeanEncoder(), 8, 3, generator=torch.Generator().manual_seed(7))
        heads.append(model.fc)
    assert torch.equal(heads[0].weight, heads[1].weight)
    assert torch.equal(heads[0].bias, heads[1].bias)
    bound = 1 / math.sqrt(8)  # nn.Linear's U(-1/sqrt(D), 1/sqrt(D))
    assert heads[0].weight.abs().max() <= bound and heads[0].weight.std() > bound / 4
    with pytest.raises(AimCLRError, match="generator"):
        EncoderClassifier(MeanEncoder(), 8, 3, generator=7)  # type: ignore[arg-type]
