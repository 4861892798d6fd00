"""A built-in synthetic action set on the NTU RGB+D 25-joint layout.

Twelve body motions (:data:`SYNTHETIC_CLASSES`) are animated with forward
kinematics of joint angles on a rest skeleton whose bone lengths vary per sample.
Every sample also varies in speed (cycles per clip and a monotone time warp),
phase, onset, amplitude, idle posture, small distractor motion of the other
limbs, viewpoint (yaw about the vertical axis, a slight tilt and roll) and
per-joint noise. Generation is deterministic given ``seed`` and vectorised over
samples (thousands per second on one CPU core).

The set is meant for tests and quick experiments where NTU RGB+D is not at hand:
a nearest-neighbour classifier on raw centred coordinates is far from perfect
(about 70 % on a held-out split with the defaults), while the classes are
distinct motions a network can learn.

Coordinates are metres, y up; the body faces +z and its left is +x before the
view rotation. Joint order is NTU RGB+D (0-based): 0 spine_base, 1 spine_mid,
2 neck, 3 head, 4-7 shoulder/elbow/wrist/hand left, 8-11 the same right,
12-15 hip/knee/ankle/foot left, 16-19 the same right, 20 spine_shoulder,
21 handtip_left, 22 thumb_left, 23 handtip_right, 24 thumb_right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from aimclr._checks import check_nonnegative
from aimclr.data._validate import check_positive_int
from aimclr.data.arrays import SkeletonTensorDataset, Transform
from aimclr.errors import AimCLRError

__all__ = ["SYNTHETIC_CLASSES", "SyntheticActionDataset", "make_synthetic_actions", "rest_pose"]

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "wave_left_hand",
    "wave_right_hand",
    "raise_both_hands",
    "clap",
    "kick_left",
    "kick_right",
    "squat",
    "jump",
    "bow",
    "twist_torso",
    "punch",
    "walk_in_place",
)
"""Class names of :func:`make_synthetic_actions`; label ``i`` is ``SYNTHETIC_CLASSES[i]``."""

_NUM_JOINTS = 25
_PELVIS = 25  # virtual joint: hip orientation, so bending the spine leaves the legs alone

# (joint, parent, rest offset from the parent in metres, body frame x left / y up / z forward)
_BONES: tuple[tuple[int, int, tuple[float, float, float]], ...] = (
    (1, 0, (0.0, 0.24, 0.0)),
    (20, 1, (0.0, 0.24, 0.0)),
    (2, 20, (0.0, 0.08, 0.0)),
    (3, 2, (0.0, 0.14, 0.02)),
    (4, 20, (0.17, -0.03, 0.0)),
    (5, 4, (0.0, -0.28, 0.0)),
    (6, 5, (0.0, -0.25, 0.0)),
    (7, 6, (0.0, -0.07, 0.0)),
    (21, 7, (0.0, -0.08, 0.0)),
    (22, 7, (-0.01, -0.04, 0.04)),
    (8, 20, (-0.17, -0.03, 0.0)),
    (9, 8, (0.0, -0.28, 0.0)),
    (10, 9, (0.0, -0.25, 0.0)),
    (11, 10, (0.0, -0.07, 0.0)),
    (23, 11, (0.0, -0.08, 0.0)),
    (24, 11, (0.01, -0.04, 0.04)),
    (12, _PELVIS, (0.09, -0.05, 0.0)),
    (13, 12, (0.0, -0.42, 0.0)),
    (14, 13, (0.0, -0.41, 0.0)),
    (15, 14, (0.0, -0.06, 0.12)),
    (16, _PELVIS, (-0.09, -0.05, 0.0)),
    (17, 16, (0.0, -0.42, 0.0)),
    (18, 17, (0.0, -0.41, 0.0)),
    (19, 18, (0.0, -0.06, 0.12)),
)
_ROOT_HEIGHT = 0.98
_CHUNK = 256
# Bones whose length varies together (left and right share a factor).
_SEGMENTS = (
    (1, 20),  # spine
    (2, 3),  # neck and head
    (4, 8),  # shoulder width
    (5, 9),  # upper arm
    (6, 10, 7, 11, 21, 22, 23, 24),  # forearm and hand
    (12, 16),  # hip width
    (13, 17),  # thigh
    (14, 18, 15, 19),  # shin and foot
)


def rest_pose(scale: float = 1.0) -> np.ndarray:
    """The rest skeleton: standing, arms hanging, facing +z, left = +x.

    Args:
        scale: multiplies every bone length (1.0 is a person of about 1.75 m).

    Returns:
        ``float32`` array ``(V, 3) = (25, 3)`` of joint positions in metres, y up,
        feet near ``y = 0``.

    Example:
        >>> pose = rest_pose()
        >>> bool(pose[4, 0] > 0 > pose[8, 0])  # left shoulder at +x, right at -x
        True
    """
    x = _forward_kinematics(
        np.ones((1, len(_BONES))) * scale, {}, np.zeros((1, 1))
    )  # (1, 1, 25, 3)
    pose: np.ndarray = x[0, 0].astype(np.float32)
    return pose


def _rotations(rx: np.ndarray, ry: np.ndarray, rz: np.ndarray) -> np.ndarray:
    """``R_y(ry) @ R_z(rz) @ R_x(rx)`` for angle arrays ``(...)`` -> ``(..., 3, 3)``."""
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    # Product written out so a batch costs one pass; verified against explicit matrices.
    return np.stack(
        [
            np.stack([cy * cz, -cy * sz * cx + sy * sx, cy * sz * sx + sy * cx], -1),
            np.stack([sz, cz * cx, -cz * sx], -1),
            np.stack([-sy * cz, sy * sz * cx + cy * sx, -sy * sz * sx + cy * cx], -1),
        ],
        -2,
    )


def _forward_kinematics(
    bone_scale: np.ndarray, angles: dict[int, np.ndarray], root_dy: np.ndarray
) -> np.ndarray:
    """Joint positions from local rotations.

    Args:
        bone_scale: ``(N, B)`` length factor of every bone in ``_BONES``.
        angles: joint -> ``(3, N, T)`` local Euler angles (rx, ry, rz) in radians;
            joint ``0`` bends the spine only, ``_PELVIS`` turns the hips.
        root_dy: ``(N, T)`` vertical displacement of the root in metres.

    Returns:
        ``(N, T, V, 3)`` positions.
    """
    n, t = root_dy.shape
    eye = np.broadcast_to(np.eye(3), (n, t, 3, 3))

    def local(joint: int) -> np.ndarray:
        return _rotations(*angles[joint]) if joint in angles else eye

    pos = np.zeros((n, t, _NUM_JOINTS + 1, 3))
    pos[:, :, 0, 1] = _ROOT_HEIGHT * bone_scale[:, :1] + root_dy
    pos[:, :, _PELVIS] = pos[:, :, 0]
    glob: dict[int, np.ndarray] = {_PELVIS: local(_PELVIS)}
    glob[0] = glob[_PELVIS] @ local(0)
    for b, (joint, parent, offset) in enumerate(_BONES):
        vec = np.asarray(offset) * bone_scale[:, b, None]  # (N, 3)
        pos[:, :, joint] = pos[:, :, parent] + np.einsum("ntij,nj->nti", glob[parent], vec)
        glob[joint] = glob[parent] @ local(joint)
    return pos[:, :, :_NUM_JOINTS]


def _smooth_window(t: np.ndarray, start: np.ndarray, length: np.ndarray, ramp: float) -> np.ndarray:
    """1 inside ``[start, start + length]`` with cosine ramps of ``ramp``; ``(N, T)``."""
    rise = np.clip((t - start[:, None]) / ramp, 0.0, 1.0)
    fall = np.clip((start[:, None] + length[:, None] - t) / ramp, 0.0, 1.0)
    window: np.ndarray = (0.5 - 0.5 * np.cos(np.pi * rise)) * (0.5 - 0.5 * np.cos(np.pi * fall))
    return window


class _Draws:
    """Per-sample random numbers, drawn for all samples in a fixed order."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.amp = rng.uniform(0.7, 1.3, n)
        self.amp2 = rng.uniform(0.7, 1.3, n)
        self.speed = rng.uniform(0.0, 1.0, n)
        self.phase = rng.uniform(0.0, 2 * np.pi, n)
        self.onset = rng.uniform(0.0, 0.3, n)
        self.duration = rng.uniform(0.45, 0.7, n)
        self.reps = rng.integers(1, 3, n)
        self.choice = rng.uniform(0.0, 1.0, n)


