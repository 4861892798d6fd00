"""Skeleton layouts and the ST-GCN adjacency partitions.

A :class:`SkeletonLayout` describes one joint set: its bones, its centre joint, the
left/right pairs that a spatial flip swaps, the (child, parent) pairs of the bone
stream and, optionally, its joint names and shoulders (which data preprocessing
reads). :func:`adjacency` turns a layout into the ``(K, V, V)`` stack of normalised
adjacency matrices that a spatial graph convolution mixes joints with.
:func:`joint_mapping` converts joints between layouts that describe the same body.

Conventions:
    All joint indices are 0-based. ``A[k, v, w]`` carries information from joint
    ``v`` to joint ``w`` (a graph convolution computes ``einsum("nkctv,kvw->nctw")``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from aimclr.errors import AimCLRError

__all__ = [
    "COCO_17",
    "KINECT_V1",
    "LAYOUTS",
    "NTU_RGBD",
    "NTU_RGBD_ANATOMICAL",
    "OPENPOSE_18",
    "SkeletonLayout",
    "adjacency",
    "get_layout",
    "joint_mapping",
]

Strategy = Literal["uniform", "distance", "spatial"]


def _pairs(pairs: Iterable[Sequence[int]]) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in pairs)


@dataclass(frozen=True)
class SkeletonLayout:
    """A skeleton's joints and bones.

    Build custom layouts with :meth:`from_edges`, which validates them; the
    constructor validates too, so every instance is consistent.

    Attributes:
        name: identifier, e.g. ``"ntu-rgb+d"``.
        num_joints: number of joints ``V``.
        edges: undirected bones ``(a, b)`` without self-links, 0-based.
        center: the centre joint of the spatial partition (and the root of the
            bone tree).
        flip_pairs: ``(left, right)`` joint pairs that a spatial flip swaps.
        bone_pairs: one ``(child, parent)`` pair per joint; the bone stream of
            joint ``child`` is ``x[child] - x[parent]``. The centre is its own
            parent, so its bone is zero.
        joint_names: one name per joint in storage order, or empty. Data files
            are checked against them (:func:`aimclr.data.load_npz`).
        shoulders: the ``(left, right)`` shoulder joints that yaw alignment
            (:func:`aimclr.data.align_yaw`) turns onto the x axis, or ``None``
            where the layout has no such pair.
    """

    name: str
    num_joints: int
    edges: tuple[tuple[int, int], ...]
    center: int
    flip_pairs: tuple[tuple[int, int], ...] = ()
    bone_pairs: tuple[tuple[int, int], ...] = field(default=())
    joint_names: tuple[str, ...] = ()
    shoulders: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        v = self.num_joints
        if v < 1:
            raise AimCLRError(f"layout {self.name!r}: num_joints must be >= 1, got {v}")
        if not 0 <= self.center < v:
            raise AimCLRError(
                f"layout {self.name!r}: center must be a joint index in [0, {v}), "
                f"got {self.center}"
            )
        for kind, pairs in (("edge", self.edges), ("flip pair", self.flip_pairs),
                            ("bone pair", self.bone_pairs)):
            for a, b in pairs:
                if not (0 <= a < v and 0 <= b < v):
                    raise AimCLRError(
                        f"layout {self.name!r}: {kind} ({a}, {b}) has a joint index "
                        f"outside [0, {v})"
                    )
        for a, b in self.edges:
            if a == b:
                raise AimCLRError(
                    f"layout {self.name!r}: edge ({a}, {b}) is a self-link; self-links "
                    "are added by adjacency() and must not be listed"
                )
        unreached = sorted(set(range(v)) - set(_bfs_parents(v, self.edges, self.center)))
        if unreached:
            raise AimCLRError(
                f"layout {self.name!r}: the graph is not connected; joints {unreached} "
                f"cannot be reached from the center joint {self.center}"
            )
        flipped = [j for pair in self.flip_pairs for j in pair]
        if len(flipped) != len(set(flipped)) or any(a == b for a, b in self.flip_pairs):
            raise AimCLRError(
                f"layout {self.name!r}: flip_pairs must name each joint at most once and "
                f"pair distinct joints, got {self.flip_pairs}"
            )
        if not self.bone_pairs:
            parents = _bfs_parents(v, self.edges, self.center)
            object.__setattr__(self, "bone_pairs", tuple((j, parents[j]) for j in range(v)))
        children = sorted(c for c, _ in self.bone_pairs)
        if children != list(range(v)):
            raise AimCLRError(
                f"layout {self.name!r}: bone_pairs must list every joint exactly once as "
                f"a child, got children {children}"
            )
        object.__setattr__(self, "joint_names", tuple(str(n) for n in self.joint_names))
        if self.joint_names and len(self.joint_names) != v:
            raise AimCLRError(
                f"layout {self.name!r}: joint_names must hold one name per joint ({v}) or "
                f"none, got {len(self.joint_names)}"
            )
        if self.shoulders is not None:
            left, right = _shoulder_pair(self.name, self.shoulders)
            if not (0 <= left < v and 0 <= right < v) or left == right:
                raise AimCLRError(
                    f"layout {self.name!r}: shoulders must be two distinct joint indices "
                    f"(left, right) in [0, {v}), got {self.shoulders}"
                )
            object.__setattr__(self, "shoulders", (left, right))

    def describe_joint(self, joint: int) -> str:
        """``"20 (spine_shoulder)"``: a joint index with its name, for messages."""
        if self.joint_names and 0 <= joint < self.num_joints:
            return f"{joint} ({self.joint_names[joint]})"
        return str(joint)

    @classmethod
    def from_edges(
        cls,
        name: str,
        num_joints: int,
        edges: Iterable[Sequence[int]],
        center: int,
        flip_pairs: Iterable[Sequence[int]] = (),
        bone_pairs: Iterable[Sequence[int]] | None = None,
        joint_names: Iterable[str] = (),
        shoulders: Sequence[int] | None = None,
    ) -> SkeletonLayout:
        """Build and validate a custom layout.

        Args:
            name: identifier of the layout.
            num_joints: number of joints ``V``.
            edges: undirected bones as 0-based ``(a, b)`` pairs.
            center: centre joint index (also the joint that data preprocessing
                centres on by default).
            flip_pairs: ``(left, right)`` pairs swapped by a spatial flip.
            bone_pairs: ``(child, parent)`` per joint; by default the parents of a
                breadth-first tree rooted at ``center``.
            joint_names: one name per joint, or none.
            shoulders: ``(left, right)`` shoulder joints for yaw alignment, or
                ``None``.

        Returns:
            The validated layout.

        Raises:
            AimCLRError: an index is out of range, the graph is not connected, an
                edge is a self-link, a joint appears in two flip pairs, or the
                joint names do not number ``num_joints``.

        Example:
            >>> chain = SkeletonLayout.from_edges("chain", 3, [(0, 1), (1, 2)], center=1)
            >>> chain.bone_pairs
            ((0, 1), (1, 1), (2, 1))
        """
        return cls(
            name=name,
            num_joints=int(num_joints),
            edges=_pairs(edges),
            center=int(center),
            flip_pairs=_pairs(flip_pairs),
            bone_pairs=_pairs(bone_pairs) if bone_pairs is not None else (),
            joint_names=_names(name, joint_names),
            shoulders=None if shoulders is None else _shoulder_pair(name, shoulders),
        )

    def flip_index(self) -> list[int]:
        """Joint permutation of a spatial flip: ``x[..., flip_index(), :]`` swaps sides."""
        index = list(range(self.num_joints))
        for left, right in self.flip_pairs:
            index[left], index[right] = right, left
        return index

    def parent_index(self) -> list[int]:
        """Parent of each joint, from :attr:`bone_pairs` (the centre maps to itself)."""
        parents = list(range(self.num_joints))
        for child, parent in self.bone_pairs:
            parents[child] = parent
        return parents


def _names(name: str, joint_names: Iterable[str]) -> tuple[str, ...]:
    if isinstance(joint_names, (str, bytes)) or not isinstance(joint_names, Iterable):
        raise AimCLRError(
            f"layout {name!r}: joint_names must be a sequence of strings, got {joint_names!r:.80}"
        )
    return tuple(str(n) for n in joint_names)


def _shoulder_pair(name: str, shoulders: Sequence[int]) -> tuple[int, int]:
    pair = tuple(shoulders) if isinstance(shoulders, (tuple, list, np.ndarray)) else ()
    if len(pair) != 2 or not all(isinstance(j, (int, np.integer)) for j in pair):
        raise AimCLRError(
            f"layout {name!r}: shoulders must be a (left, right) pair of joint indices, "
            f"got {shoulders!r}"
        )
    return int(pair[0]), int(pair[1])


def _bfs_parents(num_joints: int, edges: Iterable[tuple[int, int]], root: int) -> dict[int, int]:
    neighbours: list[list[int]] = [[] for _ in range(num_joints)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    parents = {root: root}
    queue = deque([root])
    while queue:
        joint = queue.popleft()
        for other in sorted(neighbours[joint]):
            if other not in parents:
                parents[other] = joint
                queue.append(other)
    return parents


def _one_based(pairs: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((a - 1, b - 1) for a, b in pairs)


# NTU RGB+D 25 (Kinect v2). The original ST-GCN table chains each hand tip through the
# thumb (22-23-8, 24-25-12); the official AimCLR code and its checkpoints use it.
_NTU_BODY = (
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21),
    (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
    (18, 17), (19, 18), (20, 19),
)  # fmt: skip
_NTU_FLIP = tuple(zip((4, 5, 6, 7, 12, 13, 14, 15, 21, 22),
                      (8, 9, 10, 11, 16, 17, 18, 19, 23, 24), strict=True))
# The Kinect v2 SDK's JointType order (as the NTU RGB+D files store the joints).
_NTU_NAMES = (
    "spine_base", "spine_mid", "neck", "head",
    "shoulder_left", "elbow_left", "wrist_left", "hand_left",
    "shoulder_right", "elbow_right", "wrist_right", "hand_right",
    "hip_left", "knee_left", "ankle_left", "foot_left",
    "hip_right", "knee_right", "ankle_right", "foot_right",
    "spine_shoulder", "handtip_left", "thumb_left", "handtip_right", "thumb_right",
)  # fmt: skip

NTU_RGBD = SkeletonLayout(
    name="ntu-rgb+d",
    num_joints=25,
    edges=_one_based((*_NTU_BODY, (22, 23), (23, 8), (24, 25), (25, 12))),
    center=20,
    flip_pairs=_NTU_FLIP,
    bone_pairs=_one_based((*_NTU_BODY, (21, 21), (22, 23), (23, 8), (24, 25), (25, 12))),
    joint_names=_NTU_NAMES,
    shoulders=(4, 8),
)
"""NTU RGB+D 25 joints with the original ST-GCN edge table (the reference's graph)."""

NTU_RGBD_ANATOMICAL = SkeletonLayout(
    name="ntu-rgb+d-anatomical",
    num_joints=25,
    edges=_one_based((*_NTU_BODY, (22, 8), (23, 8), (24, 12), (25, 12))),
    center=20,
    flip_pairs=_NTU_FLIP,
    bone_pairs=_one_based((*_NTU_BODY, (21, 21), (22, 8), (23, 8), (24, 12), (25, 12))),
    joint_names=_NTU_NAMES,
    shoulders=(4, 8),
)
"""NTU RGB+D 25 joints with hand tip and thumb both attached to the hand joint."""

KINECT_V1 = SkeletonLayout.from_edges(
    "kinect-v1",
    20,
    [(0, 1), (1, 2), (2, 3), (2, 4), (4, 5), (5, 6), (6, 7), (2, 8), (8, 9), (9, 10),
     (10, 11), (0, 12), (12, 13), (13, 14), (14, 15), (0, 16), (16, 17), (17, 18),
     (18, 19)],
    center=2,
    flip_pairs=[(4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19)],
    joint_names=(
        "hip_center", "spine", "shoulder_center", "head",
        "shoulder_left", "elbow_left", "wrist_left", "hand_left",
        "shoulder_right", "elbow_right", "wrist_right", "hand_right",
        "hip_left", "knee_left", "ankle_left", "foot_left",
        "hip_right", "knee_right", "ankle_right", "foot_right",
    ),
    shoulders=(4, 8),
)
"""Kinect v1 20 joints, centred on the shoulder centre (joint 2).

The joint order is the ``NUI_SKELETON_POSITION_INDEX`` enumeration of the Kinect
for Windows SDK 1.x (``NuiSensor.h``; the managed ``JointType`` of SDK 1.8 has the
same values): 0 hip centre, 1 spine, 2 shoulder centre, 3 head, 4-7 shoulder,
elbow, wrist, hand left, 8-11 the same right, 12-15 hip, knee, ankle, foot left,
16-19 the same right. The 19 bones are the skeleton tree the SDK draws: spine
hip centre - spine - shoulder centre - head, arms from the shoulder centre, legs
from the hip centre. It is NTU RGB+D's order without neck, spine-shoulder, hand
tips and thumbs, with the shoulder centre at index 2 where NTU has the neck;
:func:`joint_mapping` converts between the two. Recordings that store the same
20 joints in another order need their own :class:`SkeletonLayout`.
"""

COCO_17 = SkeletonLayout.from_edges(
    "coco-17",
    17,
    [(15, 13), (13, 11), (16, 14), (14, 12), (11, 5), (12, 6), (9, 7), (7, 5),
     (10, 8), (8, 6), (5, 0), (6, 0), (1, 0), (3, 1), (2, 0), (4, 2)],
    center=0,
    flip_pairs=[(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)],
    joint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    shoulders=(5, 6),
)
"""COCO 17 keypoints (nose-centred), as 2D pose estimators output them.

The 16 edges form a tree rooted at the nose (the layout of the PYSKL / MMAction2
skeleton-based models), not the 19-edge COCO drawing graph, which has cycles.
"""

OPENPOSE_18 = SkeletonLayout.from_edges(
    "openpose-18",
    18,
    [(4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8), (11, 5),
     (8, 2), (5, 1), (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14)],
    center=1,
    flip_pairs=[(2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)],
    joint_names=(
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
        "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee",
        "right_ankle", "left_hip", "left_knee", "left_ankle",
        "right_eye", "left_eye", "right_ear", "left_ear",
    ),
    shoulders=(5, 2),
)
"""OpenPose 18 keypoints (neck-centred), the Kinetics-Skeleton layout."""

LAYOUTS: dict[str, SkeletonLayout] = {
    layout.name: layout
    for layout in (NTU_RGBD, NTU_RGBD_ANATOMICAL, KINECT_V1, COCO_17, OPENPOSE_18)
}
"""Built-in layouts by name."""


def _layout_key(name: str) -> str:
    """Lower case without separators: ``"Kinect_V1"`` and ``"kinect-v1"`` are one name."""
    return "".join(ch for ch in name.lower() if ch.isalnum() or ch == "+")


def get_layout(layout: str | SkeletonLayout) -> SkeletonLayout:
    """Return a layout given itself or its name.

    Names are matched ignoring case, ``-``, ``_`` and spaces (``"Kinect_V1"``
    finds ``"kinect-v1"``).

    Raises:
        AimCLRError: the name is not one of :data:`LAYOUTS`; the message lists
            them and says how to describe another skeleton.
    """
    if isinstance(layout, SkeletonLayout):
        return layout
    if isinstance(layout, str):
        if layout in LAYOUTS:
            return LAYOUTS[layout]
        for known in LAYOUTS.values():
            if _layout_key(known.name) == _layout_key(layout):
                return known
    raise AimCLRError(
        f"unknown layout {layout!r}; expected one of the built-in layouts "
        f"{sorted(LAYOUTS)} or a SkeletonLayout: for another skeleton, build "
        "SkeletonLayout.from_edges(name, num_joints, edges, center, flip_pairs, "
        "joint_names=..., shoulders=(left, right)) and pass that object instead of a name"
    )


# Target joint -> the source joints whose mean it is. Kinect v1 has no neck, hand tips
# or thumbs: the neck is the midpoint of shoulder centre and head, hand tips and thumbs
# repeat the hand (as bandai2.npz does for a skeleton without fingers).
_KINECT_V1_TO_NTU = (
    (0,), (1,), (2, 3), (3,), (4,), (5,), (6,), (7,), (8,), (9,), (10,), (11,),
    (12,), (13,), (14,), (15,), (16,), (17,), (18,), (19,), (2,), (7,), (7,), (11,), (11,),
)  # fmt: skip
_NTU_TO_KINECT_V1 = tuple((20,) if j == 2 else (j,) for j in range(20))
_SAME_JOINTS = tuple((j,) for j in range(25))
_JOINT_MAPPINGS: dict[tuple[str, str], tuple[tuple[int, ...], ...]] = {
    ("kinect-v1", "ntu-rgb+d"): _KINECT_V1_TO_NTU,
    ("kinect-v1", "ntu-rgb+d-anatomical"): _KINECT_V1_TO_NTU,
    ("ntu-rgb+d", "kinect-v1"): _NTU_TO_KINECT_V1,
    ("ntu-rgb+d-anatomical", "kinect-v1"): _NTU_TO_KINECT_V1,
    ("ntu-rgb+d", "ntu-rgb+d-anatomical"): _SAME_JOINTS,
    ("ntu-rgb+d-anatomical", "ntu-rgb+d"): _SAME_JOINTS,
}


def joint_mapping(
    source: str | SkeletonLayout, target: str | SkeletonLayout
) -> tuple[tuple[int, ...], ...]:
    """How to build the joints of ``target`` from those of ``source``.

    Entry ``j`` lists the source joints whose mean is target joint ``j``. Built in:

    * ``kinect-v1`` → ``ntu-rgb+d`` (or the anatomical variant): the 20 shared
      joints keep their index, except the shoulder centre (v1 joint 2), which
      becomes NTU spine-shoulder (20); NTU's neck (2) is the midpoint of shoulder
      centre and head, and each hand tip and thumb (21-24) repeats its hand joint.
    * ``ntu-rgb+d`` → ``kinect-v1``: the reverse, dropping neck, hand tips and thumbs.
    * ``ntu-rgb+d`` ↔ ``ntu-rgb+d-anatomical``: the identity (same joints, other
      edges).

    Args:
        source: the layout the data is stored in.
        target: the layout wanted.

    Returns:
        ``target.num_joints`` tuples of source joint indices.

    Raises:
        AimCLRError: unknown layout, or no built-in mapping between the two (the
            message lists those there are; pass your own table to
            :meth:`aimclr.data.RaggedSkeletons.to_layout`).

    Example:
        >>> joint_mapping("kinect-v1", "ntu-rgb+d")[2]  # NTU neck
        (2, 3)
    """
    src, dst = get_layout(source), get_layout(target)
    if src.name == dst.name:
        return tuple((j,) for j in range(src.num_joints))
    try:
        return _JOINT_MAPPINGS[(src.name, dst.name)]
    except KeyError:
        known = ", ".join(f"{a} -> {b}" for a, b in _JOINT_MAPPINGS)
        raise AimCLRError(
            f"no built-in joint mapping from layout {src.name!r} ({src.num_joints} joints) "
            f"to {dst.name!r} ({dst.num_joints} joints); built in: {known}. Pass a table "
            "of source joints per target joint instead"
        ) from None


def _hop_distance(layout: SkeletonLayout, max_hop: int) -> np.ndarray:
    """Hop counts between joints, ``inf`` beyond ``max_hop`` (the ST-GCN convention)."""
    v = layout.num_joints
    linked = np.eye(v, dtype=bool)
    for a, b in layout.edges:
        linked[a, b] = linked[b, a] = True
    distance = np.full((v, v), np.inf)
    reach = np.eye(v, dtype=bool)
    for hop in range(max_hop + 1):
        distance[reach & np.isinf(distance)] = hop
        reach = (reach.astype(np.int64) @ linked.astype(np.int64)) > 0
    return distance


def _normalize_columns(matrix: np.ndarray) -> np.ndarray:
    """Divide each column by its sum: entry ``[v, w]`` becomes ``1 / deg(w)``."""
    degree = matrix.sum(axis=0)
    scale = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    normalized: np.ndarray = matrix * scale[None, :]
    return normalized


def adjacency(
    layout: str | SkeletonLayout,
    strategy: Strategy = "spatial",
    max_hop: int = 1,
    dilation: int = 1,
    exact_center_distance: bool = False,
) -> torch.Tensor:
    """Normalised adjacency partitions of a skeleton graph (ST-GCN, Yan et al. 2018).

    The neighbourhood of a joint is every joint within ``max_hop`` hops (stepping by
    ``dilation``), self included; each column is normalised by its degree.

    * ``"uniform"``: one partition, ``(1, V, V)``.
    * ``"distance"``: one partition per hop distance, ``(len(hops), V, V)``.
    * ``"spatial"``: hop 0 gives the self partition; every other hop gives a
      "root + centripetal" and a "centrifugal" partition by comparing both joints'
      distances to the centre, ``(1 + 2 * (len(hops) - 1), V, V)``.

    With ``exact_center_distance=False`` (the default, as ST-GCN and the AimCLR
    reference) distances to the centre are only known up to ``max_hop`` and count as
    equal beyond it, which puts most edges into the first spatial partition. The
    NTU result then equals the reference checkpoints' ``A`` buffer exactly. Pass
    ``True`` to compare true graph distances instead (a different, anatomically
    meaningful partition that the reference weights were not trained with).

    Args:
        layout: a :class:`SkeletonLayout` or a built-in layout name.
        strategy: ``"uniform"``, ``"distance"`` or ``"spatial"``.
        max_hop: largest neighbourhood distance, >= 1.
        dilation: step between the hop distances used, >= 1.
        exact_center_distance: see above.

    Returns:
        float32 tensor ``(K, V, V)``; ``A[k, v, w]`` weighs joint ``v``'s message to
        joint ``w`` in partition ``k``.

    Raises:
        AimCLRError: unknown strategy or layout, or ``max_hop``/``dilation`` < 1.

    Example:
        >>> adjacency("ntu-rgb+d").shape
        torch.Size([3, 25, 25])
    """
    layout = get_layout(layout)
    if max_hop < 1 or dilation < 1:
        raise AimCLRError(f"max_hop and dilation must be >= 1, got {max_hop} and {dilation}")
    hops = list(range(0, max_hop + 1, dilation))
    distance = _hop_distance(layout, max_hop)
    within = np.isin(distance, hops)
    normalized = _normalize_columns(within.astype(np.float64))

    if strategy == "uniform":
        parts = [normalized]
    elif strategy == "distance":
        parts = [np.where(distance == hop, normalized, 0.0) for hop in hops]
    elif strategy == "spatial":
        to_center = (
            _hop_distance(layout, layout.num_joints)[:, layout.center]
            if exact_center_distance
            else distance[:, layout.center]
        )
        # Entry [j, i] compares joint j's and joint i's distance to the centre.
        farther = to_center[:, None] > to_center[None, :]
        same = to_center[:, None] == to_center[None, :]
        parts = []
        for hop in hops:
            at_hop = np.where(distance == hop, normalized, 0.0)
            root = np.where(same, at_hop, 0.0)
            if hop == 0:
                parts.append(root)
            else:
                parts.append(root + np.where(farther, at_hop, 0.0))
                parts.append(np.where(~same & ~farther, at_hop, 0.0))
    else:
        raise AimCLRError(
            f"unknown adjacency strategy {strategy!r}; expected 'uniform', 'distance' or "
            "'spatial'"
        )
    return torch.from_numpy(np.stack(parts)).to(torch.float32)
