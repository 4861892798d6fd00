"""An encoder with a linear classifier on its pooled features."""

from __future__ import annotations

import math

import torch
from torch import nn

from aimclr._checks import check_bool, check_generator, check_int, check_module, describe
from aimclr.errors import AimCLRError


@torch.no_grad()
def init_linear_(layer: nn.Linear, generator: torch.Generator) -> None:
    """Re-draw ``layer``'s weight and bias from ``nn.Linear``'s default distribution.

    ``kaiming_uniform_(a=sqrt(5))`` of the weight and the bias rule both amount to
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; drawn with ``torch.rand`` because
    ``nn.init`` takes a generator only from torch 2.2.

    Args:
        layer: the linear layer ``(out_features, in_features)``, changed in place.
        generator: the random generator to draw from (on ``layer``'s device).
    """
    bound = 1.0 / math.sqrt(layer.in_features)
    for param in (layer.weight, layer.bias):
        u = torch.rand(param.shape, generator=generator, device=generator.device)
        param.copy_((2.0 * u - 1.0) * bound)


class EncoderClassifier(nn.Module):
    """An encoder followed by a linear classifier on its features.

    Args:
        encoder: module mapping ``(N, C, T, V, M)`` to pooled features ``(N, D)``.
        feature_dim: ``D``.
        num_classes: ``K``.
        freeze_encoder: stop gradients into the encoder (linear probe).
        encoder_eval: keep the encoder in eval mode even in ``train()`` (BatchNorm
            uses its stored statistics, dropout is off), as the reference does for
            both linear evaluation and fine-tuning.
        generator: draws the classifier's initial weights (``nn.Linear``'s default
            distribution), so that a seeded evaluation repeats; ``None``: the global
            random state, as ``nn.Linear`` does.

    Shapes:
        ``forward``: ``(N, C, T, V, M)`` -> logits ``(N, K)``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        feature_dim: int,
        num_classes: int,
        freeze_encoder: bool = False,
        encoder_eval: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_module(encoder, "encoder")
        check_generator(generator)
        check_bool(freeze_encoder, "freeze_encoder")
        check_bool(encoder_eval, "encoder_eval")
        for name, value in (("feature_dim", feature_dim), ("num_classes", num_classes)):
            check_int(value, name)
        self.encoder = encoder
        self.fc = nn.Linear(feature_dim, num_classes)
        if generator is not None:
            init_linear_(self.fc, generator)
        self.freeze_encoder = freeze_encoder
        self.encoder_eval = encoder_eval
        if freeze_encoder:
            encoder.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> EncoderClassifier:
        """Set training mode; the encoder stays in eval mode if ``encoder_eval``."""
        super().train(mode)
        if self.encoder_eval:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` for ``x`` ``(N, C, T, V, M)``."""
        if self.freeze_encoder:
            with torch.no_grad():
                feats = self.encoder(x)
        else:
            feats = self.encoder(x)
        if feats.dim() != 2 or feats.shape[1] != self.fc.in_features:
            raise AimCLRError(
                f"the encoder must return features (N, D) with D = feature_dim = "
                f"{self.fc.in_features}, got {describe(feats)}"
            )
        logits: torch.Tensor = self.fc(feats)
        return logits


class LinearProbe(EncoderClassifier):
    """Frozen encoder in eval mode plus a trainable linear layer (linear evaluation).

    The encoder's parameters get ``requires_grad=False`` and its forward runs without
    gradients, so only ``fc`` can train (:func:`finetune` refuses this model).

    Args:
        encoder: module mapping ``(N, C, T, V, M)`` to pooled features ``(N, D)``.
        feature_dim: ``D``.
        num_classes: ``K``.

    Shapes:
        ``forward``: ``(N, C, T, V, M)`` -> logits ``(N, K)``.
    """

    def __init__(self, encoder: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__(encoder, feature_dim, num_classes, freeze_encoder=True,
                         encoder_eval=True)
