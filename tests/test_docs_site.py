"""The docs site's own machinery: committed figures are current, maths renders, pages list all."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import pytest
from script_loading import load_script

import aimclr.model

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"


def load(path: Path, name: str) -> ModuleType:
    return load_script(path, name)


def test_committed_figures_are_current() -> None:
    """Recompute what the figures are drawn from (cheap: no drawing) and compare."""
    script = load(ROOT / "docs" / "_scripts" / "make_figures.py", "make_figures")
    committed = json.loads((FIGURES / "manifest.json").read_text(encoding="utf-8"))
    current = script.manifest()
    problems = script.stale(committed, current)
    assert not problems, (
        "the committed docs figures are stale; run `python docs/_scripts/make_figures.py` "
        "and commit docs/figures:\n" + "\n".join(problems)
    )
    for name in current["figures"]:
        size = (FIGURES / name).stat().st_size
        assert size < 200_000, f"{name} is {size / 1000:.0f} kB; keep figures under 200 kB"
    # The comparison can fail: a changed sample or a changed source is noticed.
    changed = json.loads(json.dumps(committed))
    first = next(iter(changed["figures"]["views-aimclr.png"]))
    changed["figures"]["views-aimclr.png"][first][0] += 1e-3
    changed["sources"]["aimclr/viz/skeleton.py"] = "0" * 64
    found = script.stale(changed, current)
    assert any("views-aimclr.png" in p for p in found)
    assert any("skeleton.py changed" in p for p in found)


def test_maths_hook_renders_latex_and_leaves_code_alone() -> None:
    pytest.importorskip("latex2mathml")
    markdown = pytest.importorskip("markdown")
    hook = load(ROOT / "docs" / "_hooks" / "maths.py", "docs_maths_hook")
    md = markdown.Markdown(extensions=[hook.MathsExtension(), "pymdownx.superfences"])
    html = md.convert(
        "Energy $e = \\frac{4(\\sigma^2 + \\lambda)}{d}$, code `$HOME`, prices $5 and $6.\n\n"
        "$$\nL = -\\log p_{nj}\n$$\n\n```bash\necho $PATH $x$\n```\n"
    )
    inline = re.search(r'<span class="maths"><math [^>]*display="inline">.*?</math></span>', html)
    assert inline and "<mfrac>" in inline.group(0) and "&#x003BB;" in inline.group(0)  # λ
    assert re.search(r'<div class="maths-display"><math [^>]*display="block">', html)
    assert "<code>$HOME</code>" in html and "prices $5 and $6." in html
    assert html.count("<math") == 2  # the shell block's $ signs stay code


def test_model_page_opens_with_the_model_and_lists_every_public_name() -> None:
    page = (ROOT / "docs" / "api" / "model.md").read_text(encoding="utf-8")
    listed = re.search(r"members: \[(.*?)\]", page)
    assert listed is not None
    names = [name.strip() for name in listed.group(1).split(",")]
    assert names[0] == "AimCLR"
    assert sorted(names) == sorted(aimclr.model.__all__)
