"""aimclr.viz is optional: the core never imports matplotlib, and a missing extra is clear."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import aimclr.viz
from aimclr import AimCLRError

ROOT = Path(__file__).resolve().parents[1]


def test_import_aimclr_does_not_import_matplotlib() -> None:
    code = (
        "import sys, aimclr, aimclr.viz, aimclr.data, aimclr.eval, aimclr.transforms\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'PIL'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import matplotlib`` fail as it does when the extra is not installed."""
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError


@pytest.mark.usefixtures("no_matplotlib")
def test_missing_extra_raises_an_error_naming_it(tmp_path: Path) -> None:
    assert not aimclr.viz.available()
    records = [{"epoch": 1.0, "loss": 1.0, "lr": 0.1}]
    with pytest.raises(AimCLRError, match=r'pip install "aimclr\[viz\]"'):
        aimclr.viz.plot_training_curves(records)
    with pytest.raises(AimCLRError, match=r"aimclr\[viz\]"):
        aimclr.viz.plot_skeleton_frames(torch.zeros(3, 2, 25, 1), "ntu-rgb+d")
    # The pure-torch helpers need no matplotlib.
    assert aimclr.viz.confusion_matrix(torch.tensor([1, 0]), torch.tensor([1, 1])).sum() == 2


@pytest.mark.usefixtures("no_matplotlib")
def test_save_if_available_skips_without_the_extra(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"epoch": 1, "loss": 2.0, "lr": 0.1}\n')
    png = tmp_path / "curves.png"
    assert aimclr.viz.save_if_available(aimclr.viz.save_training_curves, metrics, png) is None
    assert not png.exists()


def test_save_if_available_saves_with_the_extra(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"epoch": 1, "loss": 2.0, "lr": 0.1}\n'
                       '{"epoch": 2, "loss": 1.5, "lr": 0.1}\n')
    png = tmp_path / "out" / "curves.png"
    assert aimclr.viz.save_if_available(aimclr.viz.save_training_curves, metrics, png) == png
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Other errors are not swallowed.
    with pytest.raises(AimCLRError, match="does not exist"):
        aimclr.viz.save_if_available(aimclr.viz.save_training_curves, tmp_path / "no", png)
