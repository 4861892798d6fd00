"""ST-GCN encoder (Yan et al., AAAI 2018) as configured by AimCLR.

The encoder maps a skeleton sequence batch ``(N, C, T, V, M)`` to one embedding per
sample. Persons are folded into the batch for the whole backbone and averaged after
global pooling, so the same weights serve any number of persons ``M``; the joint count
``V`` comes from the :class:`~aimclr.graph.SkeletonLayout`.

Feature extraction and pooling are separate steps (:meth:`STGCN.features`,
:meth:`STGCN.pool`) so that a module such as :class:`~aimclr.nn.eadm.EADM` can act on
the final feature map ``(N·M, D, T', V)`` before pooling; :class:`STGCN` satisfies the
full encoder contract :class:`~aimclr.nn.encoder.SkeletonEncoder`.

Paper: Yan et al., "Spatial Temporal Graph Convolutional Networks for Skeleton-Based
Action Recognition", AAAI 2018, [arXiv:1801.07455](https://arxiv.org/abs/1801.07455).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from aimclr._autocast import autocast_dtype
from aimclr._checks import (
    check_floating,
    check_generator,
    check_matches_weight,
    check_module,
    check_probability,
    check_rank,
    check_tensor,
    describe,
)
from aimclr.errors import AimCLRError
from aimclr.graph import SkeletonLayout, Strategy, adjacency, get_layout
from aimclr.nn._fused import (
    batch_norm,
    channels_last_path,
    contiguous_path,
    graph_conv,
    graph_conv_rows,
    joint_bias,
    pointwise_conv,
    spatial_mean,
)

__all__ = ["MEMORY_FORMATS", "STGCN", "GraphConv", "STGCNBlock", "TemporalConv", "reference_init_"]

_LAYOUT = "(N, C, T, V, M)"

MemoryFormat = Literal["auto", "contiguous", "channels_last"]
MEMORY_FORMATS: tuple[MemoryFormat, ...] = ("auto", "contiguous", "channels_last")
"""Values of :class:`STGCN`'s ``memory_format``."""


