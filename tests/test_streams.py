"""Bone and motion streams."""

from __future__ import annotations

import pytest
import torch

from aimclr import AimCLRError, to_bone, to_motion, to_stream
from aimclr.graph import COCO_17, NTU_RGBD

# Reference bone list, 1-based (child, parent), spec section 1.3.
REFERENCE_BONES = [
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
    (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
    (20, 19), (21, 21), (22, 23), (23, 8), (24, 25), (25, 12),
]  # fmt: skip


def test_bone_matches_the_reference_loop() -> None:
    x = torch.randn(2, 3, 7, 25, 2, dtype=torch.float64)
    expected = torch.zeros_like(x)
    for child, parent in REFERENCE_BONES:
        expected[:, :, :, child - 1] = x[:, :, :, child - 1] - x[:, :, :, parent - 1]
    torch.testing.assert_close(to_bone(x, NTU_RGBD), expected, rtol=0, atol=0)
    assert float(to_bone(x)[:, :, :, 20].abs().max()) == 0.0


# COCO-17 parents, 0-based, nose-rooted (0 nose, 1/2 eyes, 3/4 ears, 5/6 shoulders,
# 7/8 elbows, 9/10 wrists, 11/12 hips, 13/14 knees, 15/16 ankles); the nose is its own.
COCO_PARENTS = [0, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14]


def test_coco_bone_matches_a_plain_loop() -> None:
    x = torch.randn(2, 3, 5, 17, 2, dtype=torch.float64)
    expected = torch.zeros_like(x)
    for child, parent in enumerate(COCO_PARENTS):
        expected[:, :, :, child] = x[:, :, :, child] - x[:, :, :, parent]
    torch.testing.assert_close(to_bone(x, COCO_17), expected, rtol=0, atol=0)
    torch.testing.assert_close(to_bone(x[1], "coco-17"), expected[1], rtol=0, atol=0)


def test_single_sample_equals_batched() -> None:
    x = torch.randn(3, 3, 6, 17, 1)
    for stream in ("joint", "bone", "motion"):
        batched = to_stream(x, stream, COCO_17)
        single = torch.stack([to_stream(sample, stream, COCO_17) for sample in x])
        assert torch.equal(batched, single)


def test_motion_is_forward_difference_with_zero_last_frame() -> None:
    x = torch.randn(2, 3, 5, 25, 2)
    motion = to_motion(x)
    torch.testing.assert_close(motion[:, :, :-1], x[:, :, 1:] - x[:, :, :-1])
    assert float(motion[:, :, -1].abs().max()) == 0.0
    # One frame: nothing to difference.
    assert float(to_motion(torch.randn(3, 1, 25, 2)).abs().max()) == 0.0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_preserved(dtype: torch.dtype) -> None:
    x = torch.randn(3, 4, 25, 2).to(dtype)
    assert to_bone(x).dtype == dtype
    assert to_motion(x).dtype == dtype


def test_bad_input() -> None:
    with pytest.raises(AimCLRError, match=r"layout \(N, C, T, V, M\) or \(C, T, V, M\)"):
        to_motion(torch.zeros(3, 4, 25))
    with pytest.raises(AimCLRError, match=r"V = 25 joints of layout 'ntu-rgb\+d', got shape"):
        to_bone(torch.zeros(3, 4, 17, 1))
    with pytest.raises(AimCLRError, match="floating tensor"):
        to_motion(torch.zeros(3, 4, 25, 1, dtype=torch.int64))
    with pytest.raises(AimCLRError, match="unknown stream 'velocity'"):
        to_stream(torch.zeros(3, 4, 25, 1), "velocity")


def test_stream_dataset_converts_every_sample() -> None:
    from aimclr.data import SkeletonTensorDataset
    from aimclr.streams import stream_dataset

    x = torch.randn(5, 3, 6, 25, 1)
    data = SkeletonTensorDataset(x, [0, 1, 2, 1, 0])
    assert stream_dataset(data, "joint") is data
    for stream, convert in (("bone", to_bone), ("motion", to_motion)):
        converted = stream_dataset(data, stream, batch_size=2)  # batches do not matter
        assert [int(converted[i][1]) for i in range(5)] == [0, 1, 2, 1, 0]
        assert all(torch.equal(converted[i][0], convert(x[i])) for i in range(5))
    with pytest.raises(AimCLRError, match="unknown stream 'velocity'"):
        stream_dataset(data, "velocity")
    with pytest.raises(AimCLRError, match="dataset is empty"):
        stream_dataset(SkeletonTensorDataset(x[:0], []), "bone")
