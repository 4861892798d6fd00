"""EADM: SimAM attention, reference parity, masks, rescaling, modes and training use."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import torch
from torch import nn

from aimclr import AimCLRError, SkeletonLayout, get_layout
from aimclr.graph import adjacency
from aimclr.nn import EADM, GraphConv, STGCNBlock, attach_eadm, attention_drop, simam_attention
from aimclr.nn.eadm import ATTENTION_MIN, CLIFF_THRESHOLD, drop_fractions
from aimclr.nn.momentum import copy_and_freeze


def simam_by_hand(x: torch.Tensor, lam: float) -> torch.Tensor:
    """Eq. 3 written element by element for one (sample, channel) map at a time."""
    out = torch.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            plane = x[n, c].double()
            mu = plane.mean()
            var = ((plane - mu) ** 2).sum() / (plane.numel() - 1)
            inverse_energy = (plane - mu) ** 2 / (4 * (var + lam)) + 0.5
            out[n, c] = torch.sigmoid(inverse_energy).to(x.dtype)
    return out


def test_simam_matches_equation_3() -> None:
    x = torch.randn(2, 3, 5, 4, generator=torch.Generator().manual_seed(0))
    att = simam_attention(x, lam=1e-4)
    torch.testing.assert_close(att, simam_by_hand(x, 1e-4))
    assert float(att.min()) >= float(torch.sigmoid(torch.tensor(0.5))) - 1e-7
    # A constant map has no salient element: every attention is sigmoid(1/2).
    flat = simam_attention(torch.full((1, 1, 3, 3), 2.0))
    torch.testing.assert_close(flat, torch.full((1, 1, 3, 3), torch.sigmoid(torch.tensor(0.5))))


def test_matches_the_reference(reference_case: dict[str, Any]) -> None:
    case = reference_case["eadm"]
    out = EADM(threshold=0.7, lam=1e-4).train()(case["input"])
    torch.testing.assert_close(out, case["output"], atol=1e-6, rtol=0)
    torch.testing.assert_close(attention_drop(case["input"]), case["output"], atol=1e-6, rtol=0)


def manual_drop(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Reference semantics spelled out: batch-global rescale, element temporal mask."""
    att = simam_by_hand(x, 1e-4)
    spatial = (att.mean(dim=(1, 2)) < threshold).float()[:, None, None, :]
    x1 = x * spatial * (spatial.numel() / spatial.sum())
    element = (att < threshold).float()
    return x1 * element * (element.numel() / element.sum())


def test_matches_the_written_out_algorithm() -> None:
    x = torch.relu(torch.randn(3, 6, 7, 9, generator=torch.Generator().manual_seed(1)))
    torch.testing.assert_close(attention_drop(x, threshold=0.68), manual_drop(x, 0.68))


def test_everything_dropped_gives_zeros_without_nan() -> None:
    # Uniform noise on a small map: at 0.63 every joint's mean attention is above it.
    x = torch.rand(2, 4, 5, 6, generator=torch.Generator().manual_seed(0), requires_grad=True)
    for temporal in ("element", "frame"):
        for rescale in ("batch", "sample"):
            out = attention_drop(
                x, threshold=0.63, temporal=temporal, rescale=rescale  # type: ignore[arg-type]
            )
            assert torch.equal(out, torch.zeros_like(out))
            out.sum().backward()
            assert x.grad is not None and torch.isfinite(x.grad).all()
            assert torch.equal(x.grad, torch.zeros_like(x))
            x.grad = None


def test_gradient_is_zero_exactly_at_dropped_elements() -> None:
    x = torch.relu(torch.randn(2, 8, 6, 10, generator=torch.Generator().manual_seed(2)))
    x[0, :, :, 4] += 3.0  # a salient joint, so the spatial mask drops something too
    x.requires_grad_(True)
    out = attention_drop(x, threshold=0.7)
    weights = torch.rand_like(out) + 0.5
    (out * weights).sum().backward()
    assert x.grad is not None
    att = simam_attention(x.detach())
    dropped = (att.mean(dim=(1, 2)) >= 0.7)[:, None, None, :] | (att >= 0.7)
    assert bool(dropped.any()) and bool((att.mean(dim=(1, 2)) >= 0.7).any())
    assert torch.equal(x.grad[dropped], torch.zeros_like(x.grad[dropped]))
    # Kept elements all get the same constant factor (batch rescale): d out / d x.
    factor = x.grad[~dropped] / weights[~dropped]
    assert bool((factor > 1).all())
    torch.testing.assert_close(factor, torch.full_like(factor, float(factor[0])))


def test_identity_in_eval_unless_asked() -> None:
    x = torch.relu(torch.randn(2, 8, 6, 10, generator=torch.Generator().manual_seed(3)))
    eadm = EADM().eval()
    assert eadm(x) is x
    assert not torch.equal(eadm(x, force=True), x)
    assert not torch.equal(EADM(active_in_eval=True).eval()(x), x)
    assert not torch.equal(EADM().train()(x), x)


