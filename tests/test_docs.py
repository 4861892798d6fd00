"""Every Python block in the README and the guides runs.

The blocks of one page run in order in one namespace, in a temporary working
folder, so a guide reads like a script. A block whose first line is
``# docs: skip`` is shown but not run (for commands that need a GPU or torchrun).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(page: Path) -> list[str]:
    blocks = BLOCK.findall(page.read_text(encoding="utf-8"))
    return [block for block in blocks if not block.startswith("# docs: skip")]


PAGES = [page for page in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
         if python_blocks(page)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_guide_code_runs(page: Path, tmp_path: Path) -> None:
    blocks = python_blocks(page)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for number, block in enumerate(blocks, start=1):
            code = compile(block, f"{page.name}[block {number}]", "exec")
            exec(code, namespace)
    finally:
        os.chdir(cwd)
