"""Which skeleton layout ragged data is on: from a name, joint names or the joint count.

Shared by :class:`~aimclr.data.ragged.RaggedSkeletons` and
:func:`~aimclr.data.ragged.load_npz`; joint names are compared ignoring case and
separators (``"SpineBase"`` equals ``"spine_base"``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from aimclr.errors import AimCLRError, AimCLRWarning
from aimclr.graph import LAYOUTS, NTU_RGBD, SkeletonLayout, get_layout


def name_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def layout_from_names(names: Sequence[str]) -> SkeletonLayout | None:
    """The first built-in layout whose joint names equal ``names`` in order, if any."""
    if not names:
        return None
    wanted = [name_key(n) for n in names]
    for layout in LAYOUTS.values():
        if [name_key(n) for n in layout.joint_names] == wanted:
            return layout
    return None


def default_layout(num_joints: int, names: Sequence[str]) -> SkeletonLayout | None:
    """The layout of data that does not name one: by joint names, else NTU for V = 25."""
    by_names = layout_from_names(names)
    if by_names is not None:
        return by_names
    return NTU_RGBD if num_joints == NTU_RGBD.num_joints and not names else None


def warn_if_names_differ(layout: SkeletonLayout, names: Sequence[str], source: str) -> None:
    if not names or not layout.joint_names:
        return
    differ = [j for j, (a, b) in enumerate(zip(names, layout.joint_names, strict=True))
              if name_key(a) != name_key(b)]
    if differ:
        shown = ", ".join(f"{j}: {names[j]!r} vs {layout.joint_names[j]!r}" for j in differ[:5])
        warnings.warn(
            f"{source}: {len(differ)} joint names differ from layout {layout.name!r} "
            f"({shown}); if the joints are stored in another order, pass a SkeletonLayout "
            "that describes them",
            AimCLRWarning,
            stacklevel=3,
        )


def resolve_layout(
    declared: str | None,
    given: str | SkeletonLayout | None,
    names: tuple[str, ...],
    num_joints: int,
    source: str,
) -> SkeletonLayout | None:
    if given is not None:
        chosen = get_layout(given)
        known = None if declared is None else LAYOUTS.get(declared)
        if known is not None and known.name != chosen.name and (
            known.num_joints != chosen.num_joints or known.joint_names != chosen.joint_names
        ):
            raise AimCLRError(
                f"{source} declares layout {declared!r}, but layout={chosen.name!r} was "
                f"passed; to convert the joints, load without layout= and call "
                f".to_layout({chosen.name!r})"
            )
        return chosen
    if declared is not None:
        try:
            return get_layout(declared)
        except AimCLRError:
            by_names = layout_from_names(names)
            if by_names is None:
                raise AimCLRError(
                    f"{source} declares layout {declared!r} ({num_joints} joints), which is "
                    f"not built in (built-in layouts: {sorted(LAYOUTS)}) and whose joint "
                    "names match none of them; describe it and pass it: load_npz(path, "
                    "layout=SkeletonLayout.from_edges(name, num_joints, edges, center, "
                    "flip_pairs, joint_names=..., shoulders=(left, right)))"
                ) from None
            warnings.warn(
                f"{source} declares layout {declared!r}, which is not built in; its joint "
                f"names equal those of {by_names.name!r} in order, so that layout is used",
                AimCLRWarning,
                stacklevel=3,
            )
            return by_names
    chosen_or_none = default_layout(num_joints, names)
    why = (
        f"so {chosen_or_none.name!r} is assumed ("
        + ("its joint names match" if names else f"it has {num_joints} joints") + ")"
        if chosen_or_none is not None
        else "and none is assumed: pass layout= here, or explicit joints to to_array"
    )
    warnings.warn(
        f"{source} has no 'layout' key naming its skeleton, {why}", AimCLRWarning, stacklevel=3
    )
    return chosen_or_none