def test_frame_and_element_masks_differ() -> None:
    x = torch.relu(torch.randn(2, 8, 12, 10, generator=torch.Generator().manual_seed(4)))
    x[:, :, 3] += 5.0  # one salient frame
    element = attention_drop(x, temporal="element")
    frame = attention_drop(x, temporal="frame")
    assert not torch.equal(element, frame)
    # Per frame, a frame is kept or dropped as a whole (in every channel and joint).
    zero_frames = (frame == 0).all(dim=3).all(dim=1)  # (N, T)
    assert bool(zero_frames[:, 3].all())
    assert not bool(zero_frames[:, :3].any())


@pytest.mark.parametrize("temporal", ["element", "frame"])
def test_per_sample_rescale_uses_each_samples_kept_fraction(temporal: str) -> None:
    x = torch.relu(torch.randn(3, 8, 12, 10, generator=torch.Generator().manual_seed(5)))
    x[1, :, :, 2] += 4.0  # sample 1 loses joint 2, the others keep all joints
    out = attention_drop(x, rescale="sample", temporal=temporal)  # type: ignore[arg-type]
    att = simam_attention(x)
    spatial = att.mean(dim=(1, 2)) < 0.7  # (N, V)
    if temporal == "element":
        temporal_keep = att < 0.7
    else:
        temporal_keep = (att.mean(dim=(1, 3)) < 0.7)[:, None, :, None].expand_as(att)
    for n in range(3):
        keep = spatial[n][None, None, :] & temporal_keep[n]
        s_scale = spatial[n].numel() / spatial[n].sum()
        if temporal == "element":
            t_scale = keep.numel() / (att[n] < 0.7).sum()
        else:
            frames = (att.mean(dim=(1, 3)) < 0.7)[n]
            t_scale = frames.numel() / frames.sum()
        expected = torch.where(keep, x[n] * s_scale * t_scale, torch.zeros_like(x[n]))
        torch.testing.assert_close(out[n], expected)
    # The batch rescale uses one factor for all samples instead.
    batch = attention_drop(x, rescale="batch", temporal=temporal)  # type: ignore[arg-type]
    assert not torch.allclose(batch, out)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_dtypes_follow_float32(dtype: torch.dtype) -> None:
    # 2·64·40·25 = 128,000 elements: more than float16 can count.
    x = torch.relu(torch.randn(2, 64, 40, 25, generator=torch.Generator().manual_seed(6)))
    low = x.to(dtype)
    out = attention_drop(low)
    assert out.dtype == dtype and bool(torch.isfinite(out).all())
    # Same masks as float32 on the same values; only the output is rounded.
    expected = attention_drop(low.float())
    torch.testing.assert_close(out.float(), expected.to(dtype).float(), atol=0, rtol=1e-2)


def test_bad_input_raises() -> None:
    with pytest.raises(AimCLRError, match=re.escape("layout (N, C, T, V), got shape (2, 3, 4)")):
        EADM()(torch.zeros(2, 3, 4))
    with pytest.raises(AimCLRError, match=re.escape("(N, C, T, V)")):
        EADM().eval()(torch.zeros(2, 3, 4, 5, 6))
    with pytest.raises(AimCLRError, match="floating"):
        attention_drop(torch.zeros(2, 3, 4, 5, dtype=torch.long))
    with pytest.raises(AimCLRError, match=r"T·V >= 2"):
        simam_attention(torch.zeros(2, 3, 1, 1))
    with pytest.raises(AimCLRError, match="temporal must be 'element' or 'frame'"):
        EADM(temporal="joint")  # type: ignore[arg-type]
    with pytest.raises(AimCLRError, match="rescale must be 'batch' or 'sample'"):
        attention_drop(torch.zeros(1, 1, 2, 2), rescale="global")  # type: ignore[arg-type]
    with pytest.raises(AimCLRError, match="lam must be a positive"):
        EADM(lam=0.0)


class TinyGCN(nn.Module):
    """Two graph-convolution layers with EADM in between, on a custom layout."""

    def __init__(self, layout: SkeletonLayout, num_classes: int = 3) -> None:
        super().__init__()
        self.register_buffer("A", adjacency(layout))
        k = self.A.shape[0]
        self.gcn1 = GraphConv(2, 8, k)
        self.eadm = EADM(threshold=0.7, temporal="frame", rescale="sample")
        self.gcn2 = GraphConv(8, 8, k)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, C, T, V)
        y = self.eadm(torch.relu(self.gcn1(x, self.A)))
        y = torch.relu(self.gcn2(y, self.A))
        out: torch.Tensor = self.fc(y.mean(dim=(2, 3)))
        return out


def test_eadm_inside_a_custom_gcn_trains() -> None:
    torch.manual_seed(0)
    hand = SkeletonLayout.from_edges("hand-5", 5, [(0, 1), (0, 2), (0, 3), (0, 4)], center=0)
    model = TinyGCN(hand).train()
    x = torch.randn(6, 2, 10, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.functional.cross_entropy(model(x), y)
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    # Gradients through the kept elements let it fit the six samples. Balanced labels:
    # a classifier that ignores x (e.g. everything dropped) cannot go below log 3.
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] and losses[-1] < 0.5 * math.log(3)