def _deg(x: np.ndarray | float) -> np.ndarray:
    return np.deg2rad(np.asarray(x, dtype=np.float64))


_Motion = Callable[[dict[int, np.ndarray], np.ndarray, np.ndarray, _Draws, np.ndarray], None]


def _cycles(d: _Draws, idx: np.ndarray, low: float, high: float, t: np.ndarray) -> np.ndarray:
    """Phase ``2 pi c t + phi`` with ``c`` in ``[low, high]`` cycles per clip; ``(n, T)``."""
    c = low + (high - low) * d.speed[idx]
    phase: np.ndarray = 2 * np.pi * c[:, None] * t + d.phase[idx, None]
    return phase


def _wave(side: float) -> _Motion:
    shoulder, elbow = (4, 5) if side > 0 else (8, 9)

    def motion(a: dict[int, np.ndarray], t: np.ndarray, dy: np.ndarray, d: _Draws,
               idx: np.ndarray) -> None:
        env = _smooth_window(t, d.onset[idx], d.duration[idx], 0.15)
        phi = _cycles(d, idx, 2.0, 4.5, t)
        a[shoulder][2] += side * env * _deg(95 * d.amp[idx])[:, None]
        a[shoulder][0] -= env * _deg(40 * d.choice[idx])[:, None]
        a[elbow][2] += side * env * (_deg(60) + _deg(30 * d.amp2[idx])[:, None] * np.sin(phi))

    return motion


