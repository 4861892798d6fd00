"""Root pytest configuration: the Hypothesis profile and names for every doctest."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import settings

# Deterministic examples and no per-example deadline: CI shares 2 cores, and a flaky
# timing failure would say nothing about the code.
settings.register_profile("aimclr", derandomize=True, deadline=None)
settings.load_profile("aimclr")


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict[str, Any]) -> None:
    doctest_namespace["torch"] = torch
