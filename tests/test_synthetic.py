"""The synthetic action set: determinism, layout, balance, plausibility, difficulty."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aimclr.data import SYNTHETIC_CLASSES, SyntheticActionDataset, make_synthetic_actions, rest_pose
from aimclr.errors import AimCLRError


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return make_synthetic_actions(600, seed=3)


def test_deterministic_and_seed_dependent() -> None:
    a = make_synthetic_actions(40, seed=7)
    b = make_synthetic_actions(40, seed=7)
    c = make_synthetic_actions(40, seed=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_shapes_balance_and_centering(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = data
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert tuple(x.shape) == (600, 3, 50, 25, 1)
    assert torch.bincount(y).tolist() == [50] * len(SYNTHETIC_CLASSES)
    assert torch.all(x[:, :, :, 20] == 0)  # centred on spine-shoulder
    x2, _ = make_synthetic_actions(13, seed=0, num_persons=2, num_frames=30)
    assert tuple(x2.shape) == (13, 3, 30, 25, 2) and torch.all(x2[..., 1] == 0)
    ds = SyntheticActionDataset(24, seed=0)
    assert len(ds) == 24 and ds.class_names == SYNTHETIC_CLASSES


def test_rest_pose_is_plausible() -> None:
    pose = rest_pose()
    height = pose[3, 1] - pose[[15, 19], 1].min()
    assert 1.5 < height < 1.8
    assert pose[4, 0] > 0 > pose[8, 0] and pose[12, 0] > 0 > pose[16, 0]  # left = +x
    np.testing.assert_allclose(rest_pose(0.5) * 2, pose, atol=1e-6)


def test_bone_lengths_constant_in_time_and_plausible() -> None:
    x, _ = make_synthetic_actions(60, seed=1, noise_std=0.0)
    for child, parent, low, high in ((5, 4, 0.18, 0.4), (13, 12, 0.3, 0.55), (6, 5, 0.16, 0.35)):
        length = torch.linalg.norm(x[:, :, :, child, 0] - x[:, :, :, parent, 0], dim=1)  # (N, T)
        assert torch.all(length.std(dim=1) < 1e-4)  # rigid bones: FK keeps lengths
        assert low < float(length.min()) and float(length.max()) < high
    upper_arm = torch.linalg.norm(x[:, :, 0, 5, 0] - x[:, :, 0, 4, 0], dim=1)
    assert float(upper_arm.std()) > 0.01  # body size varies between samples


def test_classes_are_distinct_motions(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = data
    mean = torch.stack([x[y == c].mean(0) for c in range(len(SYNTHETIC_CLASSES))])
    flat = mean.flatten(1)
    dist = torch.cdist(flat, flat)
    assert float(dist[~torch.eye(len(flat), dtype=torch.bool)].min()) > 0.5
    # Without distractors, the joints that move tell the classes apart: the waving
    # wrist, the kicking ankle.
    x, y = make_synthetic_actions(240, seed=2, noise_std=0.0, distractor_deg=0.0,
                                  gesture_prob=0.0)
    motion = (x[:, :, 1:] - x[:, :, :-1]).norm(dim=1).mean(dim=(1, 3))  # (N, V)

    def moves(cls: str, joint: int) -> float:
        return float(motion[y == SYNTHETIC_CLASSES.index(cls), joint].mean())

    assert moves("wave_left_hand", 6) > 2 * moves("wave_left_hand", 10)
    assert moves("wave_right_hand", 10) > 2 * moves("wave_right_hand", 6)
    assert moves("kick_left", 14) > 2 * moves("kick_left", 18)
    assert moves("kick_right", 18) > 2 * moves("kick_right", 14)


def test_raw_nearest_neighbour_is_far_from_perfect_but_above_chance() -> None:
    xtr, ytr = make_synthetic_actions(1200, seed=0)
    xte, yte = make_synthetic_actions(400, seed=1)
    nearest = torch.cdist(xte.flatten(1), xtr.flatten(1)).argmin(dim=1)
    acc = float((ytr[nearest] == yte).float().mean())
    assert 0.35 < acc < 0.85, acc


def test_bad_arguments() -> None:
    with pytest.raises(AimCLRError, match="num_samples must be an integer >= 1"):
        make_synthetic_actions(0)
    with pytest.raises(AimCLRError, match="num_frames must be >= 2"):
        make_synthetic_actions(4, num_frames=1)
    with pytest.raises(AimCLRError, match="noise_std must be a finite number >= 0"):
        make_synthetic_actions(4, noise_std=-1.0)
    with pytest.raises(AimCLRError, match="size_range"):
        make_synthetic_actions(4, size_range=(1.2, 0.9))


def test_shear_is_a_per_sample_linear_skew_and_changes_nothing_else() -> None:
    plain_x, plain_y = make_synthetic_actions(6, seed=4, noise_std=0.0)
    skew_x, skew_y = make_synthetic_actions(6, seed=4, noise_std=0.0, shear=0.4)
    assert torch.equal(plain_y, skew_y)
    a = plain_x[..., 0].reshape(6, 3, -1).double()  # (N, 3, T*V)
    b = skew_x[..., 0].reshape(6, 3, -1).double()
    fitted = b @ torch.linalg.pinv(a)  # (N, 3, 3) with b = fitted @ a
    torch.testing.assert_close(fitted @ a, b, atol=1e-5, rtol=0)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(fitted * eye, eye.expand(6, 3, 3), atol=1e-4, rtol=0)
    off_diagonal = fitted * (1 - eye)
    assert float(off_diagonal.abs().max()) <= 0.4 + 1e-4
    assert float(off_diagonal.abs().max()) > 0.05