def _raise_both(a: dict[int, np.ndarray], t: np.ndarray, dy: np.ndarray, d: _Draws,
                idx: np.ndarray) -> None:
    reps = d.reps[idx, None]
    u = np.clip((t - d.onset[idx, None]) / (d.duration[idx, None] + 0.25), 0.0, 1.0)
    env = np.sin(np.pi * reps * u) ** 2
    lift = env * _deg(150 * np.minimum(d.amp[idx], 1.15))[:, None]
    forward = _deg(60 * d.choice[idx])[:, None]  # raise sideways (0) or more to the front
    for shoulder, side in ((4, 1.0), (8, -1.0)):
        a[shoulder][2] += side * lift * (1 - d.choice[idx, None] * 0.6)
        a[shoulder][0] -= env * forward
    for elbow in (5, 9):
        a[elbow][0] -= env * _deg(20)


def _clap(a: dict[int, np.ndarray], t: np.ndarray, dy: np.ndarray, d: _Draws,
          idx: np.ndarray) -> None:
    env = _smooth_window(t, d.onset[idx] * 0.5, 0.8 + d.duration[idx], 0.1)
    phi = _cycles(d, idx, 2.5, 5.0, t)
    swing = 0.5 + 0.5 * np.sin(phi)  # 0 = hands together, 1 = apart
    for shoulder, elbow, side in ((4, 5, 1.0), (8, 9, -1.0)):
        a[shoulder][0] -= env * _deg(45 + 35 * d.amp[idx])[:, None]
        a[shoulder][1] += side * env * (_deg(-14) + _deg(45 * d.amp2[idx])[:, None] * swing)
        a[elbow][0] -= env * _deg(15 + 30 * d.choice[idx])[:, None]


