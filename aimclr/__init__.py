"""aimclr: contrastive building blocks for self-supervised skeleton action recognition.

Implements AimCLR (Guo et al., "Contrastive Learning from Extremely Augmented
Skeleton Sequences for Self-Supervised Action Recognition", AAAI 2022,
[arXiv:2112.03590](https://arxiv.org/abs/2112.03590)) as reusable parts: skeleton
transforms, an ST-GCN encoder, the attention-guided drop module (EADM), a momentum
queue, the InfoNCE / D3M / NNM losses, an AimCLR model and evaluation protocols.

The top level holds what a user of the model needs: the model and its presets, the
encoder and its contract, EADM, the skeleton layouts, the input streams and the error
types. The building blocks live in their modules: losses in :mod:`aimclr.losses`; the
queue, momentum helpers, heads and EADM functions in :mod:`aimclr.nn`; graphs in
:mod:`aimclr.graph`.

Tensor layout everywhere: ``(N, C, T, V, M)`` = batch, coordinates, frames,
joints, persons; a single sample is ``(C, T, V, M)``.
"""

import warnings
from importlib import import_module
from typing import TYPE_CHECKING

from aimclr.errors import (
    AimCLRError,
    AimCLRWarning,
    NonFiniteInputError,
    SmallDataWarning,
)
from aimclr.graph import (
    COCO_17,
    KINECT_V1,
    LAYOUTS,
    NTU_RGBD,
    NTU_RGBD_ANATOMICAL,
    OPENPOSE_18,
    SkeletonLayout,
    get_layout,
)
from aimclr.model import PRESETS, AimCLR, AimCLROutput
from aimclr.nn.eadm import EADM
from aimclr.nn.encoder import SkeletonEncoder
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
    "NonFiniteInputError",
    "SkeletonEncoder",
    "SkeletonLayout",
    "SmallDataWarning",
    "__version__",
    "get_layout",
    "to_bone",
    "to_motion",
    "to_stream",
]

_MOVED = {
    "adjacency": "aimclr.graph",
    "D3MLoss": "aimclr.losses",
    "InfoNCELoss": "aimclr.losses",
    "NNMLoss": "aimclr.losses",
    "contrastive_logits": "aimclr.losses",
    "d3m_loss": "aimclr.losses",
    "info_nce": "aimclr.losses",
    "mine_neighbors": "aimclr.losses",
    "nnm_loss": "aimclr.losses",
    "attention_drop": "aimclr.nn",
    "simam_attention": "aimclr.nn",
    "ProjectionHead": "aimclr.nn",
    "MomentumQueue": "aimclr.nn",
    "copy_and_freeze": "aimclr.nn",
    "update_momentum": "aimclr.nn",
}
"""Names that left the top level (deprecated there), and the modules that define them."""

if not TYPE_CHECKING:  # type checkers should report the old names as missing

    def __getattr__(name: str) -> object:
        """Serve the names of :data:`_MOVED` with a DeprecationWarning naming their module."""
        module = _MOVED.get(name)
        if module is None:
            raise AttributeError(f"module 'aimclr' has no attribute {name!r}")
        warnings.warn(
            f"aimclr.{name} left the top level of aimclr; import it from {module} "
            f"(from {module} import {name}); the top-level name will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(import_module(module), name)
