"""Projection head that maps encoder embeddings into the contrastive space.

MoCo v2: Chen et al., "Improved Baselines with Momentum Contrastive Learning", 2020,
[arXiv:2003.04297](https://arxiv.org/abs/2003.04297).
"""

from __future__ import annotations

import torch
from torch import nn

from aimclr._checks import (
    check_floating,
    check_int,
    check_matches_weight,
    check_rank,
    check_tensor,
    describe,
)
from aimclr.errors import AimCLRError

__all__ = ["ProjectionHead"]


class ProjectionHead(nn.Module):
    """Two-layer MLP ``Linear → ReLU → Linear`` (MoCo v2 / AimCLR).

    AimCLR uses ``256 → 256 → 128`` on top of the ST-GCN embedding. The output is not
    normalised; contrastive losses L2-normalise it themselves.

    Args:
        in_dim: input features ``D_in`` (the encoder's ``hidden_dim``).
        hidden_dim: width of the hidden layer.
        out_dim: output features ``D_out``.

    Raises:
        AimCLRError: a dimension is not an int >= 1.

    Example:
        >>> head = ProjectionHead()
        >>> head(torch.randn(4, 256)).shape  # (N, D_in) -> (N, D_out)
        torch.Size([4, 128])
    """

    def __init__(self, in_dim: int = 256, hidden_dim: int = 256, out_dim: int = 128) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            check_int(value, name)
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project embeddings.

        Args:
            x: ``(N, D_in)``.

        Returns:
            ``(N, D_out)``.

        Raises:
            AimCLRError: ``x`` is not a floating ``(N, D_in)`` tensor on the head's
                device and (outside autocast) of its dtype.
        """
        check_tensor(x, "x")
        check_rank(x, "x", ("(N, D)",))
        check_floating(x, "x")
        if x.shape[1] != self.in_dim:
            raise AimCLRError(
                f"x must have layout (N, D) with D = {self.in_dim}, got {describe(x)}"
            )
        check_matches_weight(x, self.fc1.weight, "x (N, D)", "head")
        y: torch.Tensor = self.fc2(self.relu(self.fc1(x)))
        return y
