"""Functional skeleton transforms with explicit per-sample parameters.

Every function takes a batch ``x`` of shape ``(N, C, T, V, M)`` (batch, coordinates,
frames, joints, persons) with parameters that have a leading ``N`` axis, or one sample
``(C, T, V, M)`` with the same parameters without that axis. Shapes must match exactly;
nothing is broadcast silently. Outputs keep the device and dtype of ``x``; float16
and bfloat16 are computed in float32 and cast back.

These are the plain, readable definitions; the random transform classes draw the
parameters and apply them through a fused plan that gives the same values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aimclr._checks import check_int, check_tensor, describe
from aimclr.errors import AimCLRError
from aimclr.graph import SkeletonLayout, get_layout
from aimclr.transforms._base import (
    LAYOUT,
    as_batch,
    check_channels,
    check_param,
    check_skeleton,
    compute_dtype,
)

__all__ = [
    "axis_mask",
    "channel_map",
    "crop_index",
    "gaussian_blur",
    "gaussian_kernel1d",
    "gaussian_noise",
    "rotate",
    "rotation_matrix",
    "shear",
    "shear_matrix",
    "spatial_flip",
    "temporal_crop",
    "temporal_flip",
]


def _per_sample(value: object, name: str, x: torch.Tensor, single: bool, tail: tuple[int, ...],
                tail_layout: str, kind: str) -> torch.Tensor:
    """Check a per-sample parameter and return it with a leading batch axis."""
    if single:
        layout = f"({tail_layout})" if tail_layout else "()"
        return check_param(value, name, tail, layout, kind).unsqueeze(0)
    layout = f"(N, {tail_layout})" if tail_layout else "(N,)"
    return check_param(value, name, (x.shape[0], *tail), layout, kind)


def _unbatch(out: torch.Tensor, single: bool) -> torch.Tensor:
    return out[0] if single else out


def shear_matrix(factors: torch.Tensor) -> torch.Tensor:
    """Shear matrices ``[[1, a, b], [c, 1, d], [e, f, 1]]``.

    Args:
        factors: ``(..., 6)`` floating tensor holding ``(a, b, c, d, e, f)``.

    Returns:
        ``(..., 3, 3)`` matrices acting on column vectors ``(x, y, z)``.

    Example:
        >>> shear_matrix(torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
        tensor([[1.0000, 0.1000, 0.2000],
                [0.3000, 1.0000, 0.4000],
                [0.5000, 0.6000, 1.0000]])
    """
    if not isinstance(factors, torch.Tensor) or factors.dim() < 1 or factors.shape[-1] != 6:
        got = describe(factors) if isinstance(factors, torch.Tensor) else type(factors).__name__
        raise AimCLRError(f"factors must have shape (..., 6) = (a, b, c, d, e, f), got {got}")
    a, b, c, d, e, f = factors.unbind(-1)
    one = torch.ones_like(a)
    out = torch.stack([one, a, b, c, one, d, e, f, one], dim=-1)
    return out.reshape(*out.shape[:-1], 3, 3)


def rotation_matrix(angles: torch.Tensor) -> torch.Tensor:
    """Rotation about x, then y, then z: ``R = Rz · Ry · Rx`` (column vectors).

    With ``c = cos``, ``s = sin`` of each axis' angle, ``Rx = [[1,0,0],[0,c,s],[0,-s,c]]``,
    ``Ry = [[c,0,-s],[0,1,0],[s,0,c]]`` and ``Rz = [[c,s,0],[-s,c,0],[0,0,1]]``, the
    matrices of the reference implementation; rotating by x first means ``Rx`` acts
    first, so it is the right-most factor.

    Args:
        angles: ``(..., 3)`` angles in radians about the x, y and z axes.

    Returns:
        ``(..., 3, 3)`` rotation matrices.

    Example:
        >>> import math
        >>> r = rotation_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
        >>> torch.allclose(r @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, -1.0, 0.0]),
        ...                atol=1e-6)  # x turns towards -y: Rz maps (1, 0, 0) to (c, -s, 0)
        True
    """
    if not isinstance(angles, torch.Tensor) or angles.dim() < 1 or angles.shape[-1] != 3:
        got = describe(angles) if isinstance(angles, torch.Tensor) else type(angles).__name__
        raise AimCLRError(f"angles must have shape (..., 3) = (x, y, z) radians, got {got}")
    cos, sin = angles.cos().unbind(-1), angles.sin().unbind(-1)
    one, zero = torch.ones_like(angles[..., 0]), torch.zeros_like(angles[..., 0])

    def mat(*rows: torch.Tensor) -> torch.Tensor:
        out = torch.stack(rows, dim=-1)
        return out.reshape(*out.shape[:-1], 3, 3)

    rx = mat(one, zero, zero, zero, cos[0], sin[0], zero, -sin[0], cos[0])
    ry = mat(cos[1], zero, -sin[1], zero, one, zero, sin[1], zero, cos[1])
    rz = mat(cos[2], sin[2], zero, -sin[2], cos[2], zero, zero, zero, one)
    return rz @ ry @ rx


def channel_map(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply a per-sample ``C × C`` matrix to the coordinates of every frame/joint/person.

    ``out[n, :, t, v, m] = matrix[n] @ x[n, :, t, v, m]``.

    Args:
        x: ``(N, C, T, V, M)`` or ``(C, T, V, M)``.
        matrix: ``(N, C, C)`` (or ``(C, C)`` for one sample), any floating dtype.

    Returns:
        Tensor of the shape, device and dtype of ``x``.
    """
    x = check_skeleton(x)
    xb, single = as_batch(x)
    c = xb.shape[1]
    m = _per_sample(matrix, "matrix", xb, single, (c, c), "C, C", "floating")
    dtype = compute_dtype(x.dtype)
    out = torch.einsum("nij,njtvm->nitvm", m.to(x.device, dtype), xb.to(dtype))
    return _unbatch(out.to(x.dtype), single)


