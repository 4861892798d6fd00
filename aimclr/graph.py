"""Skeleton layouts and the ST-GCN adjacency partitions.

A :class:`SkeletonLayout` describes one joint set: its bones, its centre joint, the
left/right pairs that a spatial flip swaps and the (child, parent) pairs of the bone
stream. :func:`adjacency` turns a layout into the ``(K, V, V)`` stack of normalised
adjacency matrices that a spatial graph convolution mixes joints with.

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
    "LAYOUTS",
    "NTU_RGBD",
    "NTU_RGBD_ANATOMICAL",
    "OPENPOSE_18",
    "SkeletonLayout",
    "adjacency",
    "get_layout",
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
    """

    name: str
    num_joints: int
    edges: tuple[tuple[int, int], ...]
    center: int
    flip_pairs: tuple[tuple[int, int], ...] = ()
    bone_pairs: tuple[tuple[int, int], ...] = field(default=())

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

    @classmethod
    def from_edges(
        cls,
        name: str,
        num_joints: int,
        edges: Iterable[Sequence[int]],
        center: int,
        flip_pairs: Iterable[Sequence[int]] = (),
        bone_pairs: Iterable[Sequence[int]] | None = None,
    ) -> SkeletonLayout:
        """Build and validate a custom layout.

        Args:
            name: identifier of the layout.
            num_joints: number of joints ``V``.
            edges: undirected bones as 0-based ``(a, b)`` pairs.
            center: centre joint index.
            flip_pairs: ``(left, right)`` pairs swapped by a spatial flip.
            bone_pairs: ``(child, parent)`` per joint; by default the parents of a
                breadth-first tree rooted at ``center``.

        Returns:
            The validated layout.

        Raises:
            AimCLRError: an index is out of range, the graph is not connected, an
                edge is a self-link, or a joint appears in two flip pairs.

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

NTU_RGBD = SkeletonLayout(
    name="ntu-rgb+d",
    num_joints=25,
    edges=_one_based((*_NTU_BODY, (22, 23), (23, 8), (24, 25), (25, 12))),
    center=20,
    flip_pairs=_NTU_FLIP,
    bone_pairs=_one_based((*_NTU_BODY, (21, 21), (22, 23), (23, 8), (24, 25), (25, 12))),
)
"""NTU RGB+D 25 joints with the original ST-GCN edge table (the reference's graph)."""

NTU_RGBD_ANATOMICAL = SkeletonLayout(
    name="ntu-rgb+d-anatomical",
    num_joints=25,
    edges=_one_based((*_NTU_BODY, (22, 8), (23, 8), (24, 12), (25, 12))),
    center=20,
    flip_pairs=_NTU_FLIP,
    bone_pairs=_one_based((*_NTU_BODY, (21, 21), (22, 8), (23, 8), (24, 12), (25, 12))),
)
"""NTU RGB+D 25 joints with hand tip and thumb both attached to the hand joint."""

COCO_17 = SkeletonLayout.from_edges(
    "coco-17",
    17,
    [(15, 13), (13, 11), (16, 14), (14, 12), (11, 5), (12, 6), (9, 7), (7, 5),
     (10, 8), (8, 6), (5, 0), (6, 0), (1, 0), (3, 1), (2, 0), (4, 2)],
    center=0,
    flip_pairs=[(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)],
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
)
"""OpenPose 18 keypoints (neck-centred), the Kinetics-Skeleton layout."""

LAYOUTS: dict[str, SkeletonLayout] = {
    layout.name: layout for layout in (NTU_RGBD, NTU_RGBD_ANATOMICAL, COCO_17, OPENPOSE_18)
}
"""Built-in layouts by name."""


def get_layout(layout: str | SkeletonLayout) -> SkeletonLayout:
    """Return a layout given itself or its name.

    Raises:
        AimCLRError: the name is not one of :data:`LAYOUTS`.
    """
    if isinstance(layout, SkeletonLayout):
        return layout
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise AimCLRError(
            f"unknown layout {layout!r}; expected one of {sorted(LAYOUTS)} or a SkeletonLayout"
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
