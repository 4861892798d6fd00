"""Learning-rate schedules."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["step_lr"]


def step_lr(epoch: int, base_lr: float, milestones: Sequence[int], gamma: float = 0.1) -> float:
    """Learning rate of a step schedule, as the reference's ``adjust_lr``.

    Args:
        epoch: 1-based epoch number.
        base_lr: learning rate before the first milestone.
        milestones: epochs after which the rate is multiplied by ``gamma``; the
            reference pretraining uses ``[250]`` (epochs 1-250 at 0.1, 251-300 at 0.01).
        gamma: the factor per milestone passed.

    Returns:
        ``base_lr * gamma ** (number of milestones < epoch)``.

    Example:
        >>> step_lr(250, 0.1, [250]), round(step_lr(251, 0.1, [250]), 6)
        (0.1, 0.01)
    """
    return base_lr * gamma ** sum(1 for milestone in milestones if epoch > milestone)
