"""Findings of a new user's trial on recordings that are not NTU arrays."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from aimclr import STGCN, AimCLR, AimCLRError
from aimclr.data import check_class_coverage, check_queue_size, load_npz, open_dataset
from aimclr.errors import AimCLRWarning, NonFiniteInputError, SmallDataWarning
from aimclr.graph import COCO_17
from aimclr.streams import stream_dataset, to_stream
from aimclr.training import KNNMonitor, PretrainViews, TrainingState, pretrain_epoch


def _coco_file(folder: Path, channels: int) -> Path:
    """A COCO-17 recording of 12 short clips, 2 or 3 coordinates per joint."""
    rng = np.random.default_rng(0)
    lengths = np.full(12, 9)
    path = folder / f"coco_{channels}d.npz"
    np.savez(
        path, data=rng.normal(size=(int(lengths.sum()), 17, channels)).astype(np.float32),
        offsets=np.concatenate([[0], np.cumsum(lengths)]), labels=np.arange(12) % 3,
        class_names=np.array(["a", "b", "c"]), layout=np.array("coco-17"),
        joint_names=np.array(COCO_17.joint_names), subjects=np.arange(12) % 4,
    )
    return path


def test_2d_keypoints_refused_before_training_with_the_shape(tmp_path: Path) -> None:
    path = _coco_file(tmp_path, channels=2)
    assert load_npz(path).data.shape[-1] == 2  # the loader itself reads them
    with pytest.raises(AimCLRError, match=r"coco_2d\.npz.*C = 2.*3-D joints \(C = 3"):
        open_dataset(path, num_frames=8, split="subject:1")


def test_3d_coco_opens_on_its_layout(tmp_path: Path) -> None:
    splits = open_dataset(_coco_file(tmp_path, channels=3), num_frames=8, split="subject:1")
    assert splits.layout is not None and splits.layout.name == "coco-17"
    sample = splits.train[0][0]
    assert tuple(sample.shape) == (3, 8, 17, 1)
    assert float(sample[:, :, COCO_17.center].abs().max()) == 0.0  # centred on the nose


def test_split_leaving_a_class_out_of_training_is_warned(tmp_path: Path) -> None:
    path = tmp_path / "skewed.npz"
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    subjects = np.array([1, 1, 2, 1, 2, 2, 2, 2])  # class 2 only by subject 2
    lengths = np.full(8, 6)
    np.savez(path, data=np.random.default_rng(1).normal(size=(48, 17, 3)).astype(np.float16),
             offsets=np.concatenate([[0], np.cumsum(lengths)]), labels=labels,
             class_names=np.array(["a", "b", "c"]), layout=np.array("coco-17"),
             subjects=subjects)
    with pytest.warns(SmallDataWarning, match=r"class 2 \(2 test sequences\), 2 of N_test = 5"):
        open_dataset(path, num_frames=4, split="subject:2")
    with pytest.warns(SmallDataWarning, match=r"single class \(0, N_train = 3\)"):
        check_class_coverage(labels[:3], labels[3:])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_class_coverage(labels, labels)
        open_dataset(path, num_frames=4, split="random:0.4")  # every class on both sides


def test_queue_warning_gives_the_ratio_not_a_rounded_one() -> None:
    with pytest.warns(SmallDataWarning, match=r"about 1\.33 times over"):
        check_queue_size(64, 48)


def test_knn_monitor_refuses_unlabelled_data_up_front_and_reads_triples() -> None:
    x, y = torch.randn(12, 3, 4, 25, 1), torch.arange(12) % 3
    with pytest.raises(AimCLRError, match=r"train\[0\] is a tuple of 1 item.*labelled"):
        KNNMonitor(TensorDataset(x), TensorDataset(x, y), 3)
    with pytest.raises(AimCLRError, match="test is empty"):
        KNNMonitor(TensorDataset(x, y), TensorDataset(x[:0], y[:0]), 3)
    with pytest.raises(AimCLRError, match="batch_size must be an int >= 1, got 0"):
        KNNMonitor(TensorDataset(x, y), TensorDataset(x, y), 3, batch_size=0)
    # (x, label, index) samples: the extra item is ignored, the result is the pairs'
    pairs = KNNMonitor(TensorDataset(x, y), TensorDataset(x, y), 3, ks=(1,))
    triples = KNNMonitor(TensorDataset(x, y, torch.arange(12)),
                         TensorDataset(x, y, torch.arange(12)), 3, ks=(1,))  # fmt: skip
    assert pairs(nn.Flatten()) == triples(nn.Flatten()) == {"knn1": 1.0}


def _small_file(folder: Path, **changes: np.ndarray) -> Path:
    """Eight Kinect v1 sequences of 6 frames in metres; ``changes`` replace keys."""
    rng = np.random.default_rng(2)
    content = {
        "data": (rng.normal(scale=0.3, size=(48, 20, 3))).astype(np.float32),
        "offsets": np.arange(0, 49, 6), "labels": np.arange(8) % 2,
        "class_names": np.array(["a", "b"]), "layout": np.array("kinect-v1"),
        "styles": np.arange(8) % 2, "style_names": np.array(["calm", "angry"]),
        "subjects": np.repeat([1, 2], 4),
    }  # fmt: skip
    content.update(changes)
    path = folder / "small.npz"
    np.savez(path, **content)
    return path


def test_labels_and_styles_must_index_their_names(tmp_path: Path) -> None:
    labels = np.arange(8) % 2
    labels[5] = 7
    with pytest.raises(AimCLRError, match=r"labels must index the 2 class_names.*got 7; "
                                          r"sequences \[5\]"):
        load_npz(_small_file(tmp_path, labels=labels))
    with pytest.raises(AimCLRError, match=r"styles must index the 2 style_names.*got 9"):
        load_npz(_small_file(tmp_path, styles=np.array([0, 1, 0, 9, 0, 1, 0, 1])))
    with pytest.raises(AimCLRError, match=r"styles must be >= 0"):
        load_npz(_small_file(tmp_path, styles=np.array([0, 1, 0, -1, 0, 1, 0, 1])))


def test_millimetres_are_warned_metres_are_not(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_npz(_small_file(tmp_path))
    metres = load_npz(_small_file(tmp_path)).data
    with pytest.warns(AimCLRWarning, match=r"median pose spans \d+ units.*millimetres"):
        load_npz(_small_file(tmp_path, data=metres * 1000))


def test_empty_sequence_named_by_its_file_index(tmp_path: Path) -> None:
    offsets = np.array([0, 6, 12, 18, 24, 30, 36, 36, 48])  # sequence 6 is empty
    path = _small_file(tmp_path, offsets=offsets)
    # sequence 6 (subject 2) is the test side's third: the message gives the file's index
    with pytest.raises(AimCLRError, match=r"small\.npz: sequences \[6\] \(1 of 8\) have no"):
        open_dataset(path, num_frames=4, split="subject:2")


def test_more_persons_than_asked_names_the_option(tmp_path: Path) -> None:
    two = np.random.default_rng(3).normal(scale=0.3, size=(48, 2, 20, 3)).astype(np.float32)
    with pytest.raises(AimCLRError, match=r"small\.npz: data holds M = 2 persons.*"
                                          r"num_persons=2 \(--persons 2"):
        open_dataset(_small_file(tmp_path, data=two), num_frames=4, split="subject:2")
    assert open_dataset(_small_file(tmp_path, data=two), num_frames=4, num_persons=2,
                        split="subject:2").train[0][0].shape[-1] == 2  # fmt: skip


def test_a_nan_batch_mid_epoch_says_earlier_steps_changed_the_model() -> None:
    x, y = torch.randn(24, 3, 8, 25, 1), torch.arange(24) % 3
    x[13, 0, 0, 0, 0] = float("nan")  # some batch of the shuffled epoch
    model = AimCLR(STGCN(hidden_channels=4, hidden_dim=8), feature_dim=8, queue_size=12)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    views = PretrainViews(model.extreme_views, codes="1", stream="joint")
    with pytest.raises(NonFiniteInputError) as caught:
        pretrain_epoch(model, TensorDataset(x, y), views, optimizer, 1, batch_size=6, seed=0)
    message = str(caught.value)
    step = int(message.split("step ")[1].split(":")[0])
    assert step > 1  # seed 0 puts sample 13 after the first batch
    assert f"{step - 1} earlier optimiser step(s) of this epoch did update" in message
    first = torch.randn(6, 3, 8, 25, 1)
    first[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteInputError, match="no step of this epoch ran"):
        pretrain_epoch(model, TensorDataset(first, y[:6]), views, optimizer, 2, batch_size=6,
                       seed=0)  # fmt: skip


def test_a_schedule_saved_but_not_rebuilt_on_resume_is_warned(tmp_path: Path) -> None:
    def parts(with_scheduler: bool) -> TrainingState:
        torch.manual_seed(0)
        model = AimCLR(STGCN(hidden_channels=4, hidden_dim=8), feature_dim=8, queue_size=12)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5) if with_scheduler else None
        return TrainingState(model, optimizer, scheduler=scheduler, epoch=3)

    parts(True).save(tmp_path / "with.pt")
    parts(False).save(tmp_path / "without.pt")
    with pytest.warns(AimCLRWarning, match="has no scheduler: the learning rate stays"):
        parts(False).load(tmp_path / "with.pt")
    with pytest.warns(AimCLRWarning, match="StepLR but the saved state holds none"):
        parts(True).load(tmp_path / "without.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parts(True).load(tmp_path / "with.pt")
        parts(False).load(tmp_path / "without.pt")


def test_streams_name_the_layout_option_and_read_labelled_samples_only() -> None:
    x = torch.randn(4, 3, 6, 17, 1)
    with pytest.raises(AimCLRError, match=r"V = 25 joints of layout 'ntu-rgb\+d'.*pass layout="):
        to_stream(x, "bone")
    with pytest.raises(AimCLRError, match=r"dataset\[0\] is a tuple of 1 item"):
        stream_dataset(TensorDataset(x), "bone", "coco-17")
    triples = stream_dataset(TensorDataset(x, torch.arange(4), torch.arange(4)), "bone", "coco-17")
    assert torch.equal(triples[1][0], to_stream(x[1], "bone", "coco-17"))
