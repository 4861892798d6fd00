"""aimclr: contrastive building blocks for self-supervised skeleton action recognition.

Implements AimCLR (Guo et al., "Contrastive Learning from Extremely Augmented
Skeleton Sequences for Self-Supervised Action Recognition", AAAI 2022) as reusable
parts: skeleton transforms, an ST-GCN encoder, the attention-guided drop module
(EADM), a momentum queue, the InfoNCE / D3M / NNM losses, an AimCLR model and
evaluation protocols.

Tensor layout everywhere: ``(N, C, T, V, M)`` = batch, coordinates, frames,
joints, persons; a single sample is ``(C, T, V, M)``.
"""

from aimclr.errors import AimCLRError
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
from aimclr.streams import to_bone, to_motion, to_stream

__version__ = "0.1.0"

__all__ = [
    "COCO_17",
    "LAYOUTS",
    "NTU_RGBD",
    "NTU_RGBD_ANATOMICAL",
    "OPENPOSE_18",
    "AimCLRError",
    "SkeletonLayout",
    "__version__",
    "adjacency",
    "get_layout",
    "to_bone",
    "to_motion",
    "to_stream",
]
