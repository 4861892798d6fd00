"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_CASE = REPO_ROOT / ".." / "shared" / "fixtures" / "aimclr_reference_case.pt"


@pytest.fixture(scope="session")
def reference_case() -> dict[str, Any]:
    """Numbers produced by the official AimCLR code (see shared/fixtures/README.md).

    Skips the test when the shared fixture directory is not next to the repository.
    """
    path = REFERENCE_CASE.resolve()
    if not path.is_file():
        pytest.skip(f"reference fixture not found at {path}: ../shared is absent")
    case: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return case
