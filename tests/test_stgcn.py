"""ST-GCN encoder: shapes for several layouts, parameter counts, errors, reference parity."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from aimclr import COCO_17, NTU_RGBD, OPENPOSE_18, AimCLRError, SkeletonLayout
from aimclr.checkpoint import load_reference_encoder
from aimclr.graph import adjacency
from aimclr.nn import EADM, STGCN, GraphConv, ProjectionHead, reference_init_
from aimclr.nn._fused import plain_layers
from aimclr.nn.stgcn import MemoryFormat


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("layout", "channels"), [(NTU_RGBD, 3), (COCO_17, 2), (OPENPOSE_18, 3)]
)
@pytest.mark.parametrize("persons", [1, 2])
def test_shapes_for_layouts_and_persons(layout: SkeletonLayout, channels: int,
                                        persons: int) -> None:
    torch.manual_seed(0)
    encoder = STGCN(layout, in_channels=channels, hidden_channels=4, hidden_dim=12).eval()
    x = torch.randn(3, channels, 18, layout.num_joints, persons)
    features = encoder.features(x)
    assert features.shape == (3 * persons, 12, 5, layout.num_joints)
    assert encoder.output_frames(18) == 5
    out = encoder(x)
    assert out.shape == (3, 12)
    assert torch.allclose(out, encoder.pool(features, persons))
    assert encoder.out_channels == encoder.hidden_dim == 12


def test_persons_are_averaged_after_pooling() -> None:
    torch.manual_seed(0)
    encoder = STGCN(hidden_channels=4, hidden_dim=8).eval()
    x = torch.randn(2, 3, 12, 25, 2)
    both = encoder(x)
    one = torch.stack([encoder(x[..., m : m + 1]) for m in range(2)]).mean(0)
    assert torch.allclose(both, one, atol=1e-6)


def test_custom_layout_and_kernel() -> None:
    chain = SkeletonLayout.from_edges("chain", 4, [(0, 1), (1, 2), (2, 3)], center=1)
    encoder = STGCN(chain, in_channels=2, hidden_channels=2, hidden_dim=6,
                    temporal_kernel_size=3, strategy="uniform")
    assert encoder.A.shape == (1, 4, 4)
    assert encoder(torch.randn(2, 2, 4, 4, 3)).shape == (2, 6)


def test_graph_conv_matches_the_partition_sum() -> None:
    torch.manual_seed(0)
    gcn = GraphConv(5, 7, 3)
    x = torch.randn(2, 5, 4, 25)
    adj = adjacency(NTU_RGBD) * torch.rand(3, 25, 25)
    y = gcn.conv(x).view(2, 3, 7, 4, 25)
    expected = torch.einsum("nkctv,kvw->nctw", y, adj)
    assert torch.allclose(gcn(x, adj), expected, atol=1e-5)
    channels_last = gcn(x.to(memory_format=torch.channels_last), adj)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(channels_last, expected, atol=1e-5)


def _einsum_graph_conv(gcn: GraphConv, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """The reference formulation: 1x1 convolution to K·C channels, then the partition sum."""
    y = gcn.conv(x)
    n, _, t, v = y.shape
    return torch.einsum("nkctv,kvw->nctw", y.view(n, adj.shape[0], -1, t, v), adj)


@pytest.mark.parametrize("memory_format", ["contiguous", "channels_last"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("widths", [(8, 7), (8, 17)])
def test_graph_conv_paths_match_the_reference_in_value_and_gradient(
    memory_format: str, bias: bool, widths: tuple[int, int]
) -> None:
    # The CPU paths (batched GEMMs for contiguous input, in the partition-outermost layout
    # up to 2x widening and the stacked one beyond; row GEMMs for channels-last) have
    # hand-written backward passes: every gradient against autograd through the einsum.
    torch.manual_seed(0)
    c_in, c_out = widths  # 8 input channels: the fewest the row path takes
    gcn = GraphConv(c_in, c_out, 3).double()
    if not bias:
        gcn.conv.bias = None
    x = torch.randn(2, c_in, 4, 25, dtype=torch.float64)
    importance = torch.rand(3, 25, 25, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(2, c_out, 4, 25, dtype=torch.float64)
    grads = []
    for path in ("reference", memory_format):
        layout = torch.channels_last if path == "channels_last" else torch.contiguous_format
        xin = x.to(memory_format=layout).requires_grad_()
        adj = adjacency(NTU_RGBD).double() * importance
        out = _einsum_graph_conv(gcn, xin, adj) if path == "reference" else gcn(xin, adj)
        if path == "channels_last":
            assert out.is_contiguous(memory_format=torch.channels_last)
        params = [xin, importance, *gcn.conv.parameters()]
        grads.append((out.detach(), *torch.autograd.grad(out, params, grad_out)))
    for expected, got in zip(*grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("memory_format", ["contiguous", "channels_last"])
def test_hand_written_layers_equal_the_plain_layers(memory_format: MemoryFormat) -> None:
    # The whole encoder, train mode: outputs, every gradient and BatchNorm's statistics.
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 3, 12, 25, 2, dtype=torch.float64, generator=generator)
    results = []
    for plain in (False, True):
        torch.manual_seed(1)
        encoder = STGCN(hidden_channels=8, hidden_dim=8, dropout=0.0, memory_format=memory_format)
        encoder.double()
        with plain_layers() if plain else contextlib.nullcontext():
            out = encoder(x)
            out.square().sum().backward()
        results.append([out, *(p.grad for p in encoder.parameters()), *encoder.buffers()])
    for fast, reference in zip(*results, strict=True):
        torch.testing.assert_close(fast, reference, rtol=1e-9, atol=1e-11)


def test_graph_conv_needs_no_input_gradient() -> None:
    # Block 1's input does not require grad; its weight and edge gradients still flow.
    gcn = GraphConv(3, 4, 3)
    importance = torch.ones(3, 25, 25, requires_grad=True)
    gcn(torch.randn(2, 3, 6, 25), adjacency(NTU_RGBD) * importance).sum().backward()
    assert importance.grad is not None and gcn.conv.weight.grad is not None


def test_memory_formats_give_the_same_embeddings_and_gradients() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 3, 12, 25, 2, dtype=torch.float64)  # float64: rounding out of the way
    results = []
    for memory_format in ("contiguous", "channels_last"):
        torch.manual_seed(1)
        encoder = STGCN(hidden_channels=4, hidden_dim=8, dropout=0.0, memory_format=memory_format)
        encoder.double()
        assert encoder.uses_channels_last(x) == (memory_format == "channels_last")
        out = encoder(x)
        out.square().sum().backward()
        grads = {name: p.grad for name, p in encoder.named_parameters()}
        results.append((out.detach(), grads, dict(encoder.named_buffers())))
    # Contiguous maps take the hand-written GEMM layers and BatchNorm statistics of
    # aimclr.nn._fused, channels-last ones the plain convolutions and BatchNorm.
    (out_a, grads_a, buffers_a), (out_b, grads_b, buffers_b) = results
    assert torch.allclose(out_a, out_b, rtol=1e-10, atol=1e-12)
    for name, grad in grads_a.items():
        torch.testing.assert_close(grads_b[name], grad, rtol=1e-9, atol=1e-11, msg=name)
    for name, buffer in buffers_a.items():  # running statistics and batch counts
        torch.testing.assert_close(buffers_b[name], buffer, rtol=1e-10, atol=1e-12, msg=name)
    auto = STGCN(hidden_channels=4, hidden_dim=8)
    assert not auto.uses_channels_last(x)  # CPU, full precision
    assert auto.uses_channels_last(x.bfloat16())  # CPU, half precision
    with torch.autocast("cpu", torch.bfloat16):
        assert auto.uses_channels_last(x.float())
    assert not auto.uses_channels_last(torch.empty(1, device="meta"))
    if torch.cuda.is_available():
        on_gpu = torch.zeros(1, 3, 8, 25, 1, device="cuda")
        assert not auto.uses_channels_last(on_gpu)  # float32
        assert auto.uses_channels_last(on_gpu.half())
        with torch.autocast("cuda", torch.bfloat16):
            assert auto.uses_channels_last(on_gpu)


# ------------------------------------------------------------------------------------- params


def test_parameter_counts_match_the_reference() -> None:
    encoder = STGCN()
    # The reference counts 821,380 for the backbone: edge importances included, the
    # adjacency A and BN statistics are buffers.
    assert n_params(encoder) == 821_380
    assert n_params(encoder) + n_params(ProjectionHead()) == 920_068
    assert "A" in dict(encoder.named_buffers())
    standard = STGCN(hidden_channels=64)
    assert isinstance(standard.blocks[9].residual, torch.nn.Identity)  # 256 -> 256


def test_edge_importance_is_optional_and_starts_at_one() -> None:
    encoder = STGCN(edge_importance=False)
    assert encoder.edge_importance is None
    assert n_params(encoder) == 821_380 - 10 * 3 * 25 * 25
    assert all(torch.equal(p, torch.ones(3, 25, 25)) for p in STGCN().edge_importance or [])


@torch.no_grad()
def test_reference_init() -> None:
    encoder = reference_init_(STGCN(), torch.Generator().manual_seed(0))
    conv = encoder.blocks[9].tcn.conv
    assert abs(float(conv.weight.std()) - 0.02) < 2e-3
    assert float(conv.bias.abs().max()) == 0.0
    assert abs(float(encoder.data_bn.weight.mean()) - 1.0) < 0.01
    assert encoder.edge_importance is not None
    assert torch.equal(encoder.edge_importance[0], torch.ones(3, 25, 25))


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    encoder = STGCN(hidden_channels=4, hidden_dim=8, dropout=0.0)
    encoder(torch.randn(2, 3, 8, 25, 2)).square().sum().backward()
    missing = [name for name, p in encoder.named_parameters() if p.grad is None]
    assert not missing


# ------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("shape", "dtype", "message"),
    [
        ((2, 3, 16, 25), torch.float32, r"layout \(N, C, T, V, M\), got shape \(2, 3, 16, 25\)"),
        ((2, 3, 16, 17, 2), torch.float32, r"V = 25 \(layout 'ntu-rgb\+d'\), got shape \(2, 3, 16, 17, 2\)"),  # noqa: E501
        ((2, 2, 16, 25, 2), torch.float32, r"with C = 3.*got shape \(2, 2, 16, 25, 2\)"),
        ((2, 3, 3, 25, 2), torch.float32, r"T >= 4 frames .*got shape \(2, 3, 3, 25, 2\)"),
        ((2, 3, 16, 25, 2), torch.int64, r"floating tensor .*dtype torch.int64"),
        ((2, 3, 16, 25, 2), torch.float64, r"of its dtype torch.float32, got shape .*float64"),
        ((2, 3, 16, 25, 2), torch.bfloat16, r"of its dtype torch.float32, got shape .*bfloat16"),
    ],
)
def test_bad_input_raises(shape: tuple[int, ...], dtype: torch.dtype, message: str) -> None:
    encoder = STGCN(hidden_channels=2, hidden_dim=4)
    with pytest.raises(AimCLRError, match=message):
        encoder(torch.zeros(shape, dtype=dtype))


def test_other_dtypes_are_left_to_autocast() -> None:
    encoder = STGCN(hidden_channels=2, hidden_dim=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = encoder(torch.zeros(2, 3, 16, 25, 2, dtype=torch.bfloat16))
    assert out.shape == (2, 4)
    # Same values as float32 up to bfloat16 rounding (8-bit mantissa: ~0.4 % per op, about
    # 1 % after ten blocks): 5 % of the output's scale is loose yet catches a lost term.
    torch.manual_seed(1)
    wider = STGCN(hidden_channels=4, hidden_dim=8).eval()
    x = torch.randn(2, 3, 16, 25, 2).bfloat16()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: thread start-up would dominate on a busy box
    try:
        with torch.no_grad():
            reference = (wider.features(x.float()), wider(x.float()))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                mixed = (wider.features(x), wider(x))
    finally:
        torch.set_num_threads(threads)
    for got, expected in zip(mixed, reference, strict=True):
        assert got.shape == expected.shape
        scale = float(expected.abs().max())
        assert scale > 0
        torch.testing.assert_close(got.float(), expected, rtol=0, atol=5e-2 * scale)
    with pytest.raises(AimCLRError, match=r"on the encoder's device cpu .* on meta"):
        encoder(torch.zeros(2, 3, 16, 25, 2, device="meta"))


def test_bad_arguments_raise() -> None:
    with pytest.raises(AimCLRError, match="temporal_kernel_size must be a positive odd"):
        STGCN(temporal_kernel_size=4)
    with pytest.raises(AimCLRError, match="hidden_channels must be a positive integer"):
        STGCN(hidden_channels=0)
    with pytest.raises(AimCLRError, match=re.escape("dropout must lie in [0, 1]")):
        STGCN(dropout=1.5)
    with pytest.raises(AimCLRError, match="unknown layout"):
        STGCN("kinect-9")
    with pytest.raises(AimCLRError, match="memory_format must be one of"):
        STGCN(memory_format="nhwc")  # type: ignore[arg-type]
    with pytest.raises(AimCLRError, match=r"multiple of num_persons = 2"):
        STGCN().pool(torch.zeros(3, 256, 4, 25), 2)
    with pytest.raises(AimCLRError, match=r"layout \(N, D\) with D = 256"):
        ProjectionHead()(torch.zeros(2, 128))


# ----------------------------------------------------------------------------- reference parity


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_embeddings_match_the_reference(reference_case: dict[str, Any], mode: str) -> None:
    case = reference_case[mode]
    state = reference_case["state_dict" if mode == "eval" else "state_dict_train"]
    # The train case was produced with dropout 0 (train mode: BN batch statistics).
    dropout = 0.5 if mode == "eval" else 0.0
    encoder_q, head_q = load_reference_encoder(state, "encoder_q.", dropout=dropout)
    encoder_k, head_k = load_reference_encoder(state, "encoder_k.", dropout=dropout)
    assert isinstance(head_q, ProjectionHead) and isinstance(head_k, ProjectionHead)
    eadm = EADM(threshold=0.7, lam=1e-4)
    for module in (encoder_q, head_q, encoder_k, head_k, eadm):
        module.train(mode == "train")

    def embed(head: torch.nn.Module, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(head(pooled), dim=1)

    with torch.no_grad():
        q = embed(head_q, encoder_q(case["x_query"]))
        # encoder_q runs separately on the extreme view (its own BN batch statistics).
        extreme = encoder_q.features(case["x_extreme"])
        q_extreme = embed(head_q, encoder_q.pool(extreme, 2))
        q_extreme_drop = embed(head_q, encoder_q.pool(eadm(extreme, force=True), 2))
        k = embed(head_k, encoder_k(case["x_key"]))
    for name, value in (("q", q), ("q_extreme", q_extreme),
                        ("q_extreme_drop", q_extreme_drop), ("k", k)):  # fmt: skip
        torch.testing.assert_close(value, case[name], atol=1e-5, rtol=0, msg=name)
