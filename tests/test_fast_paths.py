"""Fast paths of the training step against their straightforward equivalents."""

from __future__ import annotations

import copy
from typing import Literal

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aimclr import NTU_RGBD
from aimclr.graph import adjacency
from aimclr.nn import STGCN, STGCNBlock, attention_drop
from aimclr.nn._fused import batch_norm, pointwise_conv, spatial_mean
from aimclr.nn.stgcn import _Dropout, _dropout_noise

# ----------------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("p", [0.5, 0.25, 0.1, 0.3])
def test_dropout_noise_has_the_dropout_distribution(p: float) -> None:
    torch.manual_seed(0)
    x = torch.empty(400, 1000)
    noise = _dropout_noise(x, p)
    assert noise.shape == x.shape and noise.dtype == x.dtype
    values = noise.unique()
    assert values.tolist()[0] == 0.0 and values.tolist()[1] == pytest.approx(1 / (1 - p))
    assert len(values) == 2
    dropped = float((noise == 0).float().mean())
    assert abs(dropped - p) < 5 * (p * (1 - p) / x.numel()) ** 0.5  # within 5 sigma
    # Neighbouring elements are independent: no structure from the byte packing.
    pairs = (noise[:, :-1] == 0) & (noise[:, 1:] == 0)
    assert abs(float(pairs.float().mean()) - p * p) < 0.003


def test_dropout_noise_edge_cases_dtype_and_seed() -> None:
    x = torch.empty(3, 5, dtype=torch.bfloat16)
    assert _dropout_noise(x, 0.5).dtype == torch.bfloat16
    assert torch.equal(_dropout_noise(x, 1.0), torch.zeros_like(x))
    assert torch.equal(_dropout_noise(x, 0.0), torch.ones_like(x))
    x32 = torch.empty(100)
    assert torch.equal(_dropout_noise(x32, 1 - 1e-12), torch.zeros_like(x32))  # no overflow
    assert torch.equal(_dropout_noise(x32, 1e-12), torch.ones_like(x32))
    torch.manual_seed(3)
    first = _dropout_noise(torch.empty(7, 11), 0.1)
    torch.manual_seed(3)
    assert torch.equal(first, _dropout_noise(torch.empty(7, 11), 0.1))


def test_dropout_noise_of_a_channels_last_tensor_is_laid_out_like_it() -> None:
    torch.manual_seed(0)
    x = torch.empty(40, 16, 25, 25).contiguous(memory_format=torch.channels_last)
    noise = _dropout_noise(x, 0.5)
    assert noise.shape == x.shape and noise.stride() == x.stride()
    assert abs(float((noise == 0).float().mean()) - 0.5) < 5 * (0.25 / x.numel()) ** 0.5
    # Independent along the memory order (channels) and along the logical order (joints).
    for a, b in ((noise[:, :-1], noise[:, 1:]), (noise[..., :-1], noise[..., 1:])):
        assert abs(float(((a == 0) & (b == 0)).float().mean()) - 0.25) < 0.003


def test_dropout_module_is_an_nn_dropout() -> None:
    torch.manual_seed(0)
    dropout = _Dropout(0.5)
    x = torch.rand(64, 64) + 1.0
    assert isinstance(dropout, nn.Dropout) and dropout.p == 0.5
    y = dropout(x)
    assert set(torch.unique(y / x).tolist()) == {0.0, 2.0}
    assert dropout.eval()(x) is x and _Dropout(0.0)(x) is x


# ------------------------------------------------------------------------------ fused block


