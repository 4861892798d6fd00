"""Random spatio-temporal perturbations: Gaussian noise and temporal Gaussian blur."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aimclr._checks import check_positive, check_probability
from aimclr.errors import AimCLRError
from aimclr.transforms._base import check_range, coin, compute_dtype, uniform
from aimclr.transforms._plan import AddNoise, Blur, Step
from aimclr.transforms.base import Transform
from aimclr.transforms.functional import _gaussian_kernels, check_kernel_size

__all__ = ["GaussianBlur", "GaussianBlurParams", "GaussianNoise", "GaussianNoiseParams"]


@dataclass(frozen=True)
class GaussianNoiseParams:
    """Drawn noise: ``mask (N,)`` bool and ``noise (K, C, T, V, M)`` for the K masked samples.

    Only the selected samples carry noise, in batch order, so drawing costs nothing
    for the others. ``noise`` is already multiplied by ``std``.
    """

    mask: torch.Tensor
    noise: torch.Tensor

    def full_noise(self) -> torch.Tensor:
        """The noise as a ``(N, C, T, V, M)`` tensor, zero for unselected samples."""
        full = self.noise.new_zeros((self.mask.shape[0], *self.noise.shape[1:]))
        full[self.mask.to(self.noise.device)] = self.noise
        return full


class GaussianNoise(Transform[GaussianNoiseParams]):
    """With probability ``p``, add i.i.d. ``N(0, std²)`` noise to every element.

    The noise also lands on all-zero absent persons and padded frames, as in the
    reference. It is drawn on the generator's device (``x.device`` without one) in
    float32 for every input dtype, so that a seed gives the same noise, and the same
    draws after it, for float16 to float64 input.

    Args:
        std: standard deviation; the reference uses 0.01.
        p: probability per sample; the reference uses 0.5.
    """

    def __init__(self, std: float = 0.01, p: float = 0.5) -> None:
        check_positive(std, "std")
        check_probability(p, "p")
        self.std = std
        self.p = p

    def sample_params(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> GaussianNoiseParams:
        """A coin per sample, then noise for the selected samples only."""
        mask = coin(x.shape[0], self.p, generator)
        k = int(mask.sum())
        device = generator.device if generator is not None else x.device
        # Drawn in float32 for every dtype: float64 normal_ would consume the generator
        # differently and shift every later draw.
        noise = torch.empty((k, *x.shape[1:]), device=device, dtype=torch.float32)
        noise = noise.normal_(0.0, self.std, generator=generator).to(compute_dtype(x.dtype))
        return GaussianNoiseParams(mask, noise)

    def steps(self, params: GaussianNoiseParams) -> list[Step]:
        """Noise added to the selected samples."""
        index = params.mask.nonzero().squeeze(1)
        return [AddNoise(index, params.noise)]


@dataclass(frozen=True)
class GaussianBlurParams:
    """Drawn blurs: ``mask (N,)`` bool and ``sigma (N,)`` float64 (used where masked)."""

    mask: torch.Tensor
    sigma: torch.Tensor


class GaussianBlur(Transform[GaussianBlurParams]):
    """With probability ``p``, blur along time with a Gaussian of random ``σ``.

    Kernel ``exp(-k²/2σ²)`` for ``k = -(K-1)/2 … (K-1)/2`` with ``σ ~ U(sigma)``, zero
    padding; every channel, joint and person is filtered alike (see
    :func:`~aimclr.transforms.gaussian_blur`).

    Args:
        sigma: ``(low, high)`` range of ``σ`` in frames; the reference uses (0.1, 2).
        kernel_size: odd kernel length; the reference uses 15.
        p: probability per sample; the reference uses 0.5.
        normalize: kernels sum to 1 (default). The reference does not normalise,
            which scales the signal by 1 to 5; ``extreme_view`` reproduces that.
    """

    def __init__(
        self,
        sigma: tuple[float, float] = (0.1, 2.0),
        kernel_size: int = 15,
        p: float = 0.5,
        normalize: bool = True,
    ) -> None:
        self.sigma = check_range(sigma, "sigma")
        if self.sigma[0] <= 0:
            raise AimCLRError(f"sigma must be a range of positive values, got {sigma!r}")
        self.kernel_size = check_kernel_size(kernel_size)
        check_probability(p, "p")
        self.p = p
        self.normalize = normalize

    def sample_params(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> GaussianBlurParams:
        """A coin and a ``σ`` per sample."""
        n = x.shape[0]
        mask = coin(n, self.p, generator)
        return GaussianBlurParams(mask, uniform((n,), *self.sigma, generator))

    def steps(self, params: GaussianBlurParams) -> list[Step]:
        """A blur of the selected samples."""
        index = params.mask.nonzero().squeeze(1)
        kernel = _gaussian_kernels(params.sigma[index], self.kernel_size, self.normalize)
        return [Blur(index, kernel)]
