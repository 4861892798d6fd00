"""Findings of a new user's trial on recordings that are not NTU arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aimclr import AimCLRError
from aimclr.data import load_npz, open_dataset
from aimclr.graph import COCO_17


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
