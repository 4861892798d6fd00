"""aimclr: contrastive building blocks for self-supervised skeleton action recognition.

Implements AimCLR (Guo et al., "Contrastive Learning from Extremely Augmented
Skeleton Sequences for Self-Supervised Action Recognition", AAAI 2022) as reusable
parts: skeleton transforms, an ST-GCN encoder, the attention-guided drop module
(EADM), a momentum queue, the InfoNCE / D3M / NNM losses, an AimCLR model and
evaluation protocols.

Tensor layout everywhere: ``(N, C, T, V, M)`` = batch, coordinates, frames,
joints, persons; a single sample is ``(C, T, V, M)``.
"""

from aimclr.errors import AimCLRError, AimCLRWarning, SmallDataWarning
from aimclr.graph import (
    COCO_17,
    KINECT_V1,
    LAYOUTS,
    NTU_RGBD,
    NTU_RGBD_ANATOMICAL,
    OPENPOSE_18,
    SkeletonLayout,
    adjacency,
    get_layout,
)
from aimclr.losses import (
    D3MLoss,
    InfoNCELoss,
    NNMLoss,
    contrastive_logits,
    d3m_loss,
    info_nce,
    mine_neighbors,
    nnm_loss,
)
from aimclr.model import PRESETS, AimCLR, AimCLROutput
from aimclr.nn.eadm import EADM, attention_drop, simam_attention
from aimclr.nn.heads import ProjectionHead
from aimclr.nn.momentum import copy_and_freeze, update_momentum
from aimclr.nn.queue import MomentumQueue
from aimclr.nn.stgcn import STGCN
from aimclr.streams import to_bone, to_motion, to_stream

__version__ = "0.1.0"

__all__ = [
    "COCO_17",
    "EADM",
    "KINECT_V1",
    "LAYOUTS",
    "NTU_RGBD",
    "NTU_RGBD_ANATOMICAL",
    "OPENPOSE_18",
    "PRESETS",
    "STGCN",
    "AimCLR",
    "AimCLRError",
    "AimCLROutput",
    "AimCLRWarning",
    "D3MLoss",
    "InfoNCELoss",
    "MomentumQueue",
    "NNMLoss",
    "ProjectionHead",
    "SkeletonLayout",
    "SmallDataWarning",
    "__version__",
    "adjacency",
    "attention_drop",
    "contrastive_logits",
    "copy_and_freeze",
    "d3m_loss",
    "get_layout",
    "info_nce",
    "mine_neighbors",
    "nnm_loss",
    "simam_attention",
    "to_bone",
    "to_motion",
    "to_stream",
    "update_momentum",
]
