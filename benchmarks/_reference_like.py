"""A reference-like AimCLR training step: the same math, the official code's way of computing it.

The baseline of the step benchmarks. It runs on the parameters of a library
:class:`~aimclr.model.AimCLR` (so both paths are seeded and checked alike) but follows the
computation pattern that ``../shared/spec/reference-behaviour.md`` describes for the
official code (sections 3-5), step by step:

* graph convolution: a 1x1 convolution to ``K·C`` channels, a view ``(n, K, C, T, V)`` and
  ``einsum("nkctv,kvw->nctw")`` with ``A ⊙ edge_importance``, made contiguous;
* temporal unit: BatchNorm, in-place ReLU, convolution, BatchNorm and ``nn.Dropout``
  (``bernoulli_`` mask, in place); the residual branch first, output ``ReLU(tcn + res)``;
* EADM: SimAM attention kept in the autograd graph and masked by in-place threshold
  assignments (values first set to 2, then 1, then the 2s to 0), the spatial mask, then
  the element mask on a ``(N, C·V, T)`` permuted copy;
* pooling with ``avg_pool2d``, the person mean, then the MLP head;
* key encoder: a Python loop over parameter pairs, ``k ← m·k + (1 - m)·q`` out of place;
* queue stored ``(D, K)``, cloned for each of the three products (``einsum("nc,ck->nk")``),
  logits concatenated then divided by τ in place, D3M targets and predictions as
  ``softmax`` and ``log(softmax)``, NNM by ``topk`` / ``scatter_`` one-hot masks, and the
  enqueue as a slice assignment of ``kᵀ``;
* losses: cross-entropy (stage 1) or the mean log-probability over the positives (stage 2),
  plus ``½ (L_e + L_ed)``.

With dropout 0 it computes the library's loss and gradients (``tests/test_benchmarks.py``
checks it in float64); with dropout only the random stream differs. The allocator setting
belongs to the process (the step benchmark runs this path with glibc's defaults).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aimclr.model import AimCLR
from aimclr.nn import STGCN, STGCNBlock


def _block(block: STGCNBlock, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """One ST-GCN block, ``(n, C_in, T, V)`` → ``(n, C_out, T', V)``."""
    if block.residual is None:
        res: torch.Tensor | float = 0.0
    elif isinstance(block.residual, nn.Identity):
        res = x
    else:
        res = block.residual.bn(block.residual.conv(x))
    gcn = block.gcn
    y = gcn.conv(x)
    n, _, t, v = y.shape
    y = y.view(n, gcn.num_partitions, gcn.out_channels, t, v)
    y = torch.einsum("nkctv,kvw->nctw", y, adj).contiguous()
    tcn = block.tcn
    y = tcn.bn_out(tcn.conv(F.relu(tcn.bn_in(y), inplace=True)))
    y = F.dropout(y, tcn.dropout.p, tcn.dropout.training, inplace=True)
    return F.relu(y + res, inplace=True)


def _threshold_mask(att: torch.Tensor, threshold: float) -> torch.Tensor:
    """0 where ``att >= threshold``, 1 elsewhere, by in-place assignments (kept in the graph)."""
    att[att >= threshold] = 2.0
    att[att < threshold] = 1.0
    att[att == 2.0] = 0.0
    return att


def _eadm(x: torch.Tensor, threshold: float, lam: float) -> torch.Tensor:
    """EADM on the final map ``(NM, C, T, V)``: spatial mask, then element mask."""
    nm, c, t, v = x.shape
    d = (x - x.mean(dim=[2, 3], keepdim=True)).pow(2)
    att = torch.sigmoid(d / (4 * (d.sum(dim=[2, 3], keepdim=True) / (v * t - 1) + lam)) + 0.5)
    spatial = _threshold_mask(att.mean(dim=[1, 2]), threshold).view(nm, 1, 1, v)
    x = x * spatial * spatial.numel() / spatial.sum()
    element = _threshold_mask(att.permute(0, 1, 3, 2).contiguous().view(nm, c * v, t), threshold)
    rows = x.permute(0, 1, 3, 2).contiguous().view(nm, c * v, t)
    return (rows * element * element.numel() / element.sum()).view(nm, c, v, t).permute(0, 1, 3, 2)


class ReferenceLikeStep:
    """One AimCLR training step computed in the official code's pattern.

    Args:
        model: a library ``AimCLR`` with ST-GCN encoders and all components (the
            ``"aimclr"`` preset); its parameters, BatchNorm statistics and queue content
            are used (the queue is copied once into the ``(D, K)`` layout).
        optimiser: the optimiser over ``model.parameters()``; ``None``: no update.
    """

    def __init__(self, model: AimCLR, optimiser: torch.optim.Optimizer | None = None) -> None:
        if not (isinstance(model.encoder_q, STGCN) and model.eadm is not None and model.use_d3m):
            raise ValueError("the reference-like step needs the 'aimclr' preset with an STGCN")
        self.model = model
        self.optimiser = optimiser
        self.queue = model.queue.keys.t().clone()  # (D, K)
        self.ptr = int(model.queue.ptr)

    def _embed(
        self, encoder: STGCN, head: nn.Module, x: torch.Tensor, drop: bool = False
    ) -> list[torch.Tensor]:
        n, c, t, v, m = x.shape
        x = x.permute(0, 4, 3, 1, 2).contiguous().view(n * m, v * c, t)
        x = encoder.data_bn(x)
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).contiguous().view(n * m, c, t, v)
        assert encoder.edge_importance is not None
        for block, importance in zip(encoder.blocks, encoder.edge_importance, strict=True):
            x = _block(block, x, encoder.A * importance)
        maps = [x]
        if drop:
            eadm = self.model.eadm
            assert eadm is not None
            maps.append(_eadm(x, eadm.threshold, eadm.lam))
        out = []
        for feature_map in maps:
            pooled = F.avg_pool2d(feature_map, feature_map.size()[2:]).view(n, m, -1).mean(dim=1)
            out.append(head(pooled).view(n, -1))
        return out

    @torch.no_grad()
    def _momentum_update(self) -> None:
        model, m = self.model, self.model.momentum
        pairs = [(model.encoder_q, model.encoder_k), (model.head_q, model.head_k)]
        for module_q, module_k in pairs:
            for param_q, param_k in zip(module_q.parameters(), module_k.parameters(), strict=True):
                param_k.data = param_k.data * m + param_q.data * (1.0 - m)

    def loss(
        self, x_extreme: torch.Tensor, x_query: torch.Tensor, x_key: torch.Tensor, stage: int
    ) -> torch.Tensor:
        """The step's loss (stage 1: InfoNCE + D3M, stage 2: NNM + D3M); enqueues the keys."""
        model = self.model
        encoder_q, encoder_k = model.encoder_q, model.encoder_k
        assert isinstance(encoder_q, STGCN) and isinstance(encoder_k, STGCN)
        (q,) = self._embed(encoder_q, model.head_q, x_query)
        q_e, q_ed = self._embed(encoder_q, model.head_q, x_extreme, drop=True)
        q, q_e, q_ed = (F.normalize(z, dim=1) for z in (q, q_e, q_ed))
        with torch.no_grad():
            self._momentum_update()
            (k,) = self._embed(encoder_k, model.head_k, x_key)
            k = F.normalize(k, dim=1)
        l_pos, l_neg, logits = [], [], []
        for z in (q, q_e, q_ed):
            l_pos.append(torch.einsum("nc,nc->n", z, k).unsqueeze(-1))
            l_neg.append(torch.einsum("nc,ck->nk", z, self.queue.clone().detach()))
            logits.append(torch.cat([l_pos[-1], l_neg[-1]], dim=1))
            logits[-1] /= model.temperature
        p_e, p_ed = torch.softmax(logits[1], dim=1), torch.softmax(logits[2], dim=1)
        target = torch.softmax(logits[0].clone().detach(), dim=1).detach()
        if stage == 1:
            labels = torch.zeros(logits[0].shape[0], dtype=torch.long, device=q.device)
            contrastive = F.cross_entropy(logits[0], labels)
        else:
            one_hot = torch.zeros_like(l_neg[0])
            for scores in l_neg:
                one_hot.scatter_(1, torch.topk(scores, model.nnm_top_k, dim=1)[1], 1)
            mask = torch.cat([torch.ones(one_hot.size(0), 1, device=q.device), one_hot], dim=1)
            contrastive = (-(F.log_softmax(logits[0], dim=1) * mask).sum(1) / mask.sum(1)).mean()
        loss_e = -torch.mean(torch.sum(torch.log(p_e) * target, dim=1))
        loss_ed = -torch.mean(torch.sum(torch.log(p_ed) * target, dim=1))
        batch = k.shape[0]
        with torch.no_grad():
            self.queue[:, self.ptr : self.ptr + batch] = k.T
        self.ptr = (self.ptr + batch) % self.queue.shape[1]
        return contrastive + (loss_e + loss_ed) / 2.0

    def __call__(
        self, x_extreme: torch.Tensor, x_query: torch.Tensor, x_key: torch.Tensor, stage: int
    ) -> torch.Tensor:
        """One step: loss, backward and the optimiser update; returns the loss."""
        loss = self.loss(x_extreme, x_query, x_key, stage)
        if self.optimiser is not None:
            self.optimiser.zero_grad()
            loss.backward()
            self.optimiser.step()
        return loss
