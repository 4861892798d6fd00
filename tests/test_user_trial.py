"""Findings of a new user's trial on recordings that are not NTU arrays."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from aimclr import AimCLRError
from aimclr.data import check_class_coverage, check_queue_size, load_npz, open_dataset
from aimclr.errors import SmallDataWarning
from aimclr.graph import COCO_17
from aimclr.training import KNNMonitor


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
