"""The official AimCLR step, run from a local checkout for side-by-side timing.

:func:`build_official_step` imports the official model from a directory that holds the
official repository's ``net/`` package (``net/aimclr.py``, ``net/st_gcn.py``,
``net/att_drop.py``, ``net/utils/graph.py`` and ``net/utils/tgcn.py``, the last one from
the ST-GCN / CrosSCLR repositories). Nothing of it is part of this project: point the
step benchmark at it with ``--official DIR``. It runs unmodified except for three
process-local shims that let it run on a CPU:

* ``torchlight.import_class`` (the official code's only use of ``torchlight``) when that
  package is not importable;
* ``Tensor.cuda`` returns the tensor itself when no GPU is present (the model creates its
  labels and NNM masks with ``.cuda()``);
* the enqueue offsets its slice by ``batch · device index``, and a CPU tensor has no index:
  the instance's enqueue is replaced by the same slice assignment without the offset (the
  single-GPU case).

The step follows the official processor (``processor/pretrain_aimclr.py``, see spec
section 5): forward of the three views, ``update_ptr``, the stage's loss (cross-entropy or
the NNM mean log-probability, plus ``½ (L_e + L_ed)`` from ``log(softmax)``), then
``zero_grad``, ``backward`` and ``step``. Weights are initialised as the official
processor does (:func:`aimclr.nn.reference_init_` draws the same distributions).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from aimclr.nn import reference_init_


def _import_class(name: str) -> type:
    module, _, attribute = name.rpartition(".")
    cls: type = getattr(importlib.import_module(module), attribute)
    return cls


def _install_shims(directory: Path) -> None:
    if not (directory / "net" / "aimclr.py").is_file():
        raise FileNotFoundError(f"{directory} does not hold the official net/aimclr.py")
    sys.path.insert(0, str(directory))
    try:
        importlib.import_module("torchlight")
    except ImportError:
        stub = types.ModuleType("torchlight")
        stub.import_class = _import_class  # type: ignore[attr-defined]
        sys.modules["torchlight"] = stub
    if not torch.cuda.is_available():
        torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]


def _enqueue_without_device_offset(model: nn.Module) -> None:
    def enqueue(keys: torch.Tensor) -> None:
        ptr = int(model.queue_ptr)
        model.queue[:, ptr : ptr + keys.shape[0]] = keys.T

    model._dequeue_and_enqueue = enqueue  # type: ignore[assignment]


def build_official_step(
    directory: str | Path,
    views: Sequence[torch.Tensor],
    stage: int,
    queue_size: int,
    amp_dtype: torch.dtype | None,
    seed: int = 0,
) -> Callable[[], None]:
    """A closure running one official training step on ``views`` (extreme, query, key).

    Args:
        directory: folder holding the official ``net/`` package.
        views: the three ``(N, 3, T, 25, M)`` views, on the CPU.
        stage: 1 (InfoNCE + D3M) or 2 (NNM + D3M).
        queue_size: ``K``.
        amp_dtype: CPU autocast dtype of the forward pass; ``None``: float32.
        seed: seed of the weights and the queue.
    """
    _install_shims(Path(directory))
    aimclr_class = _import_class("net.aimclr.AimCLR")
    torch.manual_seed(seed)
    model = aimclr_class(
        base_encoder="net.st_gcn.Model", pretrain=True, feature_dim=128,
        queue_size=queue_size, momentum=0.999, Temperature=0.07, mlp=True,
        in_channels=3, hidden_channels=16, hidden_dim=256, num_class=60, dropout=0.5,
        graph_args={"layout": "ntu-rgb+d", "strategy": "spatial"},
        edge_importance_weighting=True,
    )  # fmt: skip
    reference_init_(model)
    _enqueue_without_device_offset(model)
    model.train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=False,
                                weight_decay=1e-4)  # fmt: skip
    cross_entropy = nn.CrossEntropyLoss()
    x_extreme, x_query, x_key = views

    def step() -> None:
        with torch.autocast("cpu", amp_dtype, enabled=amp_dtype is not None):
            if stage == 1:
                logits, labels, p_e, p_ed, target = model(x_extreme, x_query, x_key)
                contrastive = cross_entropy(logits, labels)
            else:
                logits, mask, p_e, p_ed, target = model(x_extreme, x_query, x_key, nnm=True, topk=1)
                contrastive = (-(F.log_softmax(logits, dim=1) * mask).sum(1) / mask.sum(1)).mean()
            model.update_ptr(logits.size(0))
            loss_e = -torch.mean(torch.sum(torch.log(p_e) * target, dim=1))
            loss_ed = -torch.mean(torch.sum(torch.log(p_ed) * target, dim=1))
            loss = contrastive + (loss_e + loss_ed) / 2.0
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    return step
