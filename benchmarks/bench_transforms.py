"""Throughput of the AimCLR view triples: batched versus sample by sample.

Run with ``python benchmarks/bench_transforms.py``. One "triple" is what the
pre-training data loader produces per sample: one extreme and two normal views
(``AimCLRViews``, all eight augmentations). The batched path augments a batch of
128 ``(3, 50, 25, 2)`` float32 samples at once; the per-sample path applies the same
transforms to one sample at a time and stacks the results (the data-loader way).
Both run after :func:`aimclr.cpu.retain_freed_memory` unless ``--default-allocator``.

When the extreme view adds noise, a last line times the noise draw alone: ``normal_`` for
the values of half the batch (the expected share with p = 0.5) from a CPU
``torch.Generator``, whose Mersenne Twister runs on one thread. It is part of every
batched call and the one cost there that a second thread cannot share.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from aimclr.cpu import retain_freed_memory
from aimclr.transforms import AimCLRViews


def _seconds(fn: Callable[[], object], repeats: int, inner: int) -> tuple[float, float]:
    """Median and best seconds per call over ``repeats`` timings of ``inner`` calls."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times), min(times)


def main() -> None:
    """Print batched and per-sample triples per second and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--codes", default=None, help="extreme codes, e.g. 12345 (default: all 8)")
    parser.add_argument("--default-allocator", action="store_true",
                        help="keep glibc's defaults instead of aimclr.cpu.retain_freed_memory()")
    args = parser.parse_args()
    retained = not args.default_allocator and retain_freed_memory()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 50, 25, 2)
    x[1:, :, :, :, 1] = 0.0  # absent second person, as in NTU data
    views = AimCLRViews(codes=args.codes)
    g = torch.Generator().manual_seed(0)

    def batched() -> object:
        return views(x, generator=g)

    def per_sample() -> object:
        triples = [views(sample, generator=g) for sample in x]
        return tuple(torch.stack(v) for v in zip(*triples, strict=True))

    t_batched, best_batched = _seconds(batched, args.repeats, inner=20)
    t_single, best_single = _seconds(per_sample, args.repeats, inner=1)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.batch} x (3, 50, 25, 2) float32, codes {args.codes or 'all 8'}, "
          f"allocator {'retained' if retained else 'default'}, "
          f"{args.repeats} repeats (median; best in brackets)")
    print(f"batched    : {args.batch / t_batched:10.0f} triples/s  ({t_batched * 1e3:.2f} ms per "
          f"batch) [{args.batch / best_batched:.0f}/s]")
    print(f"per-sample : {args.batch / t_single:10.0f} triples/s  ({t_single * 1e3:.2f} ms per "
          f"batch) [{args.batch / best_single:.0f}/s]")
    print(f"ratio      : {t_single / t_batched:10.1f} x  [best {best_single / best_batched:.1f} x]")
    if args.codes is None or "3" in args.codes:  # "3": GaussianNoise
        noise = torch.empty(args.batch // 2, 3, 50, 25, 2)
        t_noise, _ = _seconds(lambda: noise.normal_(0.0, 0.01, generator=g), args.repeats, 20)
        print(f"noise draw : {t_noise * 1e3:10.2f} ms alone ({noise.numel()} normal values, "
              f"serial CPU generator; {100 * t_noise / t_batched:.0f} % of a batched call)")


if __name__ == "__main__":
    main()
