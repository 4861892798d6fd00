"""The straightforward training-step path, kept for before/after comparisons.

:func:`make_straightforward` switches a model, in place, to the code the library had
before its step was optimised: ``nn.Dropout``'s ``bernoulli_`` mask applied in its own
kernel, then a separate residual add, and EADM with out-of-place temporaries. Values
match the library's path exactly where no dropout is drawn (the tests pin that); with
dropout only the random stream differs.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from torch import nn

from aimclr.nn import EADM, STGCNBlock


def _block_forward(self: STGCNBlock, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    tcn = self.tcn
    y = tcn.bn_out(tcn.conv(tcn.relu(tcn.bn_in(self.gcn(x, adj)))))
    y = F.dropout(y, tcn.dropout.p, tcn.dropout.training)
    if self.residual is not None:
        y = y.add_(self.residual(x))
    return torch.relu_(y)


def _keep_scale(keep: torch.Tensor) -> torch.Tensor:
    return keep * (keep.numel() / keep.sum().clamp_min(1))


def _eadm_forward(self: EADM, x: torch.Tensor, force: bool = False) -> torch.Tensor:
    # The AimCLR configuration only (temporal="element", rescale="batch").
    with torch.no_grad():
        xs = x.detach()
        count = x.shape[2] * x.shape[3] - 1
        d = (xs - xs.mean(dim=(2, 3), keepdim=True)).pow(2)
        att = torch.sigmoid(d / (4 * (d.sum(dim=(2, 3), keepdim=True) / count + self.lam)) + 0.5)
        spatial = _keep_scale((att.mean(dim=(1, 2)) < self.threshold).to(att.dtype))
        temporal = _keep_scale((att < self.threshold).to(att.dtype))
        multiplier = spatial[:, None, None, :] * temporal
    return x * multiplier


def make_straightforward(model: nn.Module) -> nn.Module:
    """Switch every ST-GCN block and EADM of ``model`` to the straightforward path."""
    for module in model.modules():
        if isinstance(module, STGCNBlock):
            module.forward = types.MethodType(_block_forward, module)  # type: ignore[method-assign]
        elif isinstance(module, EADM):
            if (module.temporal, module.rescale) != ("element", "batch"):
                raise ValueError("the straightforward EADM covers the AimCLR configuration only")
            module.forward = types.MethodType(_eadm_forward, module)  # type: ignore[method-assign]
    return model