def shear(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Shear: new xyz = ``matrix[n]`` · old xyz, for every frame, joint and person.

    Args:
        x: ``(N, 3, T, V, M)`` or ``(3, T, V, M)``.
        matrix: ``(N, 3, 3)`` (or ``(3, 3)``), e.g. from :func:`shear_matrix`.

    Returns:
        The sheared tensor, of the shape, device and dtype of ``x``:
        ``(N, 3, T, V, M)`` or ``(3, T, V, M)``. Zeros stay zero.

    Raises:
        AimCLRError: bad layout, ``C != 3`` or a matrix of the wrong shape.

    Example:
        >>> x = torch.zeros(3, 1, 1, 1)
        >>> x[0] = 1.0  # the point (1, 0, 0)
        >>> m = shear_matrix(torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
        >>> shear(x, m).flatten()
        tensor([1.0000, 0.3000, 0.5000])
    """
    x = check_skeleton(x)
    check_channels(x, 3, "shear")
    return channel_map(x, matrix)


def rotate(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Rotate every frame/joint/person: new xyz = ``matrix[n]`` · old xyz.

    Args:
        x: ``(N, 3, T, V, M)`` or ``(3, T, V, M)``.
        matrix: ``(N, 3, 3)`` (or ``(3, 3)``), e.g. from :func:`rotation_matrix`.

    Returns:
        The rotated tensor, of the shape, device and dtype of ``x``:
        ``(N, 3, T, V, M)`` or ``(3, T, V, M)``.

    Raises:
        AimCLRError: bad layout, ``C != 3`` or a matrix of the wrong shape.
    """
    x = check_skeleton(x)
    check_channels(x, 3, "rotate")
    return channel_map(x, matrix)


def crop_index(start: torch.Tensor, pad: int, num_frames: int) -> torch.Tensor:
    """Source frame of each output frame of :func:`temporal_crop`.

    The sequence is mirrored by ``pad`` frames at each end, edge frame included
    (frames ``pad-1 … 0`` before, ``T-1 … T-pad`` after), and ``T`` consecutive
    frames starting at ``start`` are kept.

    Args:
        start: ``(N,)`` integer offsets in ``[0, 2 * pad]``.
        pad: frames mirrored at each end, ``0 <= pad <= num_frames``.
        num_frames: ``T``.

    Returns:
        ``(N, T)`` int64 frame indices into the original sequence.

    Raises:
        AimCLRError: ``start`` is not an integer ``(N,)`` tensor with values in
            ``[0, 2 * pad]``, ``num_frames < 1``, or ``pad`` outside ``[0, num_frames]``.

    Example:
        >>> crop_index(torch.tensor([0, 4]), pad=2, num_frames=4)
        tensor([[1, 0, 0, 1],
                [2, 3, 3, 2]])
    """
    num_frames = check_int(num_frames, "num_frames", 1, meaning="frames T")
    pad = check_int(pad, "pad", 0, num_frames, meaning="frames mirrored at each end")
    start = check_tensor(start, "start")
    if start.dim() != 1:
        raise AimCLRError(f"start must have layout (N,), got {describe(start)}")
    check_param(start, "start", tuple(start.shape), "(N,)", "integer")
    if bool(((start < 0) | (start > 2 * pad)).any()):
        raise AimCLRError(
            f"start must lie in [0, 2 * pad] = [0, {2 * pad}], got {start.tolist()[:10]}"
        )
    return _crop_index(start, pad, num_frames)


def _crop_index(start: torch.Tensor, pad: int, num_frames: int) -> torch.Tensor:
    """:func:`crop_index` without checks (for callers that validated its arguments)."""
    pos = start.to(torch.int64).unsqueeze(-1) + torch.arange(num_frames, device=start.device)
    pos = pos - pad
    return torch.where(pos < 0, -pos - 1, torch.where(pos >= num_frames, 2 * num_frames - 1 - pos,
                                                        pos))


def check_pad(pad: object, num_frames: int, shape_of: torch.Tensor) -> int:
    """Raise unless ``pad`` is an int in ``[0, T]`` (mirroring needs that many frames)."""
    pad = check_int(pad, "pad", 0)
    if pad > num_frames:
        raise AimCLRError(
            f"temporal crop pads {pad} frames at each end by mirroring, which needs at least "
            f"{pad} frames: x must have layout {LAYOUT} with T >= {pad}, got {describe(shape_of)}"
        )
    return pad


def temporal_crop(x: torch.Tensor, start: torch.Tensor, pad: int) -> torch.Tensor:
    """Mirror-pad ``pad`` frames at each end, then keep ``T`` frames from ``start``.

    This is the reference "crop": a random temporal shift with mirrored borders and
    no resizing (see :func:`crop_index`).

    Args:
        x: ``(N, C, T, V, M)`` or ``(C, T, V, M)``.
        start: ``(N,)`` (or 0-d) integer offsets in ``[0, 2 * pad]``.
        pad: frames mirrored at each end; the reference uses ``T // 6``.

    Returns:
        Tensor of the shape of ``x``.

    Raises:
        AimCLRError: bad layout, ``pad > T``, or ``start`` of the wrong shape or range.

    Example:
        >>> x = torch.arange(4.0).reshape(1, 4, 1, 1)  # frames 0, 1, 2, 3
        >>> temporal_crop(x, torch.tensor(0), pad=2).flatten()
        tensor([1., 0., 0., 1.])
    """
    x = check_skeleton(x)
    xb, single = as_batch(x)
    pad = check_pad(pad, xb.shape[2], x)
    s = _per_sample(start, "start", xb, single, (), "", "integer")
    if bool(((s < 0) | (s > 2 * pad)).any()):
        raise AimCLRError(f"start must lie in [0, 2 * pad] = [0, {2 * pad}], got {s.tolist()}")
    index = _crop_index(s.to(x.device), pad, xb.shape[2])
    out = xb[torch.arange(xb.shape[0], device=x.device).unsqueeze(1), :, index]
    return _unbatch(out.permute(0, 2, 1, 3, 4).contiguous(), single)


def temporal_flip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Reverse the frames of the samples where ``flip`` is True.

    Args:
        x: ``(N, C, T, V, M)`` or ``(C, T, V, M)``.
        flip: ``(N,)`` (or 0-d) bool.

    Returns:
        Tensor of the shape of ``x``.

    Example:
        >>> x = torch.arange(3.0).reshape(1, 3, 1, 1)
        >>> temporal_flip(x, torch.tensor(True)).flatten()
        tensor([2., 1., 0.])
    """
    x = check_skeleton(x)
    xb, single = as_batch(x)
    f = _per_sample(flip, "flip", xb, single, (), "", "bool").to(x.device)
    out = torch.where(f.view(-1, 1, 1, 1, 1), xb.flip(2), xb)
    return _unbatch(out, single)


def spatial_flip(
    x: torch.Tensor,
    flip: torch.Tensor,
    layout: str | SkeletonLayout = "ntu-rgb+d",
    mirror: int | None = None,
) -> torch.Tensor:
    """Swap the left/right joints of ``layout`` in the samples where ``flip`` is True.

    The reference only re-indexes joints. Set ``mirror`` to a coordinate channel
    (e.g. 0 for x) to also negate it, which makes the flip a true reflection.

    Args:
        x: ``(N, C, T, V, M)`` or ``(C, T, V, M)`` with ``V = layout.num_joints``.
        flip: ``(N,)`` (or 0-d) bool.
        layout: skeleton whose ``flip_pairs`` are swapped.
        mirror: channel to negate in flipped samples, or None.

    Returns:
        Tensor of the shape of ``x``.

    Example:
        >>> from aimclr.graph import SkeletonLayout
        >>> pair = SkeletonLayout.from_edges("pair", 2, [(0, 1)], center=0, flip_pairs=[(0, 1)])
        >>> x = torch.tensor([1.0, 2.0]).reshape(1, 1, 2, 1)
        >>> spatial_flip(x, torch.tensor(True), pair).flatten()
        tensor([2., 1.])
    """
    x = check_skeleton(x)
    lay = get_layout(layout)
    xb, single = as_batch(x)
    check_joints(x, lay)
    c = xb.shape[1]
    check_mirror(mirror, c)
    f = _per_sample(flip, "flip", xb, single, (), "", "bool").to(x.device)
    perm = torch.tensor(lay.flip_index(), device=x.device)
    flipped = xb.index_select(3, perm)
    if mirror is not None:
        flipped[:, mirror] = -flipped[:, mirror]
    out = torch.where(f.view(-1, 1, 1, 1, 1), flipped, xb)
    return _unbatch(out, single)


def check_joints(x: torch.Tensor, layout: SkeletonLayout) -> None:
    """Raise unless ``V`` of ``x`` (either layout) equals the layout's joint count."""
    if x.shape[-2] != layout.num_joints:
        raise AimCLRError(
            f"spatial flip with layout {layout.name!r}: x must have layout {LAYOUT} with "
            f"V = {layout.num_joints} joints, got {describe(x)}"
        )


def check_mirror(mirror: int | None, channels: int) -> None:
    """Raise unless ``mirror`` is None or a channel index in ``[0, C)``."""
    if mirror is None:
        return
    check_int(mirror, "mirror", 0, channels - 1, meaning="a coordinate channel, or None")


def axis_mask(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Set the coordinate channels where ``mask`` is True to zero.

    Args:
        x: ``(N, C, T, V, M)`` or ``(C, T, V, M)``; any ``C``.
        mask: ``(N, C)`` (or ``(C,)``) bool; True zeroes that channel of that sample
            for all frames, joints and persons.

    Returns:
        Tensor of the shape of ``x``.

    Example:
        >>> x = torch.ones(3, 2, 1, 1)
        >>> axis_mask(x, torch.tensor([False, True, False]))[:, 0, 0, 0]
        tensor([1., 0., 1.])
    """
    x = check_skeleton(x)
    xb, single = as_batch(x)
    m = _per_sample(mask, "mask", xb, single, (xb.shape[1],), "C", "bool").to(x.device)
    out = torch.where(m[:, :, None, None, None], torch.zeros((), dtype=x.dtype,
                                                               device=x.device), xb)
    return _unbatch(out, single)


def gaussian_noise(
    x: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Add ``noise`` to the samples where ``mask`` is True (all samples when None).

    Args:
        x: ``(N, C, T, V, M)`` or ``(C, T, V, M)``.
        noise: tensor of the shape of ``x`` (already scaled, e.g. ``0.01 * randn``).
        mask: ``(N,)`` (or 0-d) bool, or None.

    Returns:
        Tensor of the shape of ``x``; noise reaches every element of the selected
        samples, including an all-zero absent person, as in the reference.

    Example:
        >>> x = torch.zeros(2, 1, 1, 1, 1)
        >>> gaussian_noise(x, torch.ones(2, 1, 1, 1, 1), torch.tensor([True, False])).flatten()
        tensor([1., 0.])
    """
    x = check_skeleton(x)
    xb, single = as_batch(x)
    n = check_param(noise, "noise", tuple(x.shape), "like x", "floating").to(x.device)
    dtype = compute_dtype(x.dtype)
    out = xb.to(dtype) + (n.unsqueeze(0) if single else n).to(dtype)
    if mask is not None:
        m = _per_sample(mask, "mask", xb, single, (), "", "bool").to(x.device)
        out = torch.where(m.view(-1, 1, 1, 1, 1), out, xb.to(dtype))
    return _unbatch(out.to(x.dtype), single)


def check_kernel_size(kernel_size: object) -> int:
    """Raise unless ``kernel_size`` is a positive odd int (the kernel is centred)."""
    size = check_int(kernel_size, "kernel_size", meaning="odd: the kernel is centred")
    if size % 2 == 0:
        raise AimCLRError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
    return size


def gaussian_kernel1d(
    sigma: torch.Tensor, kernel_size: int = 15, normalize: bool = True
) -> torch.Tensor:
    """Gaussian kernels ``w_k = exp(-k² / (2σ²))`` for ``k = -(K-1)/2 … (K-1)/2``.

    Args:
        sigma: ``(...)`` positive standard deviations (in frames).
        kernel_size: odd kernel length ``K``; the reference uses 15.
        normalize: divide by the sum so each kernel sums to 1. The reference does
            not, which also scales the sequence by ``Σ w`` (1 to 5 for σ in [0.1, 2]).

    Returns:
        ``(..., K)`` kernels in the dtype of ``sigma``.

    Example:
        >>> gaussian_kernel1d(torch.tensor(1.0), kernel_size=3, normalize=False)
        tensor([0.6065, 1.0000, 0.6065])
    """
    if not isinstance(sigma, torch.Tensor) or not sigma.is_floating_point():
        got = describe(sigma) if isinstance(sigma, torch.Tensor) else type(sigma).__name__
        raise AimCLRError(f"sigma must be a floating tensor, got {got}")
    if bool((sigma <= 0).any()) or not bool(torch.isfinite(sigma).all()):
        raise AimCLRError(f"sigma must be positive and finite, got {sigma.tolist()}")
    return _gaussian_kernels(sigma, check_kernel_size(kernel_size), normalize)


def _gaussian_kernels(sigma: torch.Tensor, kernel_size: int, normalize: bool) -> torch.Tensor:
    """:func:`gaussian_kernel1d` for arguments already checked (no validation)."""
    half = kernel_size // 2
    k = torch.arange(-half, half + 1, device=sigma.device, dtype=sigma.dtype)
    w = torch.exp((k**2) / (-2 * sigma.unsqueeze(-1) ** 2))
    return w / w.sum(-1, keepdim=True) if normalize else w


_TOEPLITZ_MAX_FRAMES = 128


def _band(kernel: torch.Tensor, t: int) -> torch.Tensor:
    """Banded ``(K, T, T)`` matrices ``band[t, s] = kernel[s - t + L // 2]`` (0 off the band).

    Sliding a ``T``-window over the kernel zero-padded by ``T - 1`` gives row ``i`` =
    ``band[half + T - 1 - i]``, so the band is those windows in reverse row order.
    """
    half = kernel.shape[-1] // 2
    windows = F.pad(kernel, (t - 1, t - 1)).unfold(-1, t, 1)
    return windows[:, half:half + t].flip(-2)


def blur_frames(xb: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve ``xb (K, C, T, V, M)`` along time with ``kernel (K, L)``, zero padded.

    Short sequences use one batched matrix product with each sample's banded
    ``T × T`` (Toeplitz) kernel matrix, which acts on the time axis in place (no
    transposes) and beats a depth-wise convolution for ``T`` up to about 128; longer
    ones use a depth-wise 2-D convolution over the ``(T, V·M)`` planes. Runs in
    ``kernel``'s dtype.
    """
    k, c, t, v, m = xb.shape
    if k == 0 or t == 0:
        return xb.clone()
    length = kernel.shape[-1]
    half = length // 2
    # Weights below √tiny (tiny σ) would make subnormal products, which slow the matrix
    # product several-fold on x86; they change nothing above the rounding of the result.
    kernel = kernel.masked_fill(kernel.abs() < torch.finfo(kernel.dtype).tiny ** 0.5, 0.0)
    if t <= _TOEPLITZ_MAX_FRAMES:
        band = _band(kernel, t).unsqueeze(1).expand(k, c, t, t).reshape(k * c, t, t)
        return torch.bmm(band, xb.reshape(k * c, t, v * m)).view(k, c, t, v, m)
    weight = kernel.repeat_interleave(c, dim=0).view(k * c, 1, length, 1)
    out = F.conv2d(xb.reshape(1, k * c, t, v * m), weight, padding=(half, 0), groups=k * c)
    return out.view(k, c, t, v, m)


def gaussian_blur(
    x: torch.Tensor,
    sigma: torch.Tensor,
    kernel_size: int = 15,
    normalize: bool = True,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Blur along time with a per-sample Gaussian kernel, zero padding at both ends.

    ``out[n, c, t, v, m] = Σ_k w_n[k] · x[n, c, t + k, v, m]`` with ``w_n`` from
    :func:`gaussian_kernel1d` and frames outside ``[0, T)`` counted as zero; every
    channel, joint and person is filtered independently with the same kernel.

    Args:
        x: ``(N, C, T, V, M)`` or ``(C, T, V, M)``.
        sigma: ``(N,)`` (or 0-d) positive standard deviations in frames.
        kernel_size: odd kernel length; the reference uses 15.
        normalize: kernels sum to 1 (default); False reproduces the reference.
        mask: ``(N,)`` (or 0-d) bool selecting the samples to blur, or None for all.

    Returns:
        Tensor of the shape of ``x``.

    Example:
        >>> x = torch.ones(1, 3, 1, 1)
        >>> gaussian_blur(x, torch.tensor(1.0), kernel_size=3).flatten()
        tensor([0.7259, 1.0000, 0.7259])
    """
    x = check_skeleton(x)
    xb, single = as_batch(x)
    s = _per_sample(sigma, "sigma", xb, single, (), "", "floating")
    dtype = compute_dtype(x.dtype)
    kernel = gaussian_kernel1d(s.to(x.device, torch.float64), kernel_size, normalize).to(dtype)
    out = blur_frames(xb.to(dtype), kernel)
    if mask is not None:
        m = _per_sample(mask, "mask", xb, single, (), "", "bool").to(x.device)
        out = torch.where(m.view(-1, 1, 1, 1, 1), out, xb.to(dtype))
    return _unbatch(out.to(x.dtype), single)


