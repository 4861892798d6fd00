"""Neural-network building blocks: the ST-GCN encoder and its contract, EADM, projection
heads, the momentum queue and the momentum (key) encoder helpers."""

from aimclr.nn.eadm import EADM, attach_eadm, attention_drop, simam_attention
from aimclr.nn.encoder import (
    FeatureMapEncoder,
    InputCheckingEncoder,
    SkeletonEncoder,
    WidthEncoder,
    encoder_width,
)
from aimclr.nn.heads import ProjectionHead
from aimclr.nn.momentum import copy_and_freeze, update_momentum
from aimclr.nn.queue import MomentumQueue
from aimclr.nn.stgcn import STGCN, GraphConv, STGCNBlock, TemporalConv, reference_init_

__all__ = [
    "EADM",
    "STGCN",
    "FeatureMapEncoder",
    "GraphConv",
    "InputCheckingEncoder",
    "MomentumQueue",
    "ProjectionHead",
    "STGCNBlock",
    "SkeletonEncoder",
    "TemporalConv",
    "WidthEncoder",
    "attach_eadm",
    "attention_drop",
    "copy_and_freeze",
    "encoder_width",
    "reference_init_",
    "simam_attention",
    "update_momentum",
]
