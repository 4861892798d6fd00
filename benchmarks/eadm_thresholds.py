"""How much EADM drops at each threshold on a typical deep map: the EADM guide's table.

Run with ``python benchmarks/eadm_thresholds.py [--npz ../shared/data/bandai2.npz]``
(a few minutes on 2 idle CPU threads, most of it the pretraining steps). The map is
the final feature map ``(N·M, 256, T', 25)`` of AimCLR's ST-GCN (``STGCN()``: width
16, hidden 256, dropout 0.5, NTU layout) for 64 clips of 50 frames, computed in
training mode as during pretraining, where AimCLR applies EADM (BatchNorm normalises
with the batch's statistics, dropout is drawn from a seeded generator):

* ``synthetic``: the built-in synthetic actions, the encoder as built (PyTorch's
  default initialisation);
* ``synthetic, reference init``: the same after :func:`~aimclr.nn.reference_init_`
  (the official code's N(0, 0.02) weights);
* ``synthetic, pretrained``: after ``--steps`` AimCLR pre-training steps (default 40,
  batch 32) from the reference initialisation;
* ``npz``: with ``--npz``, the first 64 sequences of a ``.npz`` file in the shared
  format, resampled to 50 frames, centred and yaw-aligned (reference init).

For every threshold the script prints :func:`~aimclr.nn.eadm.drop_fractions`: the
fraction of joints the spatial mask drops, of elements the (reference) element-wise
temporal mask drops, and of the output that is zero, in element mode. Deterministic
(seeded), so a rerun prints the same table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table

from aimclr.data import make_synthetic_actions
from aimclr.data.ragged import load_npz
from aimclr.model import AimCLR
from aimclr.nn import STGCN, reference_init_
from aimclr.nn.eadm import drop_fractions
from aimclr.transforms import AimCLRViews

THRESHOLDS = (0.62, 0.63, 0.64, 0.65, 0.66, 0.67, 0.68, 0.69, 0.70, 0.72, 0.75, 0.80, 0.90)


def pretrained(encoder: STGCN, steps: int) -> STGCN:
    """``encoder`` after ``steps`` AimCLR steps (stage 1, SGD lr 0.1) on synthetic data."""
    model = AimCLR(encoder, queue_size=1024, queue_generator=torch.Generator().manual_seed(1))
    model.sync_key_encoder()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    data, _ = make_synthetic_actions(32 * steps, seed=2)
    views = AimCLRViews(codes="12345")
    generator = torch.Generator().manual_seed(3)
    for step in range(steps):
        out = model(*views(data[32 * step : 32 * (step + 1)], generator=generator), epoch=1)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    return encoder


def maps(npz: Path | None, steps: int) -> dict[str, torch.Tensor]:
    """The final ST-GCN feature maps to measure, by name."""
    torch.manual_seed(0)
    x, _ = make_synthetic_actions(64, seed=0)
    out: dict[str, torch.Tensor] = {}
    reference = reference_init_(STGCN(), torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(1)
        out["synthetic"] = STGCN().features(x)
        out["synthetic, reference init"] = reference.features(x)
    if npz is not None:
        clips = torch.from_numpy(load_npz(npz).select(range(64)).to_array(50, 1))
        with torch.no_grad():
            out[f"{npz.name}, reference init"] = reference.features(clips)
    if steps > 0:
        trained = pretrained(reference_init_(STGCN(), torch.Generator().manual_seed(0)), steps)
        with torch.no_grad():
            out[f"synthetic, reference init + {steps} pretraining steps"] = trained.features(x)
            if npz is not None:
                out[f"{npz.name}, reference init + {steps} pretraining steps"] = (
                    trained.features(clips)
                )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npz", type=Path, help="also measure on this .npz file (shared format)")
    parser.add_argument("--steps", type=int, default=40, help="pretraining steps (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name, feature_map in maps(args.npz, args.steps).items():
        rows = []
        for threshold in THRESHOLDS:
            f = drop_fractions(feature_map, threshold)
            rows.append((threshold, f["joints"], f["elements"], f["zeroed"]))
        print(f"\n{name}: map {tuple(feature_map.shape)} (N·M, D, T', V)\n", flush=True)
        print(markdown_table(("threshold", "joints dropped", "elements dropped", "output zero"),
                             rows))


if __name__ == "__main__":
    main()
