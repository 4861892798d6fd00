"""Neural-network building blocks: the ST-GCN encoder, EADM and projection heads."""

from aimclr.nn.eadm import EADM, attention_drop, simam_attention
from aimclr.nn.heads import ProjectionHead
from aimclr.nn.stgcn import STGCN, GraphConv, STGCNBlock, TemporalConv, reference_init_

__all__ = [
    "EADM",
    "STGCN",
    "GraphConv",
    "ProjectionHead",
    "STGCNBlock",
    "TemporalConv",
    "attention_drop",
    "reference_init_",
    "simam_attention",
]
