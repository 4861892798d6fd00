"""aimclr.viz draws what it says: pixels, frames, heatmap cells, curves and projections."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")

from PIL import Image

from aimclr import AimCLRError, SkeletonLayout, attention_drop
from aimclr.transforms import AimCLRViews
from aimclr.viz import (
    DPI,
    aimclr_views,
    augmentation_examples,
    confusion_matrix,
    eadm_masks,
    joint_colors,
    pca,
    plot_confusion_matrix,
    plot_eadm,
    plot_embeddings,
    plot_skeleton_frames,
    plot_training_curves,
    plot_views,
    project,
    read_metrics,
    save_figure,
    save_skeleton_gif,
)
from aimclr.viz.canvas import figure_pixels

# A plus sign in the y-z plane: invisible from the front (azim 0: every joint at u = 0),
# spread out from the side. Joint 1 is "left", joint 2 "right" (a flip pair).
PLUS = SkeletonLayout.from_edges("plus", 5, [(0, 1), (0, 2), (0, 3), (0, 4)], center=0,
                                 flip_pairs=[(1, 2)])
PLUS_POSE = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0],
                          [0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])  # (V, 3)


def plus_sample(frames: int = 1) -> torch.Tensor:
    """``(3, T, 5, 1)``: the plus pose, moved up by 0.1 per frame."""
    x = PLUS_POSE.T[:, None, :, None].repeat(1, frames, 1, 1)
    return x + torch.tensor([0.0, 0.1, 0.0])[:, None, None, None] * torch.arange(frames)[
        None, :, None, None]


def pixel_at(figure, ax, u: float, v: float) -> np.ndarray:
    """RGB of the rendered pixel under data point ``(u, v)`` of ``ax``."""
    image = figure_pixels(figure)
    x, y = ax.transData.transform((u, v))
    return image[int(image.shape[0] - y), int(x), :3].astype(int)


def color255(rgb: tuple[float, float, float]) -> np.ndarray:
    return np.round(np.array(rgb) * 255).astype(int)


# ----------------------------------------------------------------------------- skeleton
def test_project_closed_form() -> None:
    p = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(project(p), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(project(p, azim=90), torch.tensor([-3.0, 2.0]))
    torch.testing.assert_close(project(p, azim=180), torch.tensor([-1.0, 2.0]))
    # From straight above (elev 90) the screen's v is minus the depth towards the camera.
    torch.testing.assert_close(project(p, elev=90), torch.tensor([1.0, -3.0]))
    # z up: (x, y, z) is (x, -z, y) of the y-up frame.
    torch.testing.assert_close(project(p, up="z"), torch.tensor([1.0, 3.0]))
    with pytest.raises(AimCLRError, match=r"\(C, \.\.\.\) with C = 2 or 3"):
        project(torch.zeros(4, 2))


@pytest.mark.parametrize("azim", [90.0, -90.0])
def test_joint_pixels_carry_the_joint_colour_for_the_camera(azim: float) -> None:
    figure = plot_skeleton_frames(plus_sample(), PLUS, frames=[0], azim=azim)
    ax = figure.axes[0]
    colors = [color255(c) for c in joint_colors(PLUS)]
    screen = project(PLUS_POSE.T, azim=azim)  # (2, V)
    for joint in range(5):
        got = pixel_at(figure, ax, float(screen[0, joint]), float(screen[1, joint]))
        np.testing.assert_allclose(got, colors[joint], atol=2, err_msg=f"joint {joint}")
    # From +x (azim 90) the left joint (z = +1) is on the screen's left, from -x on its right.
    left_side = pixel_at(figure, ax, -1.0, 0.0)
    np.testing.assert_allclose(left_side, colors[1] if azim == 90 else colors[2], atol=2)
    # Between the arms, away from every bone, stays background.
    np.testing.assert_array_equal(pixel_at(figure, ax, 0.6, 0.6), [255, 255, 255])
    np.testing.assert_array_equal(pixel_at(figure, ax, -0.6, -0.6), [255, 255, 255])


def test_several_persons_get_their_own_colours_and_absent_ones_are_skipped() -> None:
    x = torch.zeros(3, 1, 5, 3)
    x[..., 0] = plus_sample()[..., 0]
    x[..., 2] = plus_sample()[..., 0] + torch.tensor([0.0, 0.0, 3.0])[:, None, None]  # shifted
    figure = plot_skeleton_frames(x, PLUS, frames=[0], azim=90)
    ax = figure.axes[0]
    assert len(ax.collections) == 4  # bones + joints of persons 0 and 2; person 1 is absent
    person2 = color255(joint_colors(PLUS, person=2)[1])
    assert not np.array_equal(person2, color255(joint_colors(PLUS, person=0)[1]))
    np.testing.assert_allclose(pixel_at(figure, ax, -4.0, 0.0), person2, atol=2)


def test_gif_has_one_frame_per_frame(tmp_path: Path) -> None:
    x = plus_sample(frames=6)
    path = save_skeleton_gif(x, PLUS, tmp_path / "sub" / "plus.gif", fps=4, azim=90, size=1.5)
    with Image.open(path) as gif:
        assert gif.n_frames == 6
        assert gif.info["duration"] == 250
        assert gif.size == (int(1.5 * DPI), int(1.5 * DPI))
    chosen = save_skeleton_gif(x, PLUS, tmp_path / "three.gif", frames=[0, 2, 5], size=1.5)
    with Image.open(chosen) as gif:
        assert gif.n_frames == 3


def test_skeleton_input_is_validated() -> None:
    with pytest.raises(AimCLRError, match=r"V = 5 joints of layout 'plus'"):
        plot_skeleton_frames(torch.zeros(3, 4, 25, 1), PLUS)
    with pytest.raises(AimCLRError, match=r"indices in \[0, T = 1\)"):
        plot_skeleton_frames(plus_sample(), PLUS, frames=[3])


def test_png_is_deterministic_and_carries_no_run_metadata(tmp_path: Path) -> None:
    first = save_figure(plot_skeleton_frames(plus_sample(2), PLUS, azim=90), tmp_path / "a.png")
    second = save_figure(plot_skeleton_frames(plus_sample(2), PLUS, azim=90), tmp_path / "b.png")
    assert first.read_bytes() == second.read_bytes()
    with Image.open(first) as png:
        assert "Software" not in png.info and "tIME" not in png.info


# ----------------------------------------------------------------------------- views
def sample(frames: int = 12) -> torch.Tensor:
    from aimclr.data import make_synthetic_actions

    return make_synthetic_actions(1, seed=3, num_frames=frames)[0][0]


def test_augmentation_examples_match_their_titles() -> None:
    x = sample().double()
    examples = {e.name: e for e in augmentation_examples(x, seed=1)}
    assert len(examples) == 8
    flip = examples["Spatial Flip"]
    torch.testing.assert_close(flip.view, x[:, :, torch.tensor(
        __import__("aimclr").NTU_RGBD.flip_index())])
    torch.testing.assert_close(examples["Temporal Flip"].view, x.flip(1))
    masked = examples["Axis Mask"]
    axis = "xyz".index(masked.detail[0])
    assert masked.view[axis].abs().max() == 0
    torch.testing.assert_close(masked.view[[i for i in range(3) if i != axis]],
                               x[[i for i in range(3) if i != axis]])
    # Rotate: the angle in the title turns the sample (the other two are <= 1 degree).
    rotate = examples["Rotate"]
    degrees, about = rotate.detail.split("°")[0], rotate.detail.split("about ")[1][0]
    assert 0 <= float(degrees) <= 30
    keep = "xyz".index(about)  # the main axis's own coordinate barely moves
    assert (rotate.view[keep] - x[keep]).abs().max() < 0.2 * x.abs().max()


def test_views_are_seeded_and_drawn() -> None:
    x = sample()
    views = aimclr_views(x, seed=7)
    expected = AimCLRViews()(x.double(), generator=torch.Generator().manual_seed(7))
    for got, want in zip(views, expected, strict=True):
        torch.testing.assert_close(got, want)
    figure = plot_views(x, seed=7, frames=3)
    assert len(figure.axes) == 4 * 3
    # The key view's first frame is what the panel in row 3, column 0 shows.
    ax = figure.axes[9]
    joints = ax.collections[1].get_offsets()
    torch.testing.assert_close(torch.as_tensor(np.asarray(joints)),
                               project(views[2][:, 0, :, 0]).T)


# ----------------------------------------------------------------------------- EADM
@pytest.mark.parametrize("temporal", ["element", "frame"])
@pytest.mark.parametrize("threshold", [0.64, 0.65, 0.66])
def test_eadm_masks_are_what_attention_drop_zeroes(temporal: str, threshold: float) -> None:
    g = torch.Generator().manual_seed(0)
    # Heavy-tailed values without zeros: joints and frames near every threshold.
    x = torch.empty(4, 6, 8, 7).exponential_(generator=g) ** 2 + 0.1
    masks = eadm_masks(x, threshold, temporal=temporal)  # type: ignore[arg-type]
    zeroed = attention_drop(x, threshold, temporal=temporal) == 0  # type: ignore[arg-type]
    torch.testing.assert_close(masks.dropped, zeroed)
    assert 0 < int(masks.joints.sum()) < masks.joints.numel()  # both masks matter
    assert bool((masks.dropped & ~masks.joints[:, None, None, :]).any())


def test_eadm_heatmap_cells_match_the_dropped_mask() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 5, 6, 25, generator=g)
    x[1, :, :, 7] += 3.0
    figure = plot_eadm(x, sample=1, pose=sample(), layout="ntu-rgb+d")
    masks = eadm_masks(x)
    attention = np.asarray(figure.axes[0].images[0].get_array())
    dropped = np.asarray(figure.axes[1].images[0].get_array())
    np.testing.assert_allclose(attention, masks.attention[1].mean(0).T.double().numpy())
    np.testing.assert_allclose(dropped, masks.dropped[1].double().mean(0).T.numpy())
    assert dropped.shape == (25, 6) and (dropped[7] == 1).all()
    # The skeleton panel crosses out exactly the dropped joints.
    skeleton_ax = next(ax for ax in figure.axes if ax.get_title().startswith("joints dropped"))
    crosses = skeleton_ax.collections[-1].get_offsets()
    assert len(crosses) == int(masks.joints[1].sum()) and "7" in skeleton_ax.get_title()


# ----------------------------------------------------------------------------- curves
def test_curves_draw_every_term_of_the_log(tmp_path: Path) -> None:
    records = [
        {"epoch": 1, "lr": 0.1, "loss": 9.0, "info_nce": 4.0, "d3m": 5.0, "seconds": 3.0},
        {"epoch": 2, "lr": 0.1, "loss": 8.0, "info_nce": 3.5, "d3m": 4.5, "knn1": 0.25},
        {"epoch": 3, "lr": 0.01, "loss": 7.0, "nnm": 3.0, "d3m": 4.0, "samples_per_s": 9},
        {"epoch": 4, "lr": 0.01, "loss": 6.5, "nnm": 2.5, "d3m": 3.5, "knn1": 0.5,
         "knn200": 0.4},
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    assert read_metrics(path) == [{k: float(v) for k, v in r.items()} for r in records]
    figure = plot_training_curves(path)
    loss_ax, lr_ax, acc_ax = figure.axes[:3]
    assert len(figure.axes) == 3

    def lines(ax):  # label -> (epochs, values)
        return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
                for line in ax.get_lines()}

    assert lines(loss_ax) == {
        "loss": ([1, 2, 3, 4], [9.0, 8.0, 7.0, 6.5]),
        "info_nce": ([1, 2], [4.0, 3.5]),
        "d3m": ([1, 2, 3, 4], [5.0, 4.5, 4.0, 3.5]),
        "nnm": ([3, 4], [3.0, 2.5]),
    }
    assert lines(lr_ax) == {"lr": ([1, 2, 3, 4], [0.1, 0.1, 0.01, 0.01])}
    assert lr_ax.get_ylim()[0] == 0
    got = lines(acc_ax)
    assert set(got) == {"knn1", "knn200"}
    assert got["knn1"][0] == [2, 4] and got["knn1"][1] == pytest.approx([25.0, 50.0])
    assert got["knn200"][1] == pytest.approx([40.0])


def test_bad_metrics_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "loss": 1}\n[1, 2]\n')
    with pytest.raises(AimCLRError, match=r"metrics.jsonl:2 must be a JSON object"):
        read_metrics(path)
    with pytest.raises(AimCLRError, match="needs an 'epoch'"):
        plot_training_curves([{"loss": 1.0}])


# ----------------------------------------------------------------------------- evaluation
def test_confusion_matrix_counts_and_picture() -> None:
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    predictions = torch.tensor([0, 1, 1, 1, 2, 2])
    expected = torch.tensor([[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    torch.testing.assert_close(confusion_matrix(predictions, labels), expected)
    scores = torch.nn.functional.one_hot(predictions, 4).float()
    torch.testing.assert_close(confusion_matrix(scores, labels)[:3, :3], expected)
    assert confusion_matrix(scores, labels).shape == (4, 4)
    figure = plot_confusion_matrix(predictions, labels, class_names=["a", "b", "c"])
    shown = np.asarray(figure.axes[0].images[0].get_array())
    np.testing.assert_allclose(shown, (expected / expected.sum(1, keepdim=True)).numpy())
    assert "66.7%" in figure.axes[0].get_title()
    with pytest.raises(AimCLRError, match=r"labels must be an integer tensor \(N,\) with N = 6"):
        confusion_matrix(predictions, labels[:5])


def test_pca_closed_form() -> None:
    # Points a·u + b·v + c with orthonormal u, v: variances 8/4 and 2/4, uncorrelated.
    u = torch.tensor([0.0, 0.6, 0.0, -0.8, 0.0], dtype=torch.float64)
    v = torch.tensor([0.0, 0.0, -1.0, 0.0, 0.0], dtype=torch.float64)
    a = torch.tensor([2.0, -2.0, 0.0, 0.0], dtype=torch.float64)
    b = torch.tensor([0.0, 0.0, 1.0, -1.0], dtype=torch.float64)
    c = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    x = a[:, None] * u + b[:, None] * v + c
    result = pca(x.float(), dim=2)
    # Signs: the largest-magnitude entry of each component is positive.
    torch.testing.assert_close(result.components, torch.stack([-u, -v]), atol=1e-6, rtol=0)
    torch.testing.assert_close(result.coords, torch.stack([-a, -b], dim=1), atol=1e-6, rtol=0)
    torch.testing.assert_close(result.mean, c, atol=1e-6, rtol=0)
    torch.testing.assert_close(result.explained_variance_ratio,
                               torch.tensor([0.8, 0.2], dtype=torch.float64))
    figure = plot_embeddings(x.float(), torch.tensor([0, 0, 1, 1]), class_names=["p", "q"])
    offsets = [np.asarray(col.get_offsets()) for col in figure.axes[0].collections]
    np.testing.assert_allclose(np.concatenate(offsets), result.coords.numpy(), atol=1e-6)
    assert "80%" in figure.axes[0].get_xlabel()
    with pytest.raises(AimCLRError, match=r"dim must be an int in \[1, min\(N, D\) = 4\]"):
        pca(x, dim=5)
    assert math.isclose(float(pca(x, dim=1).explained_variance_ratio), 0.8)
