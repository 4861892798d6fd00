"""MkDocs hook: LaTeX maths in Markdown and docstrings, converted to MathML at build time.

``$...$`` is inline maths and a paragraph of its own that starts with ``$$`` and
ends with ``$$`` is display maths. Both are converted by ``latex2mathml`` (a
pure-Python dependency of the ``docs`` extra) into MathML, which browsers render
natively: the built site needs no JavaScript and no network access.

Code spans and code blocks are left alone (their ``$`` are not maths). Inline maths
must not start or end with whitespace and its closing ``$`` must not be followed by
a digit, so prices such as "$5 and $6" stay text; ``\\$`` is a literal dollar sign.

The hook registers the Markdown extension before mkdocstrings reads the list of
extensions, so docstrings rendered in the API reference get the same maths.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from typing import Any

from latex2mathml.converter import convert
from markdown import Markdown
from markdown.blockparser import BlockParser
from markdown.blockprocessors import BlockProcessor
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority

# Not after a backslash or another $, not before whitespace; ends before a $ that
# follows non-whitespace and is not followed by a digit (so "$5 and $6" stays text).
INLINE = r"(?<![\\$])\$(?![\s$])(.+?)(?<![\s\\])\$(?![\d$])"


def to_mathml(latex: str, display: bool) -> str:
    """MathML for ``latex``; ``display`` selects a centred block."""
    return convert(latex.strip(), display="block" if display else "inline")


class InlineMath(InlineProcessor):
    """``$...$`` to inline MathML, stored raw so no other pattern touches it."""

    def handleMatch(  # type: ignore[override]
        self, m: re.Match[str], data: str
    ) -> tuple[str, int, int]:
        html = f'<span class="maths">{to_mathml(m.group(1), display=False)}</span>'
        return self.md.htmlStash.store(html), m.start(0), m.end(0)


class DisplayMath(BlockProcessor):
    """A block from a line starting with ``$$`` to one ending with ``$$``."""

    def __init__(self, parser: BlockParser, md: Markdown) -> None:
        super().__init__(parser)
        self.md = md

    def test(self, parent: etree.Element, block: str) -> bool:
        return block.lstrip().startswith("$$")

    def run(self, parent: etree.Element, blocks: list[str]) -> bool:
        collected = []
        while blocks:
            block = blocks.pop(0)
            collected.append(block)
            if block.rstrip().endswith("$$") and len("\n\n".join(collected).strip()) > 2:
                break
        else:
            blocks[:0] = collected  # no closing $$: leave the text as it is
            return False
        latex = "\n\n".join(collected).strip()[2:-2]
        div = etree.SubElement(parent, "div", {"class": "maths-display"})
        div.text = self.md.htmlStash.store(to_mathml(latex, display=True))
        return True


class MathsExtension(Extension):
    """Register :class:`InlineMath` (before escapes and emphasis) and :class:`DisplayMath`."""

    def extendMarkdown(self, md: Markdown) -> None:
        # Backticks (190) run first, so code keeps its $; escapes (180) run later, so
        # LaTeX's backslashes reach the converter intact.
        md.inlinePatterns.register(InlineMath(INLINE, md), "maths-inline", 185)
        md.parser.blockprocessors.register(DisplayMath(md.parser, md), "maths-display", 105)


@event_priority(100)  # before mkdocstrings copies the extension list
def on_config(config: MkDocsConfig, **kwargs: Any) -> MkDocsConfig:
    """Add :class:`MathsExtension` to the site's Markdown extensions."""
    config.markdown_extensions.append(MathsExtension())  # type: ignore[arg-type]
    return config
