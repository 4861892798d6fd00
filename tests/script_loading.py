"""Load the repository's scripts (``examples/``, ``benchmarks/``, ``docs/_scripts/``) in tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(path: Path, name: str) -> ModuleType:
    """Import the script at ``path`` as a fresh module registered as ``name``.

    Registered in ``sys.modules`` because dataclasses look their module up while they
    are built; each test file passes its own ``name`` so that it gets its own copy.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_example(name: str, prefix: str) -> ModuleType:
    """``examples/NAME.py`` as the module ``PREFIX_NAME``."""
    return load_script(ROOT / "examples" / f"{name}.py", f"{prefix}_{name}")