# ------------------------------------------------------------------ thresholds


@pytest.mark.parametrize("threshold", [0.0, 0.5, ATTENTION_MIN])
def test_thresholds_that_always_drop_everything_are_refused(threshold: float) -> None:
    message = "threshold must exceed 0.6225 = sigmoid(1/2), the smallest SimAM attention"
    with pytest.raises(AimCLRError, match=re.escape(message)):
        EADM(threshold)
    with pytest.raises(AimCLRError, match=re.escape(message)):
        attention_drop(torch.rand(1, 1, 2, 2), threshold)


def test_thresholds_below_the_cliff_warn_and_the_measure_shows_why() -> None:
    with pytest.warns(UserWarning, match="EADM threshold 0.64 is below 0.66"):
        EADM(threshold=0.64)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EADM(threshold=CLIFF_THRESHOLD)  # no warning from the cliff on
    # drop_fractions on a map whose joints all look alike: a cliff, then a slope.
    x = torch.rand(4, 32, 12, 25, generator=torch.Generator().manual_seed(0))
    low, high = drop_fractions(x, 0.64), drop_fractions(x, 0.7)
    assert low["joints"] == 1.0 and low["zeroed"] == 1.0
    assert high["joints"] == 0.0 and 0.0 < high["elements"] == high["zeroed"] < 0.5
    out = attention_drop(x, 0.7)
    assert float((out == 0).float().mean()) == pytest.approx(high["zeroed"])


# ------------------------------------------------------------------ third-party networks


class ThirdPartyGCN(nn.Module):
    """A GCN in the layout of the official ST-GCN: blocks map (x, A) to (x, A).

    Input (N, C, T, V, M); persons fold into the batch, so the blocks see (N·M, C, T, V).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("A", adjacency(get_layout("ntu-rgb+d")))
        k = self.A.shape[0]
        self.data_bn = nn.BatchNorm1d(3 * 25)
        self.layers = nn.ModuleList([TupleBlock(3, 8, k), TupleBlock(8, 8, k), TupleBlock(8, 8, k)])
        self.fc = nn.Conv2d(8, 5, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))
        x = x.view(n * m, v, c, t).permute(0, 2, 3, 1)  # (N·M, C, T, V)
        a = self.A
        for layer in self.layers:
            x, a = layer(x, a)
        pooled = x.mean(dim=(2, 3)).view(n, m, -1).mean(dim=1)
        out: torch.Tensor = self.fc(pooled[:, :, None, None]).flatten(1)
        return out


class TupleBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int) -> None:
        super().__init__()
        self.block = STGCNBlock(c_in, c_out, k, kernel_size=3, residual=c_in == c_out)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.block(x, a), a


def test_attach_eadm_keeps_the_checkpoint_names_and_follows_eval() -> None:
    torch.manual_seed(0)
    net = ThirdPartyGCN()
    checkpoint = {k: v.clone() for k, v in net.state_dict().items()}
    wrapped = ThirdPartyGCN()
    wrapped.layers[1] = nn.Sequential(wrapped.layers[1], EADM())  # the renaming way
    assert set(wrapped.state_dict()) != set(checkpoint)
    attach_eadm(net.layers[1], EADM(threshold=0.7))
    assert list(net.state_dict()) == list(checkpoint)
    net.load_state_dict(checkpoint)  # strict: the network's own checkpoint still loads
    assert isinstance(net.layers[1].eadm, EADM)
    x = torch.randn(4, 3, 16, 25, 2)
    plain = ThirdPartyGCN()
    plain.load_state_dict(checkpoint)
    net.eval(), plain.eval()
    assert net.layers[1].eadm.training is False  # .eval() reached it
    torch.testing.assert_close(net(x), plain(x))  # eval: EADM is the identity
    key = copy_and_freeze(net, without=EADM)
    seen: dict[str, torch.Tensor] = {}
    for name, model in (("plain", plain), ("query", net), ("key", key)):
        model.train().layers[2].register_forward_pre_hook(
            lambda module, args, name=name: seen.__setitem__(name, args[0])
        )
        model(x)
    dropped = (seen["query"] == 0) & (seen["plain"] != 0)
    assert float(dropped.float().mean()) > 0.02  # train mode: layer 3 gets the dropped map
    torch.testing.assert_close(seen["key"], seen["plain"])  # the key side drops nothing
    with pytest.raises(AimCLRError, match="already has an attribute 'eadm'"):
        attach_eadm(net.layers[1])


def test_attach_eadm_refuses_outputs_that_are_no_feature_map() -> None:
    layer = attach_eadm(nn.Identity())
    with pytest.raises(AimCLRError, match="must return a feature map"):
        layer([torch.zeros(1)])
    with pytest.raises(AimCLRError, match=re.escape("x must have layout (N, C, T, V)")):
        layer(torch.zeros(2, 3, 4))
