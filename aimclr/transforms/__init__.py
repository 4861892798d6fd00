"""Batched random augmentations of skeleton sequences (AimCLR's eight and presets).

Every transform takes a batch ``(N, C, T, V, M)`` or one sample ``(C, T, V, M)``,
draws independent parameters for every sample without a Python loop over samples,
keeps the input's device and dtype, and accepts ``generator=`` for reproducible
views. :mod:`aimclr.transforms.functional` holds the same operations with explicit
parameters.

Example:
    >>> from aimclr.transforms import AimCLRViews
    >>> g = torch.Generator().manual_seed(0)
    >>> extreme, query, key = AimCLRViews()(torch.randn(8, 3, 50, 25, 2), generator=g)
    >>> extreme.shape
    torch.Size([8, 3, 50, 25, 2])
"""

import torch

from aimclr.transforms.base import Transform
from aimclr.transforms.compose import Compose, RandomApply, RandomApplyParams
from aimclr.transforms.functional import (
    axis_mask,
    channel_map,
    crop_index,
    gaussian_blur,
    gaussian_kernel1d,
    gaussian_noise,
    rotate,
    rotation_matrix,
    shear,
    shear_matrix,
    spatial_flip,
    temporal_crop,
    temporal_flip,
)
from aimclr.transforms.noise import (
    GaussianBlur,
    GaussianBlurParams,
    GaussianNoise,
    GaussianNoiseParams,
)
from aimclr.transforms.presets import EXTREME_CODES, AimCLRViews, extreme_view, normal_view
from aimclr.transforms.spatial import (
    AxisMask,
    AxisMaskParams,
    Rotate,
    RotateParams,
    Shear,
    ShearParams,
    SpatialFlip,
    SpatialFlipParams,
)
from aimclr.transforms.temporal import (
    TemporalCrop,
    TemporalCropParams,
    TemporalFlip,
    TemporalFlipParams,
)

__all__ = [
    "EXTREME_CODES",
    "AimCLRViews",
    "AxisMask",
    "AxisMaskParams",
    "Compose",
    "GaussianBlur",
    "GaussianBlurParams",
    "GaussianNoise",
    "GaussianNoiseParams",
    "RandomApply",
    "RandomApplyParams",
    "Rotate",
    "RotateParams",
    "Shear",
    "ShearParams",
    "SpatialFlip",
    "SpatialFlipParams",
    "TemporalCrop",
    "TemporalCropParams",
    "TemporalFlip",
    "TemporalFlipParams",
    "Transform",
    "axis_mask",
    "channel_map",
    "crop_index",
    "extreme_view",
    "gaussian_blur",
    "gaussian_kernel1d",
    "gaussian_noise",
    "normal_view",
    "rotate",
    "rotation_matrix",
    "shear",
    "shear_matrix",
    "spatial_flip",
    "temporal_crop",
    "temporal_flip",
]

del torch