def _kick(side: float) -> _Motion:
    hip, knee, ankle = (12, 13, 14) if side > 0 else (16, 17, 18)

    def motion(a: dict[int, np.ndarray], t: np.ndarray, dy: np.ndarray, d: _Draws,
               idx: np.ndarray) -> None:
        phi = _cycles(d, idx, 1.0, 2.5, t)
        up = np.maximum(0.0, np.sin(phi)) ** 2
        a[hip][0] -= up * _deg(75 * d.amp[idx])[:, None]
        a[knee][0] += 4 * up * (1 - up) * _deg(70 * d.amp2[idx])[:, None]
        a[ankle][0] += up * _deg(20)
        for shoulder, s in ((4, 1.0), (8, -1.0)):
            a[shoulder][2] += s * up * _deg(20 * d.choice[idx])[:, None]
        a[0][0] -= up * _deg(10)

    return motion


def _squat(a: dict[int, np.ndarray], t: np.ndarray, dy: np.ndarray, d: _Draws,
           idx: np.ndarray) -> None:
    phi = _cycles(d, idx, 1.0, 2.5, t)
    depth = (0.5 - 0.5 * np.cos(phi)) * _deg(75 * np.minimum(d.amp[idx], 1.2))[:, None]
    for hip, knee, ankle in ((12, 13, 14), (16, 17, 18)):
        a[hip][0] -= depth
        a[knee][0] += 2 * depth
        a[ankle][0] -= depth
    dy -= 0.83 * (1 - np.cos(depth))
    a[0][0] += 0.4 * depth
    for shoulder in (4, 8):
        a[shoulder][0] -= depth * (0.4 + 0.8 * d.choice[idx, None])


def _jump(a: dict[int, np.ndarray], t: np.ndarray, dy: np.ndarray, d: _Draws,
          idx: np.ndarray) -> None:
    c = 1.5 + 2.0 * d.speed[idx, None]
    u = (c * t + d.phase[idx, None] / (2 * np.pi)) % 1.0
    crouch = np.where(u < 0.35, np.sin(np.pi * u / 0.35), 0.0)
    air = np.where(u >= 0.35, np.sin(np.pi * (u - 0.35) / 0.65), 0.0)
    bend = crouch * _deg(55 * d.amp[idx])[:, None] + air * _deg(15)
    for hip, knee, ankle in ((12, 13, 14), (16, 17, 18)):
        a[hip][0] -= bend
        a[knee][0] += 2 * bend
        a[ankle][0] -= bend
    dy += air * (0.12 + 0.2 * d.amp2[idx, None]) - 0.83 * (1 - np.cos(bend))
    arms = air * _deg(60 + 80 * d.choice[idx])[:, None] - crouch * _deg(30)
    a[4][0] -= arms
    a[8][0] -= arms
    a[0][0] += crouch * _deg(15)


def _bow(a: dict[int, np.ndarray], t: np.ndarray, dy: np.ndarray, d: _Draws,
         idx: np.ndarray) -> None:
    reps = d.reps[idx, None]
    u = np.clip((t - d.onset[idx, None]) / (d.duration[idx, None] + 0.25), 0.0, 1.0)
    env = np.sin(np.pi * reps * u) ** 2
    a[0][0] += env * _deg(35 * d.amp[idx])[:, None]
    a[1][0] += env * _deg(25 * d.amp2[idx])[:, None]
    a[2][0] += env * _deg(20)


def _twist(a: dict[int, np.ndarray], t: np.ndarray, dy: np.ndarray, d: _Draws,
           idx: np.ndarray) -> None:
    phi = _cycles(d, idx, 1.0, 2.5, t)
    turn = np.sin(phi) * _deg(30 * d.amp[idx])[:, None]
    a[1][1] += turn
    a[20][1] += 0.6 * turn
    out = _deg(20 + 50 * d.choice[idx])[:, None]
    for shoulder, elbow, side in ((4, 5, 1.0), (8, 9, -1.0)):
        a[shoulder][2] += side * out
        a[elbow][0] -= _deg(30 + 50 * d.amp2[idx])[:, None]


