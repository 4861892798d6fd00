"""Skeleton layouts and adjacency partitions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aimclr import AimCLRError
from aimclr.graph import (
    COCO_17,
    LAYOUTS,
    NTU_RGBD,
    NTU_RGBD_ANATOMICAL,
    OPENPOSE_18,
    SkeletonLayout,
    adjacency,
    get_layout,
)

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared/fixtures/aimclr_reference_case.pt"
ALL_LAYOUTS = [NTU_RGBD, NTU_RGBD_ANATOMICAL, COCO_17, OPENPOSE_18]


def test_ntu_spatial_adjacency_equals_reference_buffer() -> None:
    if not FIXTURE.exists():
        pytest.skip(f"reference fixture not found at {FIXTURE}: ../shared is absent")
    reference = torch.load(FIXTURE, weights_only=True)["A"]
    assert torch.equal(adjacency(NTU_RGBD, "spatial"), reference)


def test_ntu_spatial_partition_sizes_reproduce_the_st_gcn_quirk() -> None:
    a = adjacency("ntu-rgb+d")
    assert [int((part != 0).sum()) for part in a] == [25, 40, 8]
    # The exact-distance variant splits the same 48 directed edges differently.
    exact = adjacency("ntu-rgb+d", exact_center_distance=True)
    assert int((exact[1:] != 0).sum()) == 48
    assert [int((part != 0).sum()) for part in exact] == [25, 24, 24]


@pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=lambda layout: layout.name)
@pytest.mark.parametrize("strategy", ["uniform", "distance", "spatial"])
@pytest.mark.parametrize("max_hop", [1, 2])
def test_partitions_sum_to_column_normalised_neighbourhood(
    layout: SkeletonLayout, strategy: str, max_hop: int
) -> None:
    a = adjacency(layout, strategy, max_hop=max_hop)  # type: ignore[arg-type]
    expected_k = {"uniform": 1, "distance": max_hop + 1, "spatial": 1 + 2 * max_hop}[strategy]
    assert a.shape == (expected_k, layout.num_joints, layout.num_joints)
    total = a.sum(0)
    # Every column of the summed partitions is a probability vector over its neighbourhood.
    torch.testing.assert_close(total.sum(0), torch.ones(layout.num_joints))
    assert bool((a >= 0).all())


def test_dilation_skips_hops() -> None:
    a = adjacency(COCO_17, "distance", max_hop=2, dilation=2)
    assert a.shape[0] == 2  # hops 0 and 2
    # Direct neighbours (hop 1) are not connected at all.
    nose, left_eye = 0, 1
    assert float(a[:, nose, left_eye].sum()) == 0.0


@pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=lambda layout: layout.name)
def test_flip_index_is_an_involution(layout: SkeletonLayout) -> None:
    index = torch.tensor(layout.flip_index())
    assert torch.equal(index[index], torch.arange(layout.num_joints))
    assert sorted(index.tolist()) == list(range(layout.num_joints))


@pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=lambda layout: layout.name)
def test_bones_form_a_tree_rooted_at_the_center(layout: SkeletonLayout) -> None:
    parents = layout.parent_index()
    assert parents[layout.center] == layout.center
    for joint in range(layout.num_joints):
        seen = {joint}
        while joint != layout.center:
            joint = parents[joint]
            assert joint not in seen, "bone parents contain a cycle"
            seen.add(joint)
    # Every bone is an edge of the graph.
    undirected = {frozenset(edge) for edge in layout.edges}
    for child, parent in layout.bone_pairs:
        if child != parent:
            assert frozenset((child, parent)) in undirected


def test_ntu_reference_tables() -> None:
    # Spec: 24 bones, hand tips chained through the thumb in the original table.
    assert len(NTU_RGBD.edges) == 24
    assert (21, 22) in NTU_RGBD.edges and (22, 7) in NTU_RGBD.edges
    assert (21, 7) in NTU_RGBD_ANATOMICAL.edges and (22, 7) in NTU_RGBD_ANATOMICAL.edges
    assert NTU_RGBD.flip_index() == [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19,
                                     12, 13, 14, 15, 20, 23, 24, 21, 22]


def test_get_layout_by_name_and_unknown_name() -> None:
    for name, layout in LAYOUTS.items():
        assert get_layout(name) is layout
    with pytest.raises(AimCLRError, match=r"unknown layout 'kinect'; expected one of"):
        get_layout("kinect")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"edges": [(0, 3)]}, r"edge \(0, 3\) has a joint index outside \[0, 3\)"),
        ({"edges": [(0, 1)]}, r"not connected; joints \[2\] cannot be reached"),
        ({"edges": [(0, 1), (1, 2)], "center": 5}, r"center must be a joint index in \[0, 3\)"),
        ({"edges": [(0, 1), (1, 1), (1, 2)]}, r"self-link"),
        ({"edges": [(0, 1), (1, 2)], "flip_pairs": [(0, 2), (2, 1)]}, r"at most once"),
    ],
)
def test_custom_layout_validation(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"name": "toy", "num_joints": 3, "center": 1, **kwargs}
    with pytest.raises(AimCLRError, match=message):
        SkeletonLayout.from_edges(**arguments)  # type: ignore[arg-type]


def test_adjacency_rejects_bad_arguments() -> None:
    with pytest.raises(AimCLRError, match="unknown adjacency strategy 'radial'"):
        adjacency(NTU_RGBD, "radial")  # type: ignore[arg-type]
    with pytest.raises(AimCLRError, match="max_hop and dilation must be >= 1"):
        adjacency(NTU_RGBD, max_hop=0)


def test_ntu_distance_partitions_by_hand() -> None:
    # Spec §1.4: the 24 bones, 1-based; column w is normalised by deg(w) = 1 + #bones at w.
    bones = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21),
             (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
             (18, 17), (19, 18), (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)]
    degree = [1] * 25  # the self-loop
    for a, b in bones:
        degree[a - 1] += 1
        degree[b - 1] += 1
    assert degree[20] == 5 and degree[0] == 4 and degree[3] == 2  # spine-shoulder, base, head
    self_part = torch.diag(torch.tensor([1.0 / d for d in degree]))
    hop_part = torch.zeros(25, 25)
    for a, b in bones:
        hop_part[a - 1, b - 1] = 1.0 / degree[b - 1]
        hop_part[b - 1, a - 1] = 1.0 / degree[a - 1]
    a = adjacency(NTU_RGBD, "distance", max_hop=1)
    assert a.shape == (2, 25, 25)
    assert int((a[0] != 0).sum()) == 25 and int((a[1] != 0).sum()) == 48
    torch.testing.assert_close(a[0], self_part)
    torch.testing.assert_close(a[1], hop_part)
