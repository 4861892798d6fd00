"""The pre-training workflow as library parts: the loop, its state, its helpers.

* :mod:`aimclr.training.loop` — :func:`pretrain_epoch`, one epoch of AimCLR
  pre-training of any encoder (views on the device, autocast, gradient scaler and
  clipping, a finite check, DDP-aware sampling, seeds per ``(seed, epoch, rank)``),
  with :class:`StepMetrics` per step and :class:`EpochMetrics` per epoch.
* :mod:`aimclr.training.views` — :class:`PretrainViews`, the views of a model
  configuration as a stream, and the :class:`ViewMaker` protocol.
* :mod:`aimclr.training.state` — :class:`TrainingState`: model with queue,
  optimiser, scaler, scheduler, epoch and RNG as one resumable object.
* :mod:`aimclr.training.monitor` — :class:`KNNMonitor`, kNN accuracy during training.
* :mod:`aimclr.training.records` — :class:`RunLog`: the files of a run
  (``last.pt``, ``best.pt``, ``metrics.jsonl``, pictures) kept in agreement through
  kills, progress lines and result files.
* :mod:`aimclr.training.runtime` — :func:`setup_runtime`: device, process group
  under ``torchrun``, autocast precision.
* :mod:`aimclr.training.checkpoints`, :mod:`aimclr.training.rng`,
  :mod:`aimclr.training.schedule`, :mod:`aimclr.training.finite` — atomic,
  verified checkpoint files, RNG seeding and capture, the step schedule, the finite
  checks of losses and input batches.
* :mod:`aimclr.training.cli` — the pieces of a trainer's command line: checked
  option types, the data / model / schedule options, the resume check, clean exits
  (imported on its own, not re-exported here).

The names below are defined in those submodules and imported here.
"""

from aimclr.training.checkpoints import load_checkpoint, save_checkpoint
from aimclr.training.finite import NonFiniteLossError, check_finite_losses, nonfinite_samples
from aimclr.training.loop import (
    EpochMetrics,
    NonFiniteBatches,
    StepMetrics,
    epoch_loader,
    pretrain_epoch,
)
from aimclr.training.monitor import KNNMonitor
from aimclr.training.records import RunLog
from aimclr.training.rng import epoch_seed, get_rng_state, seed_everything, set_rng_state
from aimclr.training.runtime import AMP_MODES, AmpMode, Runtime, resolve_device, setup_runtime
from aimclr.training.schedule import step_lr
from aimclr.training.state import TrainingState
from aimclr.training.views import PretrainViews, ViewMaker

__all__ = [
    "AMP_MODES",
    "AmpMode",
    "EpochMetrics",
    "KNNMonitor",
    "NonFiniteBatches",
    "NonFiniteLossError",
    "PretrainViews",
    "RunLog",
    "Runtime",
    "StepMetrics",
    "TrainingState",
    "ViewMaker",
    "check_finite_losses",
    "epoch_loader",
    "epoch_seed",
    "get_rng_state",
    "load_checkpoint",
    "nonfinite_samples",
    "pretrain_epoch",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
    "setup_runtime",
    "step_lr",
]