def _punch(a: dict[int, np.ndarray], t: np.ndarray, dy: np.ndarray, d: _Draws,
           idx: np.ndarray) -> None:
    phi = _cycles(d, idx, 1.5, 3.5, t)
    guard = _smooth_window(t, d.onset[idx] * 0.3, np.ones(idx.size), 0.1)
    for shoulder, elbow, sign in ((4, 5, 1.0), (8, 9, -1.0)):
        hit = np.maximum(0.0, sign * np.sin(phi)) ** 1.5 * guard
        a[shoulder][0] -= guard * _deg(35) + hit * _deg(50 * d.amp[idx])[:, None]
        a[elbow][0] -= guard * _deg(110) - hit * _deg(100)
        a[shoulder][1] -= sign * hit * _deg(15)
        a[1][1] -= sign * hit * _deg(15 * d.amp2[idx])[:, None]


def _walk(a: dict[int, np.ndarray], t: np.ndarray, dy: np.ndarray, d: _Draws,
          idx: np.ndarray) -> None:
    phi = _cycles(d, idx, 1.5, 3.5, t)
    for hip, knee, shoulder, sign in ((12, 13, 4, 1.0), (16, 17, 8, -1.0)):
        lift = np.maximum(0.0, sign * np.sin(phi))
        a[hip][0] -= lift * _deg(45 * d.amp[idx])[:, None]
        a[knee][0] += lift * _deg(80 * d.amp[idx])[:, None]
        a[shoulder][0] += sign * np.sin(phi) * _deg(25 * d.amp2[idx])[:, None]
    dy += 0.03 * np.abs(np.sin(phi))


_MOTIONS: tuple[_Motion, ...] = (
    _wave(1.0),
    _wave(-1.0),
    _raise_both,
    _clap,
    _kick(1.0),
    _kick(-1.0),
    _squat,
    _jump,
    _bow,
    _twist,
    _punch,
    _walk,
)
_ACTIVE_JOINTS = (_PELVIS, 0, 1, 20, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18)


def _idle(
    rng: np.random.Generator, n: int, t: np.ndarray, distractor_deg: float, gesture_prob: float
) -> dict[int, np.ndarray]:
    """Rest posture, slow sway and held arm gestures: ``joint -> (3, n, T)`` angles."""
    angles: dict[int, np.ndarray] = {}
    for joint in _ACTIVE_JOINTS:
        freq = rng.uniform(0.3, 1.5, (3, n, 1))
        phase = rng.uniform(0.0, 2 * np.pi, (3, n, 1))
        amp = rng.uniform(0.0, 1.0, (3, n, 1)) * np.deg2rad(distractor_deg)
        angles[joint] = amp * np.sin(2 * np.pi * freq * t + phase)
    for shoulder, elbow, side in ((4, 5, 1.0), (8, 9, -1.0)):
        angles[shoulder][2] += side * _deg(rng.uniform(3, 20, (n, 1)))
        angles[elbow][0] -= _deg(rng.uniform(0, 30, (n, 1)))
    # A held gesture of one arm in some clips (e.g. a hand raised while the action
    # happens), so a static pose alone does not give the class away.
    gesture = rng.uniform(0.0, 1.0, n) < gesture_prob
    left = rng.uniform(0.0, 1.0, n) < 0.5
    env = _smooth_window(t, rng.uniform(-0.2, 0.6, n), rng.uniform(0.3, 0.9, n), 0.15)
    lift = env * _deg(rng.uniform(40, 130, (n, 1))) * gesture[:, None]
    bend = env * _deg(rng.uniform(0, 100, (n, 1))) * gesture[:, None]
    forward = env * _deg(rng.uniform(0, 60, (n, 1))) * gesture[:, None]
    frontal_share = rng.uniform(0.0, 1.0, (n, 1))  # elbow bends forward or sideways
    for shoulder, elbow, side, chosen in ((4, 5, 1.0, left), (8, 9, -1.0, ~left)):
        mask = chosen[:, None]
        angles[shoulder][2] += side * lift * mask
        angles[shoulder][0] -= forward * mask
        angles[elbow][0] -= bend * mask * frontal_share
        angles[elbow][2] += side * bend * mask * (1 - frontal_share)
    return angles


