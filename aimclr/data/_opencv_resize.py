"""OpenCV's float32 ``INTER_LINEAR`` frame resampling, reproduced bit for bit in numpy.

The reference preprocessing (``real_resize`` in the official ``feeder/NTUDatasets.py``)
resamples the valid frames of each person with ``cv2.resize(..., INTER_LINEAR)`` on a
float32 image of ``frames x joints x 3`` coordinates, changing only the height. What
OpenCV computes there was measured, not read off its code (the float32 path goes to
Intel IPP, whose source is closed): opencv-python-headless 4.10, 4.12, 4.14 and 5.0 on
x86-64 were compared against this module for every source length 1..300 (see
``benchmarks/opencv_resize_fixture.py``). Two code paths are taken:

* **Two or more source frames** (IPP, AVX2 / AVX-512 code): output frame ``i`` reads
  the source position ``p = (i + 0.5) * (length / num_frames) - 0.5`` computed in
  float64, the frames ``k = floor(p)`` and ``k + 1`` clamped to the valid ones, the
  weight ``w = float32(p - k)`` (0 where ``p`` falls outside), and returns
  ``a + w * (b - a)`` with ``b - a`` rounded to float32 and the multiply-add rounded
  once (a fused multiply-add).
* **One source frame** (OpenCV's own code): the weights come from the unclamped
  position rounded to float32, ``f = p - floor(p)`` in float32, and the frame is
  returned as ``a * (1 - f) + a * f`` in float32, which is not always ``a`` itself.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["fused_multiply_add_float32", "opencv_linear_resize"]


def fused_multiply_add_float32(w: np.ndarray, d: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``float32(w * d + a)`` rounded once, as a float32 fused multiply-add.

    The product of two float32 values is exact in float64 and the float64 sum is
    within half a float64 step of the exact value, so rounding it to float32 is the
    correct single rounding unless the sum landed exactly halfway between two
    float32 values. Only those (rare) sums, and sums in float32's subnormal range,
    are corrected: rounded to odd with the sum's error-free remainder (an inexact
    sum with an even last bit moves one float64 step towards the exact value), after
    which rounding to float32 is correct.

    Args:
        w: float32 weights, broadcastable with ``d`` and ``a``.
        d: float32 differences.
        a: float32 values.

    Returns:
        float32 array of the broadcast shape.
    """
    a64 = a.astype(np.float64)
    product = w.astype(np.float64) * d.astype(np.float64)  # exact: 24 + 24 bits
    total = np.asarray(a64 + product)
    # Halfway between float32 values: the 29 float64 mantissa bits float32 drops are
    # 1 followed by zeros (normal range); below 2**-125 float32 drops more bits, so
    # every non-zero sum there is checked as well.
    bits = total.view(np.int64)
    halfway = (bits & 0x1FFFFFFF) == 0x10000000
    tiny = (np.abs(total) < 2.0**-125) & (total != 0)
    suspect = np.flatnonzero(halfway | tiny)
    if suspect.size:
        flat_total = total.reshape(-1)
        t = flat_total[suspect]
        x = np.broadcast_to(a64, total.shape).reshape(-1)[suspect]
        p = np.broadcast_to(product, total.shape).reshape(-1)[suspect]
        back = t - x
        error = (x - (t - back)) + (p - back)  # exact: t + error == x + p
        # Round to odd: an inexact sum with an even last bit moves one step towards
        # the exact value; rounding that to float32 is then correct.
        move = (error != 0) & ((bits.reshape(-1)[suspect] & 1) == 0)
        flat_total[suspect] = np.where(
            move, np.nextafter(t, np.where(error > 0, np.inf, -np.inf)), t)
    return total.astype(np.float32)


@functools.lru_cache(maxsize=4096)
def _frame_weights(length: int, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower frame, upper frame and float32 weight of each output frame (IPP path)."""
    position = (np.arange(num_frames, dtype=np.float64) + 0.5) * (length / num_frames) - 0.5
    lower = np.floor(position)
    weight = (position - lower).astype(np.float32)
    outside = (lower < 0) | (lower >= length - 1)
    weight[outside] = 0.0
    lower_index = np.clip(lower, 0, length - 1).astype(np.intp)
    upper_index = np.minimum(lower_index + 1, length - 1)
    for array in (lower_index, upper_index, weight):
        array.flags.writeable = False
    return lower_index, upper_index, weight


def opencv_linear_resize(x: np.ndarray, num_frames: int, length: int, axis: int) -> np.ndarray:
    """Resample frames ``0 .. length - 1`` of float32 ``x`` on ``axis`` as OpenCV does.

    Args:
        x: float32 array with the frames on ``axis``.
        num_frames: output frames, ``>= 1``.
        length: valid frames at the start of ``axis``, ``>= 1``.
        axis: the frame axis (non-negative or negative).

    Returns:
        float32 array like ``x`` with ``num_frames`` frames on ``axis``.
    """
    shape = [1] * x.ndim
    shape[axis] = num_frames
    if length == 1:
        scale = 1.0 / (num_frames / length)
        position = ((np.arange(num_frames) + 0.5) * scale - 0.5).astype(np.float32)
        frac = (position - np.floor(position)).reshape(shape)
        first = np.take(x, [0], axis=axis)
        out: np.ndarray = first * (np.float32(1.0) - frac) + first * frac
        return out
    lower, upper, weight = _frame_weights(length, num_frames)
    low = np.take(x, lower, axis=axis)
    high = np.take(x, upper, axis=axis)
    return fused_multiply_add_float32(weight.reshape(shape), high - low, low)
