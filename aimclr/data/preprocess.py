"""The reference preprocessing of skeleton sequences (spec §1.2).

The AimCLR data (NTU RGB+D, PKU-MMD) is prepared in this order, per sample:

1. :func:`center_on_joint` — subtract each person's spine-shoulder joint (index 20)
   in every frame;
2. :func:`resize_sequence` — resample the valid frames to a fixed length
   (50) with linear interpolation;
3. :func:`align_yaw` — rotate every frame about the vertical axis so the shoulders
   lie along x.

:func:`preprocess_sample` runs the chain on one ``(C, T, V, M)`` sample. All
functions take numpy arrays (or anything :func:`numpy.asarray` accepts, such as a
CPU tensor) and return ``float32`` arrays: this is data preparation that runs once,
before training.

Arithmetic: by default (``arithmetic="float64"``) every step computes in float64 and
rounds once at the end, the most accurate choice. ``arithmetic="reference"``
reproduces the official scripts' arrays bit for bit instead: their float32 steps
(OpenCV's float32 ``INTER_LINEAR`` for the resampling, reproduced by
``aimclr.data._opencv_resize``, and numpy's float32 functions for the yaw angles; the
centring is the same in both).
:mod:`aimclr.data.prepare` uses it for ``{part}_position.npy`` and
``{part}_motion.npy``. The two differ by float32 rounding, which the yaw angle's
``arccos`` magnifies when the shoulder line lies close to x (on generated NTU files
at most 4.2e-6 of a sample's largest coordinate).

Axes: ``N`` samples, ``C`` coordinates (x, y, z), ``T`` frames, ``V`` joints,
``M`` persons. Coordinates are y-up (Kinect camera space, or the y-up world of
the ``.npz`` files), so yaw is a rotation about y.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from aimclr.data._opencv_resize import opencv_linear_resize
from aimclr.data._validate import as_float_array, check_index, check_positive_int, describe_array
from aimclr.errors import AimCLRError

__all__ = [
    "Arithmetic",
    "align_yaw",
    "center_on_joint",
    "pad_persons",
    "preprocess_sample",
    "resize_sequence",
    "sequence_to_ctvm",
    "valid_length",
]

_SAMPLE_LAYOUTS = ("(C, T, V, M)", "(N, C, T, V, M)")

Arithmetic = Literal["float64", "reference"]
"""How the preprocessing computes: ``"float64"`` (default, most accurate) or
``"reference"`` (the official scripts' float32 steps, bit for bit)."""


def _check_arithmetic(arithmetic: object) -> None:
    if arithmetic not in ("float64", "reference"):
        raise AimCLRError(f"arithmetic must be 'float64' or 'reference', got {arithmetic!r}")


def resize_sequence(
    x: object,
    num_frames: int,
    length: int | None = None,
    axis: int = -3,
    arithmetic: Arithmetic = "float64",
) -> np.ndarray:
    """Resample the first ``length`` frames to ``num_frames`` frames.

    Linear interpolation with half-pixel centres, what the reference gets from
    OpenCV ``INTER_LINEAR``: output frame ``i`` reads source position
    ``src = (i + 0.5) * length / num_frames - 0.5``, clamped to
    ``[0, length - 1]``. There is no anti-aliasing when downsampling.

    With ``arithmetic="reference"`` ``x`` is rounded to float32 (the reference's
    arrays are float32) and resampled with OpenCV's float32 arithmetic, bit for bit
    as ``cv2.resize`` in the opencv-python wheels for x86-64 on CPUs with AVX2 (Intel
    IPP inside): the weight ``w`` rounded to float32, ``b - a`` rounded to float32,
    then ``a + w * (b - a)`` rounded once; a single valid frame is returned as
    ``a * (1 - f) + a * f`` in float32 as OpenCV's own code does. Measured equal for
    opencv-python-headless 4.10, 4.12, 4.14 and 5.0, every ``length`` in 1..300 and
    ``num_frames = 50``. Known exceptions, all in OpenCV itself: CPUs without AVX2
    (IPP rounds the product separately) and builds without IPP (ARM, macOS arm64)
    round differently; OpenCV 4.10 (IPP 2021) places a few positions that are
    integers in exact arithmetic one float64 step lower, which shows for
    ``length = 2`` (one frame per 25 reads ``1e-17`` times the next frame) and for
    other ``num_frames`` such as 150; and the sign of a zero result may differ when
    ``x`` holds negative zeros.

    Args:
        x: frames on ``axis``; the default ``-3`` is the frame axis of a sample
            ``(C, T, V, M)``, a batch ``(N, C, T, V, M)`` and a ragged sequence
            ``(T, V, C)``.
        num_frames: output length ``T_out >= 1``.
        length: number of valid frames at the start of ``x`` (the rest is
            padding and ignored); ``None`` means all frames.
        axis: the frame axis.
        arithmetic: ``"float64"`` (default) or ``"reference"`` (OpenCV's float32
            arithmetic, see above).

    Returns:
        ``float32`` array shaped like ``x`` with ``num_frames`` frames on ``axis``.

    Raises:
        AimCLRError: non-floating ``x``, bad ``axis``, ``num_frames < 1``,
            ``length`` outside ``[1, T]`` or an unknown ``arithmetic``.

    Example:
        >>> resize_sequence(np.array([0.0, 1.0]), 4, axis=0).tolist()
        [0.0, 0.25, 0.75, 1.0]
    """
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise AimCLRError(f"x must hold floating point values, got {describe_array(arr)}")
    if not -arr.ndim <= axis < arr.ndim:
        raise AimCLRError(f"axis {axis} is out of range for x with {describe_array(arr)}")
    check_positive_int(num_frames, "num_frames")
    _check_arithmetic(arithmetic)
    total = arr.shape[axis]
    length = total if length is None else length
    if isinstance(length, bool) or not 1 <= length <= total:
        raise AimCLRError(
            f"length must be a frame count in [1, {total}] (x has {total} frames on axis "
            f"{axis}), got {length!r}"
        )
    if arithmetic == "reference":
        return opencv_linear_resize(arr.astype(np.float32, copy=False), num_frames, length, axis)
    src = (np.arange(num_frames, dtype=np.float64) + 0.5) * (length / num_frames) - 0.5
    src = np.clip(src, 0.0, length - 1)
    lower = np.floor(src).astype(np.int64)
    upper = np.minimum(lower + 1, length - 1)
    weight_shape = [1] * arr.ndim
    weight_shape[axis] = num_frames
    weight = (src - lower).reshape(weight_shape)
    low = np.take(arr, lower, axis=axis).astype(np.float64)
    high = np.take(arr, upper, axis=axis).astype(np.float64)
    return (low + (high - low) * weight).astype(np.float32)


def center_on_joint(x: object, joint: int = 20) -> np.ndarray:
    """Subtract one joint of each person in each frame (reference 'relative' mode).

    Removes the global trajectory and the distance between persons; ``joint``
    becomes identically zero. Frames where a person is absent (all zeros) stay zero.

    Args:
        x: ``(C, T, V, M)`` sample or ``(N, C, T, V, M)`` batch.
        joint: the centre joint, 0-based; 20 is NTU spine-shoulder (joint 21).

    Returns:
        ``float32`` array of the same shape. For float32 ``x`` it is bit for bit the
        reference's float32 subtraction: one subtraction in float64 rounded to
        float32 is the correctly rounded float32 difference.

    Raises:
        AimCLRError: wrong rank, non-floating dtype or ``joint`` out of range.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(3, 4, 25, 2))
        >>> bool(np.all(center_on_joint(x)[:, :, 20] == 0))
        True
    """
    arr = as_float_array(x, "x", _SAMPLE_LAYOUTS)
    check_index(joint, "joint", arr.shape[-2], "joint (V)")
    # float32 minus float32 is the same rounded in float32 or in float64 (53 >= 2*24+2
    # bits), so float32 input is subtracted as it is.
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    out: np.ndarray = (arr - arr[..., joint : joint + 1, :]).astype(np.float32)
    return out


def align_yaw(
    x: object, left: int = 4, right: int = 8, arithmetic: Arithmetic = "float64"
) -> np.ndarray:
    """Rotate every frame about y so the shoulder line points along x (reference).

    For each person separately: ``v = x[right] - x[left]`` per frame with its y
    component set to 0, ``theta_t = arccos(v_x / (|v| + 1e-4))``; one sign for
    the whole sequence: if ``sum_t v_z >= 0`` every ``theta_t`` is negated. Each
    frame is then multiplied by ``R_y(theta_t) = [[cos, 0, -sin], [0, 1, 0],
    [sin, 0, cos]]`` (acting on column vectors xyz). Frames whose ``v_z`` has the
    other sign than the sequence's majority are rotated the wrong way, as in the
    reference. Absent persons (zeros) stay zero.

    This removes body yaw per frame, turning during the action included; apply it
    after :func:`center_on_joint` so the rotation is about the centre joint.

    With ``arithmetic="reference"`` the angles are computed as the reference does:
    ``x`` rounded to float32, ``v``, ``|v|``, ``arccos``, the degree conversions,
    ``cos`` and ``sin`` with numpy's float32 functions and the sign from numpy's
    float32 sum over the frames; the rotation itself in float64 (exact products of
    float32 values, one rounding per sum), then rounded to float32, with zeros
    positive as the reference's matrix product leaves them.

    Args:
        x: ``(C, T, V, M)`` sample or ``(N, C, T, V, M)`` batch with ``C = 3``
            coordinates x, y (up), z.
        left: left shoulder index (NTU 4 = joint 5).
        right: right shoulder index (NTU 8 = joint 9).
        arithmetic: ``"float64"`` (default) or ``"reference"`` (see above).

    Returns:
        ``float32`` array of the same shape.

    Raises:
        AimCLRError: wrong rank, ``C != 3``, non-floating dtype, a bad joint index or
            an unknown ``arithmetic``.

    Example:
        >>> x = np.zeros((3, 1, 25, 1))
        >>> x[[0, 2], 0, 8, 0] = 1.0  # right shoulder at 45 degrees in the xz plane
        >>> (np.round(align_yaw(x)[:, 0, 8, 0].astype(float), 3) + 0.0).tolist()  # -0.0 -> 0.0
        [1.414, 0.0, 0.0]
    """
    arr = as_float_array(x, "x", _SAMPLE_LAYOUTS)
    if arr.shape[-4] != 3:
        raise AimCLRError(
            "x must have layout (C, T, V, M) or (N, C, T, V, M) with C = 3 coordinates "
            f"(x, y, z), got {describe_array(arr)}"
        )
    num_joints = arr.shape[-2]
    check_index(left, "left", num_joints, "joint (V)")
    check_index(right, "right", num_joints, "joint (V)")
    _check_arithmetic(arithmetic)
    if arithmetic == "reference":
        return _align_yaw_float32(arr.astype(np.float32), left, right)
    arr = arr.astype(np.float64)
    v = arr[..., right, :] - arr[..., left, :]  # (..., C, T, M)
    vx, vz = v[..., 0, :, :], v[..., 2, :, :]  # (..., T, M)
    theta = np.arccos(vx / (np.sqrt(vx**2 + vz**2) + 1e-4))
    # One sign per person and sequence, from the summed z component.
    sign = np.where(vz.sum(axis=-2, keepdims=True) >= 0, -1.0, 1.0)
    theta = theta * sign
    cos = np.cos(theta)[..., None, :]  # (..., T, 1, M) broadcasts over joints
    sin = np.sin(theta)[..., None, :]
    px, py, pz = arr[..., 0, :, :, :], arr[..., 1, :, :, :], arr[..., 2, :, :, :]
    out = np.stack([cos * px - sin * pz, py, sin * px + cos * pz], axis=-4)
    return out.astype(np.float32)


def _align_yaw_float32(arr: np.ndarray, left: int, right: int) -> np.ndarray:
    """:func:`align_yaw` in the reference's arithmetic on float32 ``(..., C, T, V, M)``."""
    v = arr[..., right, :] - arr[..., left, :]  # (..., C, T, M) float32
    vx, vz = v[..., 0, :, :], v[..., 2, :, :]  # (..., T, M)
    norm = np.sqrt(vx * vx + vz * vz)  # the y component is 0 in the reference's sum
    # numpy's float32 ufuncs as the reference calls them (contiguous arrays: the same
    # vectorised loops as on its 1-D arrays).
    cosine = np.ascontiguousarray(vx / (norm + np.float32(1e-4)))
    degrees = np.arccos(cosine) * np.float32(180 / np.pi)
    # The sign: numpy's float32 sum of each person's v_z over the frames, a
    # reduction over the last axis of a contiguous (..., M, T) array as in the reference.
    vz_sum = np.add.reduce(np.ascontiguousarray(np.swapaxes(vz, -1, -2)), axis=-1)
    degrees = np.where(np.expand_dims(vz_sum >= 0, -2), -degrees, degrees)
    radians = np.ascontiguousarray(degrees * np.float32(np.pi) / np.float32(180))
    cos = np.cos(radians).astype(np.float64)[..., None, :]  # (..., T, 1, M)
    sin = np.sin(radians).astype(np.float64)[..., None, :]
    px, pz = arr[..., 0, :, :, :].astype(np.float64), arr[..., 2, :, :, :].astype(np.float64)
    # "+ 0.0" turns -0 into +0, as the reference's matrix product (summing from +0) does.
    out = np.stack(
        [(cos * px - sin * pz) + 0.0, arr[..., 1, :, :, :] + np.float32(0.0),
         (sin * px + cos * pz) + 0.0],
        axis=-4,
    )
    return out.astype(np.float32)


def valid_length(x: object, joint: int = 0, person: int = 0) -> int:
    """Number of frames in which ``joint`` of ``person`` is not all zeros (reference).

    The reference treats frames ``0 .. length - 1`` as the valid ones, so this is a
    count, not a mask: zero-padded NTU arrays (300 frames) are trimmed with it.

    Args:
        x: ``(C, T, V, M)`` sample.
        joint: joint index tested (the reference tests index 0, NTU joint 1,
            spine-base: ``get_length`` in ``feeder/NTUDatasets.py``).
        person: person index tested.

    Returns:
        The count in ``[0, T]``.

    Raises:
        AimCLRError: wrong rank, non-floating dtype or index out of range.

    Example:
        >>> x = np.zeros((3, 300, 25, 2))
        >>> x[:, :37] = 1.0
        >>> valid_length(x)
        37
    """
    arr = as_float_array(x, "x", ("(C, T, V, M)",))
    check_index(joint, "joint", arr.shape[2], "joint (V)")
    check_index(person, "person", arr.shape[3], "person (M)")
    return int(np.any(arr[:, :, joint, person] != 0, axis=0).sum())


def pad_persons(x: object, num_persons: int) -> np.ndarray:
    """Zero-pad the person axis of ``(C, T, V, M)`` to ``num_persons``.

    Args:
        x: ``(C, T, V, M)`` sample with ``M <= num_persons``.
        num_persons: the output ``M``.

    Returns:
        ``float32`` array ``(C, T, V, num_persons)``; the added persons are zeros.

    Raises:
        AimCLRError: wrong rank, non-floating dtype or ``M > num_persons``.
    """
    arr = as_float_array(x, "x", ("(C, T, V, M)",))
    check_positive_int(num_persons, "num_persons")
    if arr.shape[3] > num_persons:
        raise AimCLRError(
            f"x has M = {arr.shape[3]} persons, more than num_persons = {num_persons}; "
            f"select the persons to keep first (layout (C, T, V, M), got {describe_array(arr)})"
        )
    out = np.zeros((*arr.shape[:3], num_persons), dtype=np.float32)
    out[..., : arr.shape[3]] = arr
    return out


def sequence_to_ctvm(x: object, num_persons: int = 1) -> np.ndarray:
    """Convert a ``(T, V, C)`` or ``(T, M, V, C)`` sequence to ``(C, T, V, num_persons)``.

    Args:
        x: one person ``(T, V, C)`` or several ``(T, M, V, C)`` (the layout of the
            ``.npz`` files and of most pose estimators).
        num_persons: the output ``M``; missing persons are zeros.

    Returns:
        ``float32`` array ``(C, T, V, num_persons)``.

    Raises:
        AimCLRError: wrong rank, non-floating dtype or more persons than ``num_persons``.

    Example:
        >>> sequence_to_ctvm(np.zeros((10, 25, 3)), num_persons=2).shape
        (3, 10, 25, 2)
    """
    arr = as_float_array(x, "x", ("(T, V, C)", "(T, M, V, C)"))
    if arr.ndim == 3:
        arr = arr[:, None]
    return pad_persons(arr.transpose(3, 0, 2, 1), num_persons)


def preprocess_sample(
    x: object,
    num_frames: int = 50,
    length: int | None = None,
    center_joint: int | None = 20,
    align: bool = True,
    left: int = 4,
    right: int = 8,
    arithmetic: Arithmetic = "float64",
) -> np.ndarray:
    """Run the reference chain on one sample: centre, resize, align yaw.

    Args:
        x: ``(C, T, V, M)`` sample, possibly zero-padded in time (as the 300-frame
            NTU arrays).
        num_frames: output frames (the reference uses 50).
        length: valid frames at the start of ``x``; ``None`` counts them with
            :func:`valid_length` as the reference does. A sequence without any
            valid frame is returned as zeros.
        center_joint: joint subtracted per frame and person; ``None`` skips centring.
        align: apply :func:`align_yaw` (the reference does).
        left: left shoulder index for :func:`align_yaw`.
        right: right shoulder index for :func:`align_yaw`.
        arithmetic: ``"float64"`` (default) or ``"reference"``: the official
            scripts' float32 arithmetic in every step, bit for bit (see the module
            docstring and :func:`resize_sequence`).

    Returns:
        ``float32`` array ``(C, num_frames, V, M)``.

    Raises:
        AimCLRError: see the individual steps.

    Example:
        >>> x = np.zeros((3, 300, 25, 2))
        >>> x[:, :80] = np.random.default_rng(0).normal(size=(3, 80, 25, 2))
        >>> preprocess_sample(x).shape
        (3, 50, 25, 2)
    """
    arr = as_float_array(x, "x", ("(C, T, V, M)",))
    check_positive_int(num_frames, "num_frames")
    _check_arithmetic(arithmetic)
    if length is None:
        length = valid_length(arr)
    if length == 0:
        return np.zeros((arr.shape[0], num_frames, *arr.shape[2:]), dtype=np.float32)
    arr = arr[:, :length]  # later frames are padding: nothing below reads them
    out = center_on_joint(arr, center_joint) if center_joint is not None else arr
    out = resize_sequence(out, num_frames, length=length, axis=1, arithmetic=arithmetic)
    if align:
        out = align_yaw(out, left=left, right=right, arithmetic=arithmetic)
    return out.astype(np.float32, copy=False)