def _view_rotation(yaw: np.ndarray, tilt: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Camera rotation ``R_x(tilt) @ R_z(roll) @ R_y(yaw)`` per sample, ``(n, 3, 3)``."""
    zeros = np.zeros_like(yaw)
    rot_yaw = _rotations(zeros, yaw, zeros)
    rot_tilt = _rotations(tilt, zeros, roll)
    rotation: np.ndarray = rot_tilt @ rot_yaw
    return rotation


def make_synthetic_actions(
    num_samples: int,
    seed: int = 0,
    num_frames: int = 50,
    num_persons: int = 1,
    max_yaw_deg: float = 90.0,
    max_tilt_deg: float = 10.0,
    size_range: tuple[float, float] = (0.8, 1.15),
    bone_jitter: float = 0.08,
    distractor_deg: float = 15.0,
    noise_std: float = 0.015,
    gesture_prob: float = 0.3,
    shear: float = 0.0,
    center: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate the synthetic action set.

    Classes are balanced (counts differ by at most one) and shuffled. Every random
    quantity comes from ``numpy.random.default_rng(seed)``, so the output is a
    pure function of the arguments.

    Args:
        num_samples: ``N >= 1``.
        seed: random seed.
        num_frames: ``T >= 2`` (the reference layout uses 50).
        num_persons: ``M``; persons after the first are zeros (one actor).
        max_yaw_deg: view yaw is uniform in ``[-max_yaw_deg, max_yaw_deg]``.
        max_tilt_deg: camera tilt (about x) uniform in ``[-max_tilt_deg,
            max_tilt_deg]``; roll uses half of it.
        size_range: body scale range (1.0 is about 1.75 m tall).
        bone_jitter: relative per-segment length variation (left and right of a
            pair share one factor).
        distractor_deg: amplitude of the slow random sway added to every joint.
        noise_std: standard deviation in metres of the i.i.d. Gaussian noise added
            to every coordinate.
        gesture_prob: probability that a clip also holds one arm up for a while
            (a distractor that the class does not explain).
        shear: off-diagonal entries of a per-sample linear distortion
            ``I + S`` (``S_ij`` uniform in ``[-shear, shear]``, ``i != j``) applied
            after the view rotation: body-shape and camera skew of the kind the
            Shear augmentation models. ``0`` (the default) applies none.
        center: subtract joint 20 (spine-shoulder) in every frame, as the
            reference preprocessing does; ``False`` keeps the root trajectory.

    Returns:
        ``(x, labels)``: ``x`` ``float32`` ``(N, 3, T, 25, M)``; ``labels``
        ``int64`` ``(N,)`` indices into :data:`SYNTHETIC_CLASSES`.

    Raises:
        AimCLRError: non-positive counts, ``num_frames < 2`` or negative variation
            parameters.

    Example:
        >>> x, y = make_synthetic_actions(24, seed=0)
        >>> tuple(x.shape), torch.bincount(y).tolist() == [2] * 12
        ((24, 3, 50, 25, 1), True)
    """
    check_positive_int(num_samples, "num_samples")
    check_positive_int(num_persons, "num_persons")
    check_positive_int(num_frames, "num_frames")
    if num_frames < 2:
        raise AimCLRError(f"num_frames must be >= 2, got {num_frames}")
    for name, value in (("max_yaw_deg", max_yaw_deg), ("max_tilt_deg", max_tilt_deg),
                        ("bone_jitter", bone_jitter), ("distractor_deg", distractor_deg),
                        ("noise_std", noise_std), ("gesture_prob", gesture_prob),
                        ("shear", shear)):
        check_nonnegative(value, name)
    low, high = size_range
    if not 0.0 < low <= high < float("inf"):
        raise AimCLRError(f"size_range must be (low, high) with 0 < low <= high, got {size_range}")

    rng = np.random.default_rng(seed)
    n, num_classes = num_samples, len(SYNTHETIC_CLASSES)
    labels = rng.permutation(np.arange(n) % num_classes)
    draws = _Draws(rng, n)
    # Monotone time warp (speed changes within a clip): dt/dbase = 1 + w cos(pi base) > 0.
    base = np.linspace(0.0, 1.0, num_frames)
    warp = rng.uniform(-0.8, 0.8, (n, 1))
    t = base + warp * np.sin(np.pi * base) / np.pi
    angles = _idle(rng, n, t, distractor_deg, gesture_prob)
    dy = np.zeros((n, num_frames))
    for cls, motion in enumerate(_MOTIONS):
        idx = np.flatnonzero(labels == cls)
        if idx.size == 0:
            continue
        sub = {j: v[:, idx] for j, v in angles.items()}
        sub_dy = dy[idx]
        motion(sub, t[idx], sub_dy, draws, idx)
        for j, v in sub.items():
            angles[j][:, idx] = v
        dy[idx] = sub_dy

    segment_factor = rng.uniform(1 - bone_jitter, 1 + bone_jitter, (n, len(_SEGMENTS)))
    scale = rng.uniform(low, high, n)
    bone_scale = np.repeat(scale[:, None], len(_BONES), axis=1)
    bone_joints = [joint for joint, _, _ in _BONES]
    for s, joints in enumerate(_SEGMENTS):
        cols = [bone_joints.index(j) for j in joints]
        bone_scale[:, cols] *= segment_factor[:, s, None]
    yaw = _deg(rng.uniform(-max_yaw_deg, max_yaw_deg, n))
    tilt = _deg(rng.uniform(-max_tilt_deg, max_tilt_deg, n))
    roll = _deg(rng.uniform(-max_tilt_deg / 2, max_tilt_deg / 2, n))
    noise = rng.normal(0.0, 1.0, (n, num_frames, _NUM_JOINTS, 3)) * noise_std

    pos = np.empty((n, num_frames, _NUM_JOINTS, 3))  # (N, T, V, 3)
    for start in range(0, n, _CHUNK):  # bounds the memory of the (n, T, 3, 3) rotations
        part = slice(start, start + _CHUNK)
        pos[part] = _forward_kinematics(
            bone_scale[part], {j: v[:, part] for j, v in angles.items()}, dy[part]
        )
    view = _view_rotation(yaw, tilt, roll)
    if shear > 0:  # drawn last, so shear=0 leaves every other draw unchanged
        skew = rng.uniform(-shear, shear, (n, 3, 3)) * (1 - np.eye(3))
        view = (np.eye(3) + skew) @ view
    pos = np.einsum("nij,ntvj->ntvi", view, pos) + noise
    if center:
        pos = pos - pos[:, :, 20:21]
    x = np.zeros((n, 3, num_frames, _NUM_JOINTS, num_persons), dtype=np.float32)
    x[..., 0] = pos.transpose(0, 3, 1, 2)
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


class SyntheticActionDataset(SkeletonTensorDataset):
    """:func:`make_synthetic_actions` as a dataset of ``(x (3, T, 25, M), label)``.

    Args:
        num_samples: number of samples ``N``.
        seed: random seed; use different seeds for the train and test sets.
        transform: optional callable applied to each ``(C, T, V, M)`` tensor.
        **kwargs: passed to :func:`make_synthetic_actions`.

    Example:
        >>> ds = SyntheticActionDataset(12, seed=1, num_persons=2)
        >>> x, y = ds[0]
        >>> tuple(x.shape), SYNTHETIC_CLASSES[y] in SYNTHETIC_CLASSES
        ((3, 50, 25, 2), True)
    """

    def __init__(
        self,
        num_samples: int,
        seed: int = 0,
        transform: Transform | None = None,
        **kwargs: Any,
    ) -> None:
        x, labels = make_synthetic_actions(num_samples, seed=seed, **kwargs)
        super().__init__(x, labels, transform=transform)
        self.class_names = SYNTHETIC_CLASSES