def _straightforward_block(block: STGCNBlock, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    tcn = block.tcn
    y = tcn._convolve(block.gcn(x, adj))  # the same layers: only the tail is fused
    if tcn.dropout.p > 0:
        y = y * _dropout_noise(y, tcn.dropout.p)  # the mask is drawn after the convolution
    if block.residual is not None:
        y = y + block.residual(x)
    return torch.relu(y)


@pytest.mark.parametrize(("c_in", "c_out", "stride"), [(4, 4, 1), (4, 8, 2)])
@pytest.mark.parametrize("dropout", [0.0, 0.5])
@pytest.mark.parametrize("residual", [True, False])
def test_fused_block_equals_the_straightforward_block(
    c_in: int, c_out: int, stride: int, dropout: float, residual: bool
) -> None:
    torch.manual_seed(0)
    block = STGCNBlock(c_in, c_out, 3, 9, stride=stride, dropout=dropout, residual=residual)
    reference = STGCNBlock(c_in, c_out, 3, 9, stride=stride, dropout=dropout, residual=residual)
    reference.load_state_dict(block.state_dict())
    adj = adjacency(NTU_RGBD)
    x = torch.randn(6, c_in, 16, 25)
    x_ref = x.clone().requires_grad_()
    x = x.requires_grad_()
    torch.manual_seed(1)
    out = block(x, adj)
    torch.manual_seed(1)  # the same mask
    expected = _straightforward_block(reference, x_ref, adj)
    assert torch.equal(out, expected)  # noise is 0 or 2: y·noise + r has one rounding
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    assert x.grad is not None and x_ref.grad is not None
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)
    for (name, p), q in zip(block.named_parameters(), reference.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)
    # Running statistics were updated identically.
    for (name, a), b in zip(block.named_buffers(), reference.buffers(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_spatial_mean_is_the_mean_with_a_dense_gradient(memory_format: torch.memory_format) -> None:
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64).to(memory_format=memory_format)
    x.requires_grad_()
    torch.testing.assert_close(spatial_mean(x), x.mean(dim=(2, 3)))
    assert torch.autograd.gradcheck(spatial_mean, (x,))
    (grad,) = torch.autograd.grad(spatial_mean(x).sum(), x)
    assert torch.equal(grad, torch.full_like(x, 1 / 30))
    if memory_format == torch.channels_last:  # materialised in the input's layout
        assert grad.stride() == x.stride()


@pytest.mark.parametrize(("stride", "frames"), [(1, 7), (2, 7), (2, 8)])
def test_pointwise_conv_is_the_strided_1x1_convolution(stride: int, frames: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, frames, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 3, 1, 1, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    expected = F.conv2d(x, weight, bias, stride=(stride, 1))
    torch.testing.assert_close(pointwise_conv(x, weight, bias, stride), expected)
    assert torch.autograd.gradcheck(lambda *a: pointwise_conv(*a, stride), (x, weight, bias))
    assert torch.autograd.gradcheck(lambda *a: pointwise_conv(*a, None, stride), (x, weight))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_statistics_path_equals_the_module(momentum: float | None) -> None:
    torch.manual_seed(0)
    fast = nn.BatchNorm2d(6, momentum=momentum).double()
    with torch.no_grad():
        fast.weight.uniform_(0.5, 1.5)
        fast.bias.normal_()
    plain = copy.deepcopy(fast)
    for _ in range(3):  # running statistics and the cumulative average follow the module
        x = (torch.randn(4, 6, 7, 5, dtype=torch.float64) * 3 + 2).requires_grad_()
        grad = torch.randn_like(x)
        outputs = [batch_norm(fast, x), plain(x)]
        grads = [torch.autograd.grad(out, [x, bn.weight, bn.bias], grad)
                 for out, bn in zip(outputs, (fast, plain), strict=True)]  # fmt: skip
        torch.testing.assert_close(outputs[0], outputs[1])
        for got, expected in zip(*grads, strict=True):
            torch.testing.assert_close(got, expected)
    for (name, got), expected in zip(fast.named_buffers(), plain.buffers(), strict=True):
        torch.testing.assert_close(got, expected, msg=name)
    x = torch.randn(4, 6, 7, 5, dtype=torch.float64)
    torch.testing.assert_close(batch_norm(fast.eval(), x), plain.eval()(x))


def test_batch_norm_leaves_other_normalisations_to_their_own_forward() -> None:
    """SyncBatchNorm (DDP) and BatchNorm2d subclasses keep their own statistics."""
    calls = []

    class Recording(nn.BatchNorm2d):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(type(self).__name__)
            return super().forward(x)

    class RecordingSync(nn.SyncBatchNorm):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(type(self).__name__)
            return x

    x = torch.randn(4, 6, 7, 5)
    for module in (Recording(6), RecordingSync(6)):
        batch_norm(module, x)
    assert calls == ["Recording", "RecordingSync"]


# ------------------------------------------------------------------------------------- EADM


def _straightforward_attention_drop(
    x: torch.Tensor,
    threshold: float,
    lam: float,
    temporal: Literal["element", "frame"],
    rescale: Literal["batch", "sample"],
) -> torch.Tensor:
    def keep_scale(keep: torch.Tensor) -> torch.Tensor:
        if rescale == "batch":
            return keep * (keep.numel() / keep.sum().clamp_min(1))
        dims = tuple(range(1, keep.dim()))
        return keep * (keep[0].numel() / keep.sum(dim=dims, keepdim=True).clamp_min(1))

    with torch.no_grad():
        xs = x.detach()
        count = x.shape[2] * x.shape[3] - 1
        d = (xs - xs.mean(dim=(2, 3), keepdim=True)).pow(2)
        att = torch.sigmoid(d / (4 * (d.sum(dim=(2, 3), keepdim=True) / count + lam)) + 0.5)
        spatial = keep_scale((att.mean(dim=(1, 2)) < threshold).to(att.dtype))
        spatial = spatial[:, None, None, :]
        if temporal == "element":
            temporal_scale = keep_scale((att < threshold).to(att.dtype))
        else:
            kept = (att.mean(dim=(1, 3)) < threshold).to(att.dtype)
            temporal_scale = keep_scale(kept)[:, None, :, None]
        multiplier = spatial * temporal_scale
    return x * multiplier


@pytest.mark.parametrize("temporal", ["element", "frame"])
@pytest.mark.parametrize("rescale", ["batch", "sample"])
@pytest.mark.parametrize("threshold", [0.7, 0.64])
def test_attention_drop_equals_the_straightforward_formula(
    temporal: Literal["element", "frame"],
    rescale: Literal["batch", "sample"],
    threshold: float,
) -> None:
    torch.manual_seed(0)
    x = torch.randn(6, 32, 13, 25) * torch.rand(6, 32, 1, 1) * 3
    out = attention_drop(x, threshold, 1e-4, temporal, rescale)
    expected = _straightforward_attention_drop(x, threshold, 1e-4, temporal, rescale)
    assert torch.equal(out, expected)


def test_encoder_traces_as_one_graph_for_torch_compile() -> None:
    # The byte-mask dropout uses random_, which dynamo cannot trace; under compilation
    # the encoder must switch to F.dropout, or every block breaks the graph.
    import torch._dynamo as dynamo

    encoder = STGCN(hidden_channels=4, hidden_dim=8, dropout=0.5).train()
    explained = dynamo.explain(encoder.features)(torch.randn(2, 3, 8, 25, 2))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)