class GraphConv(nn.Module):
    """Spatial graph convolution: a 1x1 convolution per partition, then joint mixing.

    ``out[n, c, t, w] = Σ_k Σ_v (W_k x + b_k)[n, c, t, v] · A[k, v, w]`` for the ``K``
    adjacency partitions ``A`` given at call time. The parameters are stored as one
    ``Conv2d(C_in, K·C_out, 1)`` (output channel ``k·C_out + c`` belongs to partition
    ``k``), the layout of the reference checkpoints.

    Args:
        in_channels: input channels ``C_in``.
        out_channels: output channels ``C_out``.
        num_partitions: number of adjacency partitions ``K``.
    """

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_partitions = num_partitions
        self.conv = nn.Conv2d(in_channels, out_channels * num_partitions, kernel_size=1)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """Apply the graph convolution.

        Args:
            x: features ``(n, C_in, T, V)``.
            adj: partitions ``(K, V, W)`` (usually ``W = V``).

        Returns:
            ``(n, C_out, T, W)``, in the memory format of ``x``.
        """
        # On the CPU, hand-written GEMMs (the dilated convolution below is slow to run and
        # to differentiate there); the compiler and other devices take the plain layers.
        if contiguous_path(x):
            return graph_conv(x, adj, self.conv.weight, self.conv.bias)
        if channels_last_path(x) and x.shape[1] >= 8:  # a 3-channel input: GEMMs too thin
            return self._forward_rows(x, adj)
        n, c_in, t, v = x.shape
        k, _, w = adj.shape
        c = self.out_channels
        # Both steps are linear, so mix joints first: the intermediate has K·C_in
        # channels instead of K·C_out (4x fewer in the last block) and comes out of one
        # GEMM without a permute copy, in the memory format of x.
        mixing = adj.transpose(0, 1).reshape(v, k * w)
        if _is_channels_last(x):  # memory (n, T, V, C_in): (K·W, V) @ (V, C_in) per frame
            z = torch.matmul(mixing.t(), x.permute(0, 2, 3, 1).reshape(n * t, v, c_in))
            z = z.view(n, t, k * w, c_in).permute(0, 3, 1, 2)
        else:  # memory (n, C_in, T, V): one (n·C_in·T, V) @ (V, K·W) GEMM
            z = (x.reshape(n * c_in * t, v) @ mixing).view(n, c_in, t, k * w)
        # Channel mixing sums over (C_in, K): a (1, K) kernel dilated by W picks
        # z[..., k·W + w] for k = 0..K-1 at output position w.
        weight = self.conv.weight.view(k, c, c_in).permute(1, 2, 0).reshape(c, c_in, 1, k)
        out = F.conv2d(z, weight, dilation=(1, w))
        if self.conv.bias is not None:
            out = out.add_(joint_bias(self.conv.bias, adj)[:, None, :])
        return out

    def _forward_rows(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` for channels-last ``x`` on the CPU, as two row GEMMs.

        In memory ``(n, T, V, C_in)`` every frame is a ``(V, C_in)`` matrix: joint mixing
        is one batched ``(W·K, V) @ (V, C_in)`` product per frame, whose rows ``(w, k)``
        then hold the ``K·C_in`` inputs of output joint ``w`` side by side, so channel
        mixing is a single ``(n·T·W, K·C_in) @ (K·C_in, C_out)`` GEMM written straight
        in channels-last order. No copy, no dilated convolution (slow to differentiate
        on the CPU).
        """
        n, c_in, t, v = x.shape
        k, _, w = adj.shape
        c = self.out_channels
        # Autocast's dtype, applied here: the product runs with autocast off.
        dtype = autocast_dtype("cpu") or x.dtype
        frames = x.to(dtype).permute(0, 2, 3, 1).reshape(n * t, v, c_in)  # a view
        mixing = adj.to(dtype).permute(2, 0, 1).reshape(w * k, v)  # row w·K + k: A[k, :, w]
        weight = self.conv.weight.to(dtype).view(k, c, c_in).transpose(1, 2)
        out = graph_conv_rows(frames, mixing, weight.reshape(k * c_in, c)).view(n * t, w * c)
        if self.conv.bias is not None:
            bias = joint_bias(self.conv.bias, adj).t().reshape(1, w * c)
            out = out.add_(bias.to(out.dtype))
        return out.view(n, t, w, c).permute(0, 3, 1, 2)


def _is_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x`` ``(n, C, T, V)`` is stored channels-last (and not also contiguous)."""
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class _Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` with a mask drawn from random bytes on CPU.

    Same distribution as ``nn.Dropout`` (keep with probability ``1 - p``, scale kept
    values by ``1 / (1 - p)``), a different random stream on CPU: ``bernoulli_`` draws
    one random number per element and was ~15 % of a pre-training step there, while one
    byte (or one 32-bit word) per element costs a fraction of that. On other devices
    and under ``torch.compile`` the mask comes from ``F.dropout``.
    """

    def noise(self, x: torch.Tensor) -> torch.Tensor | None:
        """The multiplier ``mask / (1 - p)`` shaped like ``x``; ``None`` when inactive."""
        if not self.training or self.p == 0.0:
            return None
        if x.device.type != "cpu" or torch.compiler.is_compiling():
            # GPU kernels draw the mask cheaply, and torch.compile cannot trace random_.
            return F.dropout(torch.ones_like(x), self.p, training=True)
        return _dropout_noise(x, self.p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = self.noise(x)
        return x if noise is None else x * noise


def _dropout_noise(x: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout multiplier for ``x``: 0 with probability ``p``, else ``1 / (1 - p)``.

    The mask compares random unsigned bytes with ``256·p`` when that is an integer
    (exact, e.g. ``p = 0.5``), otherwise random 32-bit words with ``round(2³²·p)``
    (``p`` within ``2⁻³²``, finer than a float32 uniform). Uses the default generator
    of ``x``'s device, so ``torch.manual_seed`` makes it reproducible.

    Args:
        x: any tensor; the result has its shape, dtype and device.
        p: drop probability in ``[0, 1]``.

    Returns:
        A tensor like ``x`` holding ``0`` and ``1 / (1 - p)`` (all zeros for ``p = 1``).
    """
    if _is_channels_last(x):  # draw in memory order: the mask is laid out like x
        return _dropout_noise(x.permute(0, 2, 3, 1), p).permute(0, 3, 1, 2)
    n = x.numel()
    exact_byte = float(p * 256).is_integer()
    width = 1 if exact_byte else 4
    words = torch.empty((n * width + 7) // 8, dtype=torch.int64, device=x.device)
    words.random_(-(2**63), None)  # full 64-bit range: every byte uniform
    if exact_byte:
        draws, threshold = words.view(torch.uint8)[:n], int(p * 256)
    else:  # int32 is signed: shift the threshold by -2³¹ (and keep it in range)
        draws, threshold = words.view(torch.int32)[:n], min(round(p * 2**32), 2**32 - 1) - 2**31
    # The comparison writes the 0/1 keep mask straight in x's dtype (no bool tensor).
    keep = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    torch.ge(draws.view(x.shape), threshold, out=keep)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return keep.mul_(scale)


class TemporalConv(nn.Module):
    """BN → ReLU → temporal convolution → BN → dropout, over the frame axis only.

    Args:
        channels: channels ``C`` (in and out).
        kernel_size: odd temporal kernel size; padding keeps ``T`` at stride 1.
        stride: temporal stride.
        dropout: dropout probability after the last BN (distribution of
            ``nn.Dropout``, a cheaper mask draw).
    """

    def __init__(self, channels: int, kernel_size: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn_in = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(
            channels,
            channels,
            kernel_size=(kernel_size, 1),
            stride=(stride, 1),
            padding=((kernel_size - 1) // 2, 0),
        )
        self.bn_out = nn.BatchNorm2d(channels)
        self.dropout = _Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(n, C, T, V)`` to ``(n, C, ⌊(T - 1) / stride⌋ + 1, V)``."""
        y: torch.Tensor = self.dropout(self._convolve(x))
        return y

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` without the dropout (:class:`STGCNBlock` fuses it)."""
        return batch_norm(self.bn_out, self.conv(self.relu(batch_norm(self.bn_in, x))))


class _ConvResidual(nn.Module):
    """1x1 convolution (with temporal stride) + BN, for blocks that change shape."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1))
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        if contiguous_path(x):  # oneDNN reorders small-channel maps: GEMMs are ~2x faster
            return batch_norm(self.bn, pointwise_conv(x, conv.weight, conv.bias, conv.stride[0]))
        return batch_norm(self.bn, conv(x))


class STGCNBlock(nn.Module):
    """One spatial-temporal block: ``ReLU(tcn(gcn(x, A)) + residual(x))``.

    Args:
        in_channels: input channels ``C_in``.
        out_channels: output channels ``C_out``.
        num_partitions: adjacency partitions ``K``.
        kernel_size: odd temporal kernel size.
        stride: temporal stride.
        dropout: dropout probability inside the temporal unit.
        residual: add a residual branch; it is the identity when shapes match and a
            strided 1x1 convolution + BN otherwise.
    """

    residual: nn.Module | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_partitions: int,
        kernel_size: int,
        stride: int = 1,
        dropout: float = 0.0,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, num_partitions)
        self.tcn = TemporalConv(out_channels, kernel_size, stride, dropout)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = _ConvResidual(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """Map ``(n, C_in, T, V)`` and partitions ``adj`` ``(K, V, V)`` to ``(n, C_out, T', V)``."""
        y = self.tcn._convolve(self.gcn(x, adj))
        noise = self.tcn.dropout.noise(y)
        residual = None if self.residual is None else self.residual(x)
        if noise is not None:
            # Dropout and residual in one kernel: residual + y·noise.
            y = y * noise if residual is None else torch.addcmul(residual, y, noise)
        elif residual is not None:
            y = y.add_(residual)  # y is a fresh BN output that no backward needs
        return torch.relu_(y)


class STGCN(nn.Module):
    """ST-GCN skeleton encoder: ``(N, C, T, V, M)`` → ``(N, hidden_dim)``.

    Ten spatial-temporal blocks with channels ``h, h, h, h, 2h, 2h, 2h, 4h, 4h,
    hidden_dim`` (``h = hidden_channels``), temporal stride 2 at blocks 5 and 8, no
    residual in block 1, and a learnable edge-importance mask per block multiplying the
    adjacency. The input is normalised by a BatchNorm over the ``V·C`` (joint,
    coordinate) pairs; persons are folded into the batch and averaged after global
    average pooling. ``hidden_channels=16, hidden_dim=256`` is AimCLR's encoder
    (821,380 parameters on NTU); ``hidden_channels=64`` is the standard ST-GCN width.

    Shapes (``T' = ⌈T / 4⌉``; input → :meth:`features` → output):

    * ``"ntu-rgb+d"`` (V = 25): ``(N, 3, 50, 25, 2)`` → ``(2N, 256, 13, 25)`` → ``(N, 256)``
    * ``"coco-17"`` (V = 17), ``in_channels=2``: ``(N, 2, 64, 17, 1)`` →
      ``(N, 256, 16, 17)`` → ``(N, 256)``
    * ``"openpose-18"`` (V = 18): ``(N, 3, 300, 18, 2)`` → ``(2N, 256, 75, 18)`` →
      ``(N, 256)``

    Args:
        layout: skeleton layout or built-in name; fixes ``V`` and the graph.
        in_channels: coordinate channels ``C`` of the input (3 for x, y, z; 2 or 3 for
            2D keypoints with or without confidence).
        hidden_channels: width ``h`` of the first blocks.
        hidden_dim: channels ``D`` of the last block = embedding size.
        dropout: dropout probability inside blocks 2-10 (block 1 has none); the
            distribution of ``nn.Dropout``, the mask drawn from random bytes.
        edge_importance: learn one ``(K, V, V)`` mask per block (initialised to ones).
        temporal_kernel_size: odd temporal kernel size of every block.
        strategy: adjacency partition strategy, see :func:`~aimclr.graph.adjacency`.
        max_hop: neighbourhood size of the adjacency.
        memory_format: storage order of the block activations: ``"contiguous"``
            ``(n, C, T, V)``, ``"channels_last"`` (memory ``(n, T, V, C)``) or
            ``"auto"`` (see :meth:`uses_channels_last`). A speed setting only; it can
            be changed on a built encoder.

    Attributes:
        A: buffer ``(K, V, V)``, the normalised adjacency partitions.
        hidden_dim: embedding size ``D`` (also available as ``out_channels``).
        layout: the :class:`~aimclr.graph.SkeletonLayout`.

    Raises:
        AimCLRError: a non-positive width, a dropout outside ``[0, 1]``, an even or
            non-positive kernel size or an unknown ``memory_format``; see also
            :func:`~aimclr.graph.adjacency`.

    Example:
        >>> encoder = STGCN("ntu-rgb+d").eval()
        >>> x = torch.randn(4, 3, 50, 25, 2)  # (N, C, T, V, M)
        >>> encoder.features(x).shape  # (N·M, D, T', V)
        torch.Size([8, 256, 13, 25])
        >>> encoder(x).shape  # (N, D)
        torch.Size([4, 256])
        >>> STGCN("coco-17", in_channels=2)(torch.randn(2, 2, 64, 17, 1)).shape
        torch.Size([2, 256])
        >>> STGCN("openpose-18").features(torch.randn(1, 3, 30, 18, 2)).shape
        torch.Size([2, 256, 8, 18])
    """

    A: torch.Tensor

    STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)
    """Temporal stride of each block (the channel plan is tied to it)."""

    def __init__(
        self,
        layout: str | SkeletonLayout = "ntu-rgb+d",
        in_channels: int = 3,
        hidden_channels: int = 16,
        hidden_dim: int = 256,
        dropout: float = 0.5,
        edge_importance: bool = True,
        temporal_kernel_size: int = 9,
        strategy: Strategy = "spatial",
        max_hop: int = 1,
        memory_format: MemoryFormat = "auto",
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("hidden_channels", hidden_channels),
            ("hidden_dim", hidden_dim),
        ):
            if not (isinstance(value, int) and value >= 1):
                raise AimCLRError(f"{name} must be a positive integer, got {value!r}")
        check_probability(dropout, "dropout")
        if memory_format not in MEMORY_FORMATS:
            raise AimCLRError(
                f"memory_format must be one of {MEMORY_FORMATS}, got {memory_format!r}"
            )
        if not (
            isinstance(temporal_kernel_size, int)
            and temporal_kernel_size >= 1
            and temporal_kernel_size % 2 == 1
        ):
            raise AimCLRError(
                "temporal_kernel_size must be a positive odd integer (padding keeps T), "
                f"got {temporal_kernel_size!r}"
            )
        self.layout = get_layout(layout)
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.hidden_dim = hidden_dim
        self.memory_format: MemoryFormat = memory_format
        self.register_buffer("A", adjacency(self.layout, strategy, max_hop=max_hop))
        k, v = self.A.shape[0], self.layout.num_joints

        h = hidden_channels
        widths = (in_channels, h, h, h, h, 2 * h, 2 * h, 2 * h, 4 * h, 4 * h, hidden_dim)
        self.data_bn = nn.BatchNorm1d(v * in_channels)
        self.blocks = nn.ModuleList(
            STGCNBlock(
                widths[i],
                widths[i + 1],
                k,
                temporal_kernel_size,
                stride=stride,
                dropout=0.0 if i == 0 else dropout,
                residual=i > 0,
            )
            for i, stride in enumerate(self.STRIDES)
        )
        self.edge_importance: nn.ParameterList | None = (
            nn.ParameterList(nn.Parameter(torch.ones(k, v, v)) for _ in self.blocks)
            if edge_importance
            else None
        )

    @property
    def out_channels(self) -> int:
        """Embedding size ``D`` (same as :attr:`hidden_dim`)."""
        return self.hidden_dim

    def uses_channels_last(self, x: torch.Tensor) -> bool:
        """Whether the blocks run channels-last for the input ``x``.

        ``memory_format="auto"`` picks channels-last for half-precision work on the CPU
        and on CUDA (``x`` in float16/bfloat16, or autocast on for ``x``'s device):
        oneDNN's and cuDNN's half-precision convolutions and BatchNorm with few channels
        are much faster in that layout, while float32 work runs faster contiguous (on
        the CPU through the hand-written GEMM layers of ``aimclr.nn._fused``). The
        result does not depend on the choice (up to rounding).
        """
        if self.memory_format != "auto":
            return self.memory_format == "channels_last"
        if x.device.type not in ("cpu", "cuda"):
            return False
        half = (torch.float16, torch.bfloat16)
        return x.dtype in half or autocast_dtype(x.device.type) in half

    def output_frames(self, num_frames: int) -> int:
        """Frames ``T'`` of the feature map for ``num_frames`` input frames."""
        for stride in self.STRIDES:
            num_frames = (num_frames - 1) // stride + 1
        return num_frames

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`~aimclr.errors.AimCLRError` unless ``x`` fits this encoder.

        ``x`` must be a floating ``(N, C, T, V, M)`` tensor with ``C = in_channels``,
        ``V`` the layout's joint count, ``N, M >= 1`` and ``T`` at least the total
        temporal stride (4), so that every strided block sees distinct frames. Outside
        autocast it must also have the encoder's dtype and device.
        """
        check_tensor(x, "x")
        check_rank(x, "x", (_LAYOUT,))
        check_floating(x, "x")
        n, c, t, v, m = x.shape
        total_stride = 1
        for stride in self.STRIDES:
            total_stride *= stride
        expected = (
            f"x must have layout {_LAYOUT} with C = {self.in_channels}, "
            f"V = {self.layout.num_joints} (layout {self.layout.name!r})"
        )
        if c != self.in_channels or v != self.layout.num_joints:
            raise AimCLRError(f"{expected}, got {describe(x)}")
        if t < total_stride or n < 1 or m < 1:
            raise AimCLRError(
                f"{expected}, N >= 1, M >= 1 and T >= {total_stride} frames (the total "
                f"temporal stride), got {describe(x)}"
            )
        check_matches_weight(x, self.data_bn.weight, f"x {_LAYOUT}", "encoder")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Unpooled final feature map, persons folded into the batch.

        Args:
            x: skeleton sequences ``(N, C, T, V, M)``.

        Returns:
            ``(N·M, hidden_dim, T', V)``, row ``n·M + m`` is person ``m`` of sample
            ``n``; ``T' =`` :meth:`output_frames` ``(T)``.

        Raises:
            AimCLRError: see :meth:`check_input`.
        """
        self.check_input(x)
        v, m = x.shape[-2:]
        # Persons fold into the batch; BN statistics per (joint, coordinate) channel v·C + c.
        x = self.data_bn(rearrange(x, "n c t v m -> (n m) (v c) t"))
        x = rearrange(x, "(n m) (v c) t -> (n m) c t v", m=m, v=v)
        if self.uses_channels_last(x):
            x = x.contiguous(memory_format=torch.channels_last)
        for i, block in enumerate(self.blocks):
            adj = self.A if self.edge_importance is None else self.A * self.edge_importance[i]
            x = block(x, adj)
        return x

    def pool(self, feature_map: torch.Tensor, num_persons: int) -> torch.Tensor:
        """Global average over ``(T', V)``, then the mean over persons.

        Args:
            feature_map: ``(N·M, D, T', V)`` as returned by :meth:`features`.
            num_persons: ``M``.

        Returns:
            ``(N, D)``.

        Raises:
            AimCLRError: ``feature_map`` is not rank 4 or its first axis is not a
                multiple of ``num_persons``.
        """
        check_tensor(feature_map, "feature_map")
        check_rank(feature_map, "feature_map", ("(N·M, D, T, V)",))
        whole = isinstance(num_persons, (int, torch.SymInt)) and not isinstance(num_persons, bool)
        if not whole or num_persons < 1 or feature_map.shape[0] % num_persons:
            raise AimCLRError(
                f"feature_map must have layout (N·M, D, T, V) with N·M a multiple of "
                f"num_persons = {num_persons}, got {describe(feature_map)}"
            )
        pooled = spatial_mean(feature_map)
        return pooled.view(-1, num_persons, pooled.shape[1]).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed skeleton sequences.

        Args:
            x: ``(N, C, T, V, M)``.

        Returns:
            ``(N, hidden_dim)`` = ``pool(features(x), M)``.

        Raises:
            AimCLRError: see :meth:`check_input`.
        """
        return self.pool(self.features(x), x.shape[-1])


def reference_init_(module: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Re-initialise weights in place as the AimCLR reference does after building.

    Convolution and linear weights ~ N(0, 0.02), their biases 0; BatchNorm weights
    ~ N(1, 0.02), biases 0. Edge importances and buffers are left alone.

    Args:
        module: any module; all submodules are visited.
        generator: optional random generator for reproducible draws.

    Returns:
        ``module`` itself.

    Example:
        >>> encoder = reference_init_(STGCN(), torch.Generator().manual_seed(0))
        >>> float(encoder.blocks[0].gcn.conv.bias.detach().abs().max())
        0.0
    """
    check_module(module, "module")
    check_generator(generator)
    for sub in module.modules():
        if isinstance(sub, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.normal_(sub.weight, 0.0, 0.02, generator=generator)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.modules.batchnorm._BatchNorm) and sub.affine:
            nn.init.normal_(sub.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(sub.bias)
    return module


if TYPE_CHECKING:  # mypy checks that STGCN satisfies the full encoder contract
    from aimclr.nn.encoder import SkeletonEncoder

    _CONTRACT: type[SkeletonEncoder] = STGCN
