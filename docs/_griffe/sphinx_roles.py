"""Griffe extension used by the docs build: Sphinx roles in docstrings become links.

The aimclr docstrings refer to other objects with Sphinx roles such as
``:class:`~aimclr.nn.STGCN``` or ``:meth:`features```. Markdown has no such syntax,
so this extension rewrites every role (and turns ``Example:`` into the
``Examples:`` section that griffe parses) before mkdocstrings renders the docstring:

* a target found in the ``aimclr`` package becomes an autorefs cross-reference
  ``[`STGCN`][aimclr.nn.stgcn.STGCN]`` to its canonical (documented) path, which
  ``mkdocs build --strict`` then checks;
* anything else (``torch.Generator``, private helpers) becomes inline code.

A leading ``~`` shows only the last name component, as in Sphinx. Names are looked
up in the scope of the documented object (its imports and parents), then as
``Class.member`` of the object's class, then by a unique dotted suffix anywhere in
the package.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# Google style allows "Example:" as well as "Examples:", but griffe only parses the
# plural as a section (the singular becomes an admonition whose ">>>" lines render as
# block quotes).
EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|data|attr|exc|obj|const):`(!?~?)([^`<>]+)`")
PACKAGE = "aimclr"


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if member.is_alias:
            continue
        found.extend(_walk(member))  # type: ignore[arg-type]
    return found


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx cross-reference roles into Markdown the site can render."""

    def on_package(self, *, pkg: griffe.Module, loader: Any, **kwargs: Any) -> None:
        if pkg.name != PACKAGE:
            return
        self.package = pkg
        objects = _walk(pkg)
        self.public = {o.path: o for o in objects if not _private(o.path)}
        for obj in objects:
            if obj.docstring is not None:
                text = EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
                obj.docstring.value = ROLE.sub(lambda m, o=obj: self._replace(m, o), text)

    def _replace(self, match: re.Match[str], obj: griffe.Object) -> str:
        flags, name = match.group(2), match.group(3).strip()
        shown = name.rsplit(".", 1)[-1] if "~" in flags else name
        path = self._resolve(name, obj)
        if path is None:
            return f"`{shown}`"
        return f"[`{shown}`][{path}]"

    def _resolve(self, name: str, obj: griffe.Object) -> str | None:
        candidates = []
        if name.startswith(PACKAGE + ".") or name == PACKAGE:
            candidates.append(name)
        head, _, rest = name.partition(".")
        scope: griffe.Object | None = obj
        while scope is not None:
            try:
                base = scope.resolve(head)
            except Exception:  # griffe raises NameResolutionError, or KeyError on aliases
                base = None
            if base:
                candidates.append(base + ("." + rest if rest else ""))
                break
            scope = scope.parent
        for candidate in candidates:
            path = self._canonical(candidate)
            if path is not None:
                return path
        suffix = "." + name
        matches = [p for p in self.public if p.endswith(suffix)]
        return matches[0] if len(matches) == 1 else None

    def _canonical(self, path: str) -> str | None:
        if not path.startswith(PACKAGE):
            return None
        try:
            target = self.package[path[len(PACKAGE) + 1 :]] if path != PACKAGE else self.package
            canonical = target.final_target.path if target.is_alias else target.path
        except Exception:  # unresolvable alias or missing member
            return None
        obj = self.public.get(canonical)
        if obj is None:
            return None
        if obj.is_module or obj.has_docstrings:
            return canonical
        # Undocumented members (dataclass fields, plain attributes) are not rendered;
        # link to the class that describes them in its Attributes section instead.
        parent = obj.parent
        if parent is not None and parent.is_class and parent.path in self.public:
            return parent.path
        return None


def _private(path: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in path.split("."))
