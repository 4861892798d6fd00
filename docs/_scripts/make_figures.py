"""Regenerate every committed figure of the docs, and the manifest that dates them.

    python docs/_scripts/make_figures.py            # write docs/figures/* and manifest.json
    python docs/_scripts/make_figures.py --check    # exit 1 if the figures are stale

The figures are inputs of the site, not outputs of the build: they are committed
(``docs/figures``), so building the docs needs no matplotlib. ``manifest.json``
records what they were drawn from: the SHA-256 of this script, of the ``aimclr.viz``
sources and of the main job's ``metrics.jsonl``, and a numeric fingerprint of the
data behind every figure (the synthetic sample, its views and augmentations, the
EADM feature map). ``tests/test_docs_figures.py`` recomputes the manifest without
drawing anything and fails when it differs: when the library or the script changed
what a figure shows, run this script and commit the result.

The training curves read ``docs/figures/main-job-metrics.jsonl``, the log of one run
of ``python examples/pretrain.py`` (the README's main job) copied from its workdir.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "figures"
MANIFEST = FIGURES / "manifest.json"
METRICS = FIGURES / "main-job-metrics.jsonl"
if str(ROOT) not in sys.path:  # run as a script from anywhere: use this checkout's aimclr
    sys.path.insert(0, str(ROOT))

from aimclr.data import SYNTHETIC_CLASSES, make_synthetic_actions  # noqa: E402
from aimclr.nn import STGCN  # noqa: E402
from aimclr.viz import (  # noqa: E402
    aimclr_views,
    augmentation_examples,
    eadm_masks,
    plot_augmentations,
    plot_eadm,
    plot_training_curves,
    plot_views,
    save_figure,
    save_skeleton_gif,
)

#: The sample every view figure shows: the first "wave right hand" of a small
#: synthetic set with little yaw, so the front camera sees the body from the front.
SAMPLE_CLASS = "wave_right_hand"
CAMERA = {"azim": 25.0, "elev": 10.0}
SEED = 0
TRACE = (11,)  # NTU RGB+D joint 11: the right hand, the one that waves


def sample() -> torch.Tensor:
    """One ``(3, 50, 25, 1)`` synthetic sample of :data:`SAMPLE_CLASS`."""
    x, labels = make_synthetic_actions(12, seed=SEED, max_yaw_deg=20.0)
    return x[int((labels == SYNTHETIC_CLASSES.index(SAMPLE_CLASS)).nonzero()[0, 0])]


def feature_map() -> torch.Tensor:
    """The final ST-GCN feature map ``(1, 64, 13, 25)`` of :func:`sample`.

    The encoder is the main job's architecture, freshly initialised from a fixed
    seed (a trained checkpoint is not part of the repository).
    """
    torch.manual_seed(SEED)
    encoder = STGCN("ntu-rgb+d", hidden_channels=16, hidden_dim=64).eval()
    with torch.no_grad():
        return encoder.features(sample()[None])


@dataclass(frozen=True)
class DocFigure:
    """A committed figure: its file, the data it shows, and how to draw it."""

    name: str
    inputs: Callable[[], dict[str, torch.Tensor]]
    render: Callable[[Path], object]


def _views_inputs() -> dict[str, torch.Tensor]:
    x = sample()
    return {"sample": x, **dict(zip(("extreme", "normal_1", "normal_2"),
                                    aimclr_views(x, seed=SEED), strict=True))}


def _augmentation_inputs() -> dict[str, torch.Tensor]:
    return {e.name: e.view for e in augmentation_examples(sample(), seed=SEED)}


def _eadm_inputs() -> dict[str, torch.Tensor]:
    masks = eadm_masks(feature_map())
    return {"attention": masks.attention, "dropped": masks.dropped.double()}


FIGURE_LIST = (
    DocFigure("views-sample.gif", lambda: {"sample": sample()},
           lambda path: save_skeleton_gif(sample(), "ntu-rgb+d", path, fps=12.5,
                                          frames=range(0, 50, 2), size=2.4, **CAMERA,
                                          title=SAMPLE_CLASS.replace("_", " "))),
    DocFigure("views-aimclr.png", _views_inputs,
           lambda path: save_figure(plot_views(sample(), seed=SEED, frames=5, **CAMERA), path)),
    DocFigure("views-augmentations.png", _augmentation_inputs,
           lambda path: save_figure(plot_augmentations(sample(), seed=SEED, trace=TRACE,
                                                       **CAMERA), path)),
    DocFigure("eadm-drop.png", _eadm_inputs,
           lambda path: save_figure(plot_eadm(
               feature_map(), pose=sample(), layout="ntu-rgb+d", **CAMERA,
               title="EADM on the final feature map of a freshly initialised ST-GCN "
                     "(threshold 0.7, temporal mask on elements)"), path)),
    DocFigure("training-curves.png", lambda: {},
           lambda path: save_figure(plot_training_curves(
               METRICS, title="The main job: python examples/pretrain.py"), path)),
)


def fingerprint(x: torch.Tensor) -> list[float]:
    """Mean, standard deviation, largest magnitude and a position-weighted mean of ``x``.

    Close enough to compare across platforms (tolerance, not hashes), and any real
    change of the values or of their order moves at least one of them.
    """
    flat = x.detach().double().flatten()
    weights = torch.linspace(-1.0, 1.0, flat.numel(), dtype=torch.float64)
    stats = (flat.mean(), flat.std() if flat.numel() > 1 else flat.sum() * 0, flat.abs().max(),
             (flat * weights).mean())
    return [float(f"{float(s):.9g}") for s in stats]


def _sha256(path: Path) -> str:
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    return hashlib.sha256(text.encode()).hexdigest()


def sources() -> dict[str, str]:
    """SHA-256 of the text files the figures are drawn with, by repository path."""
    files = [Path(__file__).resolve(), METRICS, *sorted((ROOT / "aimclr" / "viz").glob("*.py"))]
    return {path.relative_to(ROOT).as_posix(): _sha256(path) for path in files}


def manifest() -> dict[str, object]:
    """What the committed figures must have been drawn from (computed, not drawn)."""
    return {
        "sources": sources(),
        "figures": {fig.name: {key: fingerprint(value) for key, value in fig.inputs().items()}
                    for fig in FIGURE_LIST},
    }


def stale(committed: dict[str, object], current: dict[str, object]) -> list[str]:
    """What differs between two manifests, in words (empty: the figures are current)."""
    problems = []
    old_sources = committed.get("sources", {})
    assert isinstance(old_sources, dict)
    for path, digest in current["sources"].items():  # type: ignore[attr-defined]
        if old_sources.get(path) != digest:
            problems.append(f"{path} changed")
    old_figures = committed.get("figures", {})
    assert isinstance(old_figures, dict)
    for name, inputs in current["figures"].items():  # type: ignore[attr-defined]
        old = old_figures.get(name)
        if old is None or set(old) != set(inputs):
            problems.append(f"{name}: other inputs")
            continue
        for key, values in inputs.items():
            if not all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)
                       for a, b in zip(values, old[key], strict=True)):
                problems.append(f"{name}: {key} changed ({old[key]} -> {values})")
        if not (FIGURES / name).is_file():
            problems.append(f"{name} is missing")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare manifest.json with the current inputs")
    args = parser.parse_args()
    current = manifest()
    if args.check:
        committed = json.loads(MANIFEST.read_text(encoding="utf-8"))
        problems = stale(committed, current)
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    FIGURES.mkdir(parents=True, exist_ok=True)
    for fig in FIGURE_LIST:
        path = FIGURES / fig.name
        fig.render(path)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} kB")
    MANIFEST.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
